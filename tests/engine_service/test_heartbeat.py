"""The engine's heartbeat (mesh.engine_heartbeat): a real engine beats it while it runs, a frozen
one lets it expire, and only a loop that turns keeps it beating."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import redis

from engine_svc.service.heartbeat import Heartbeat
from mesh import engine_heartbeat, streams
from tests.engine_service.engine_process import EngineProcess
from tests.polling import poll

TIMEOUT_MS = 2000  # the least ENGINE_HEARTBEAT_TIMEOUT_MS allows


def test_a_running_engine_beats_and_a_frozen_one_lets_the_heartbeat_expire(
    redis_url: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    engine = EngineProcess(redis_url, tmp_path, {"ENGINE_HEARTBEAT_TIMEOUT_MS": str(TIMEOUT_MS)})
    engine.start()
    assert engine.process is not None
    try:
        poll(lambda: client.exists(engine_heartbeat.KEY), timeout_s=5, what="the first beat")
        assert 0 < client.pttl(engine_heartbeat.KEY) <= TIMEOUT_MS

        os.kill(engine.process.pid, signal.SIGSTOP)  # frozen: alive, and silent
        try:
            poll(
                lambda: client.exists(engine_heartbeat.KEY),
                lambda exists: not exists,
                timeout_s=TIMEOUT_MS / 1000 + 3,
                what="the heartbeat's expiry",
            )
        finally:
            os.kill(engine.process.pid, signal.SIGCONT)
        poll(lambda: client.exists(engine_heartbeat.KEY), timeout_s=5, what="a beat again")
    finally:
        assert engine.terminate() == 0
        client.close()


async def test_only_a_loop_that_turned_since_the_last_beat_is_beaten_for(redis_url: str) -> None:
    client = streams.connect(redis_url)
    heartbeat = Heartbeat(client, TIMEOUT_MS)
    stop = asyncio.Event()
    beating = asyncio.create_task(heartbeat.run(stop))
    try:
        await asyncio.sleep(2.5 * engine_heartbeat.BEAT_EVERY_S)  # the loop never turned
        assert heartbeat.beats == 0
        assert not await engine_heartbeat.alive(client)

        heartbeat.turned()
        await asyncio.sleep(1.5 * engine_heartbeat.BEAT_EVERY_S)
        assert heartbeat.beats == 1  # one turn, one beat: a stuck loop gets no more
        assert await engine_heartbeat.alive(client)
    finally:
        stop.set()
        await beating
        await client.aclose()
