"""The agent's own config, `agent.yaml`: models, loading with FILE:LINE problems, environment overrides, sharding."""
