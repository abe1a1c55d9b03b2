"""The long-running agent: the composition root, the lifecycle, the scheduler, the SLO service, logs."""
