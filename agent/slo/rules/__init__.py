"""agent.slo.rules.prometheus."""
