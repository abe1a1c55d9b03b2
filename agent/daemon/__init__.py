"""agent.daemon.lifecycle."""
