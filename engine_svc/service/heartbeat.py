"""The engine's heartbeat (mesh.engine_heartbeat), beaten only while the engine's loop turns.

The loop calls `turned()` on every turn (a flag: nothing per command), and at least every half
second when idle. `run` beats every BEAT_EVERY_S if the loop turned since the last beat. So a
loop stuck on an await that never returns, or in code that never yields, stops the beats as
surely as a dead process does, and the key expires ENGINE_HEARTBEAT_TIMEOUT_MS later. It starts
once the engine is ready (recovered, groups made): a recovering engine answers nothing yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis

from mesh import engine_heartbeat, streams

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, client: aioredis.Redis, timeout_ms: int) -> None:
        self.client = client
        self.timeout_ms = timeout_ms
        self.beats = 0
        self._turned = False

    def turned(self) -> None:
        self._turned = True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self._turned:
                self._turned = False
                await self._beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), engine_heartbeat.BEAT_EVERY_S)

    async def _beat(self) -> None:
        try:
            await engine_heartbeat.beat(self.client, self.timeout_ms)
        except streams.REDIS_ERRORS as exc:  # Redis away: the gateways see that for themselves
            log.debug("engine heartbeat: redis unavailable (%s)", exc)
            return
        except Exception as exc:  # a heartbeat must never stop the engine
            log.warning("engine heartbeat failed (%s)", exc)
            return
        self.beats += 1
