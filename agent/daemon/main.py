"""Entry points of the long-running modes: `journeyprobe run` and `journeyprobe demo`."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine, Sequence
from typing import Any

from agent.config.models import AgentConfig
from agent.examples import bundled_journeys_dir

log = logging.getLogger("journeyprobe")


EXIT_RESULTS_LOST = 1  # stopped, but some results could not be written to the store (docs/cli.md)


async def serve(config: AgentConfig, paths: Sequence[str] | None, *, on_ready: object = None) -> int:
    """Run the daemon until SIGTERM or SIGINT; 0, or EXIT_RESULTS_LOST when results could not be stored."""
    from agent.daemon.lifecycle import Daemon

    daemon = Daemon(config, paths or None)
    await daemon.start()
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

    shop_runner, shop_url = await start_shop("127.0.0.1", shop_port)
    os.environ["SHOP_URL"] = shop_url

    def announce(daemon: object) -> None:
        base = getattr(daemon, "base_url", "")
        print(f"\n  demo shop:      {shop_url}/   (faults: {shop_url}/_faults/ui)\n"
              f"  status page:    {base}/\n  API:            {base}/api/v1/journeys\n"
              f"  metrics:        {base}/metrics\n  store:          {config.storage.path}\n"
              f"  switch a fault: curl -X POST {shop_url}/_faults -d '{{\"area\": \"cart\", \"mode\": \"wrong\"}}'\n"
              "  Ctrl-C stops.\n", flush=True)

    try:
        return await serve(config, [str(bundled_journeys_dir())], on_ready=announce)
    finally:
        await shop_runner.cleanup()


def run_forever(coro: Coroutine[Any, Any, int]) -> int:
    """Run `serve` or `demo`; their exit code (0 after a clean stop)."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        return 0
