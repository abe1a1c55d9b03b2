"""agent.expect.expression."""
