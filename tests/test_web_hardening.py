"""The daemon's HTTP server against odd clients: bytes that are not UTF-8 in the credentials get a 401,
never a 500; the JSON API tells browsers not to sniff its content type."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.daemon_helpers import config, http_journey, running_daemon
from tests.targets import Seen

TOKEN = "s3cret-token"


async def raw_get(base: str, path: str, header: bytes) -> tuple[int, bytes]:
    """GET `path` with one header line written as raw bytes; the status code and the whole answer."""
    url = URL(base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]), answer


HEADERS = [
    b"Authorization: Bearer \xff\xfe\x80",
    b"Authorization: Bearer s3cret-token\xe9",
    b"Authorization: \xc3\x28",
    b"Cookie: journeyprobe_token=\xff\xfe",
    b"Cookie: journeyprobe_token=s3cret-\xe9token",
    b"Cookie: \xff=\xfe; journeyprobe_token=x",
]
PATHS = ["/api/v1/journeys", "/metrics", "/", "/journeys/quick"]


async def test_credentials_that_are_not_utf8_get_401(tmp_path: Path, target: tuple[str, Seen],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    url, _ = target
    (tmp_path / "ok.yaml").write_text(http_journey("quick", f"{url}/json", interval="1h"))
    cfg = config(tmp_path, server={"listen": "127.0.0.1:0", "token": TOKEN})
    caplog.set_level(logging.ERROR)
    async with running_daemon(cfg, [str(tmp_path / "ok.yaml")]) as daemon:
        for path in PATHS:
            for header in HEADERS:
                status, answer = await raw_get(daemon.base_url, path, header)
                assert status == 401, (path, header, answer[:300])
            # /readyz answers probes without the token: a bad one gets the bare readiness, nothing more
            status, answer = await raw_get(daemon.base_url, "/readyz", header)
            assert status == 200 and answer.endswith(b'{"ready": true}'), (header, answer[:300])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


async def test_the_json_api_says_nosniff(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    (tmp_path / "ok.yaml").write_text(http_journey("quick", f"{url}/json", interval="1h"))
    cfg = config(tmp_path, server={"listen": "127.0.0.1:0", "token": TOKEN})
    async with running_daemon(cfg, [str(tmp_path / "ok.yaml")]) as daemon, aiohttp.ClientSession() as session:
        for path, token in (("/api/v1/journeys", TOKEN), ("/api/v1/slos", TOKEN), ("/readyz", TOKEN),
                            ("/api/v1/journeys/nope/runs", TOKEN), ("/api/v1/journeys", "wrong")):
            async with session.get(daemon.base_url + path, headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.content_type == "application/json", path
                assert response.headers.get("X-Content-Type-Options") == "nosniff", path


async def test_a_sign_in_with_bytes_that_are_not_utf8_gets_401(tmp_path: Path, target: tuple[str, Seen],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    url, _ = target
    (tmp_path / "ok.yaml").write_text(http_journey("quick", f"{url}/json", interval="1h"))
    cfg = config(tmp_path, server={"listen": "127.0.0.1:0", "token": TOKEN})
    caplog.set_level(logging.ERROR)
    async with running_daemon(cfg, [str(tmp_path / "ok.yaml")]) as daemon, aiohttp.ClientSession() as session:
        for body in (b"token=%FF%FE", b"token=\xff\xfe", b"token=s3cret-token%E9", b"\xff\xfe=x"):
            async with session.post(f"{daemon.base_url}/login", data=body,
                                    headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
                assert response.status == 401, (body, await response.text())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
