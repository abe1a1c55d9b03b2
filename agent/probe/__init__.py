"""Running a journey once: the runner, the run's context, step executors (HTTP, browser, script) and results."""
