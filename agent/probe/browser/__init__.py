"""agent.probe.browser."""
