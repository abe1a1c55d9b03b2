"""agent.probe."""
