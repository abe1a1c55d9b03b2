"""agent.web."""
