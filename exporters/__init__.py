"""Sinks that send journeyprobe results out of the agent."""
