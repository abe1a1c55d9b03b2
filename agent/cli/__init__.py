"""agent.cli.main."""
