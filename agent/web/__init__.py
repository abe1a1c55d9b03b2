"""The daemon's HTTP server: health, the JSON API, /metrics and the status page."""
