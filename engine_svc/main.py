"""`exchange engine`: the engine process on its own."""

from __future__ import annotations

import logging

import uvloop

from engine_svc.service.runner import EngineService
from mesh import logs
from mesh.config import load_settings, required
from mesh.signals import stop_event_on_signals

log = logging.getLogger(__name__)


async def _run() -> None:
    settings = load_settings(need_secrets=False)
    (redis_url,) = required("engine", REDIS_URL=settings.redis_url)
    stop = stop_event_on_signals()
    await EngineService(settings, redis_url).run(stop)


def main() -> int:
    logs.setup("engine")
    # uvloop: the loop's own work per read and per write (several per batch) costs a third of
    # asyncio's, on the engine's one busy core.
    uvloop.run(_run())
    log.info("engine stopped cleanly")
    return 0
