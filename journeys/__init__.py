"""`agent.examples`: the example journeys (this folder), shipped inside the package.

`journeyprobe demo` runs them, from a checkout and from an installed wheel alike."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_journeys_dir() -> Path:
    """The folder holding the example journey files (a real folder: setuptools installs them as files)."""
    return Path(str(files(__name__)))
