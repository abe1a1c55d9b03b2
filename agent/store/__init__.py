"""agent.store.sqlite."""
