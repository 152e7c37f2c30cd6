"""The engine's heartbeat: proof that its loop still turns, one Redis key, cheap to ask for.

The engine (engine_svc.service.heartbeat) sets KEY every BEAT_EVERY_S while its loop turns, with
a time to live of ENGINE_HEARTBEAT_TIMEOUT_MS: the key exists exactly while the engine has shown
life within that time. Redis counts the time, so no two hosts' clocks are compared. Nothing else
the engine writes would do: it publishes only when it has inputs, and an idle exchange is not a
dead one. The gateway's health asks whether the key exists (gateway_svc.dependency_health): an
engine frozen, dead or still recovering makes it NOT_SERVING, and /healthz 503 naming the engine.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

KEY = "engine:heartbeat"
"""Its value is the engine's wall time at the beat (ms since the epoch), for a person to read."""
BEAT_EVERY_S = 1.0


async def beat(client: aioredis.Redis, timeout_ms: int) -> None:
    await client.set(KEY, str(time.time_ns() // 1_000_000), px=timeout_ms)


async def alive(client: aioredis.Redis) -> bool:
    """True while the engine has beaten within its timeout."""
    return bool(await client.exists(KEY))
