"""Pure SLO logic: verdicts, windows, budgets, burn rates, alert state, wording; `rules` writes Prometheus/OpenSLO."""
