"""Service level objectives: indicators, windows, error budgets, burn rates and alerts."""
