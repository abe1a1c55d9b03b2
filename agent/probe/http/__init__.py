"""HTTP steps: the request, the run's aiohttp session, and timing taken at the socket."""
