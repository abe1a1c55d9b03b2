"""agent.core."""
