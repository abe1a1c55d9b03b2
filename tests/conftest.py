from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agent.core import redaction
from agent.journey.model import Journey
from tests.targets import Seen, serve, target_app

os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="jp-xdg-"))


@pytest.fixture(autouse=True)
def _no_secrets_known_yet() -> Iterator[None]:
    """Each test starts with no secret known: the redactor's registry is process-wide."""
    redaction.REGISTRY.clear()
    yield


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    async with serve(target_app(seen)) as url:
        yield url, seen


def journey(steps: list[dict[str, Any]], **extra: Any) -> Journey:
    """A journey built in code, as the loader would build it from YAML."""
    return Journey.model_validate({"name": extra.pop("name", "test"), "steps": steps, **extra})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
