"""What every layer shares: durations and sizes, the injected clock, the names of the telemetry contract."""
