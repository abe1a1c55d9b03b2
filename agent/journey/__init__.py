"""agent.journey."""
