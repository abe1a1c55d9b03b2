"""The embedded SQLite store: runs, per-minute SLO counts and alert state, written off the event loop."""
