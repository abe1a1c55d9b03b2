"""journeyprobe: a synthetic probe agent for customer journeys."""

__version__ = "0.1.0"
