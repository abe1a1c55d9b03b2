"""Entry points of the long-running modes: `journeyprobe run` and `journeyprobe demo`."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from collections.abc import Coroutine, Sequence
from typing import Any

from agent.config.models import AgentConfig
from agent.examples import bundled_journeys_dir

log = logging.getLogger("journeyprobe")
LISTEN_HINT = "set server.listen in agent.yaml or JOURNEYPROBE_SERVER_LISTEN (port 0 picks a free one)"


EXIT_RESULTS_LOST = 1  # stopped, but some results could not be written to the store (docs/cli.md)


class PortInUseError(OSError):
    """A port the agent or the demo shop must listen on is taken; str() says which and what changes it."""

    def __init__(self, host: str, port: int, hint: str) -> None:
        super().__init__(errno.EADDRINUSE, f"{host}:{port} is already in use (another journeyprobe?): {hint}")

    def __str__(self) -> str:
        return str(self.strerror)


def ensure_free(host: str, port: int, hint: str) -> None:
    """Fail before starting anything when the port is taken (bound as aiohttp binds: with SO_REUSEADDR)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # the server's own bind reports an unknown host
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUseError(host, port, hint) from None


async def serve(config: AgentConfig, paths: Sequence[str] | None, *, on_ready: object = None,
                listen_hint: str = LISTEN_HINT) -> int:
    """Run the daemon until SIGTERM or SIGINT; 0, or EXIT_RESULTS_LOST when results could not be stored."""
    from agent.daemon.lifecycle import Daemon

    host, port = config.server.host_port
    ensure_free(host, port, listen_hint)
    daemon = Daemon(config, paths or None)
    try:
        await daemon.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:  # taken between the check and the bind
            raise PortInUseError(host, port, listen_hint) from None
        raise
    daemon.install_signal_handlers()
    if callable(on_ready):
        on_ready(daemon)
    try:
        await daemon.wait_stopped()
    finally:
        await daemon.stop()
    store = daemon.state.store
    if store is not None and store.unwritten:
        log.error("journeyprobe stopped: %d results could not be written to the result store %s "
                  "(see the store's error above: a full disk?)", store.unwritten, store.path)
        return EXIT_RESULTS_LOST
    return 0


async def demo(config: AgentConfig, shop_port: int) -> int:
    """The demo shop and the daemon with the example journeys, together on loopback."""
    from agent.demo.shop import start_shop

    host, port = config.server.host_port
    ensure_free(host, port, "choose another with --port (0 picks a free one)")
    shop_hint = "choose another with --shop-port (0 picks a free one)"
    ensure_free("127.0.0.1", shop_port, shop_hint)
    try:
        shop_runner, shop_url = await start_shop("127.0.0.1", shop_port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError("127.0.0.1", shop_port, shop_hint) from None
        raise
    os.environ["SHOP_URL"] = shop_url

    def announce(daemon: object) -> None:
        base = getattr(daemon, "base_url", "")
        print(f"\n  demo shop:      {shop_url}/   (faults: {shop_url}/_faults/ui)\n"
              f"  status page:    {base}/\n  API:            {base}/api/v1/journeys\n"
              f"  metrics:        {base}/metrics\n  store:          {config.storage.path}\n"
              f"  switch a fault: curl -X POST {shop_url}/_faults -d '{{\"area\": \"cart\", \"mode\": \"wrong\"}}'\n"
              "  Ctrl-C stops.\n", flush=True)

    try:
        return await serve(config, [str(bundled_journeys_dir())], on_ready=announce,
                           listen_hint="choose another with --port (0 picks a free one)")
    finally:
        await shop_runner.cleanup()


def run_forever(coro: Coroutine[Any, Any, int]) -> int:
    """Run `serve` or `demo`; their exit code (0 after a clean stop)."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        return 0
