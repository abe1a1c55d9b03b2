"""The status page of the daemon (`GET /`) and the `report` command: SLOs a product owner reads."""
