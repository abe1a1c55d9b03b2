"""agent.config.models."""
