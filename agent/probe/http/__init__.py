"""agent.probe.http."""
