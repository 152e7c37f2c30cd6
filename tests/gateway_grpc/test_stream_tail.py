"""StreamTail on the real Redis, following two streams in one XREAD (the engine client's
answers and the trade events): each stream's entries reach its own handler in order, from the
streams' ends at start, and a dropped connection loses and repeats nothing of either."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway_svc.engine_client import Fields, StreamTail
from tests.polling import poll_async
from tests.redis_admin import kill_connections


class Seen:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def __call__(self, entry_id: bytes, fields: Fields) -> None:
        self.values.append(fields[b"v"])


async def add(redis: aioredis.Redis, stream: str, *values: str) -> None:
    for value in values:
        await redis.xadd(stream, {"v": value})


async def test_two_streams_in_one_tail_each_reach_their_own_handler(
    redis: aioredis.Redis, redis_url: str
) -> None:
    answers, events = Seen(), Seen()
    await add(redis, "tail:a", "before")  # before the start: not read
    await add(redis, "tail:b", "before")
    tail = StreamTail(redis, "tail:a", answers, name="test tail", block_ms=100)
    tail.follow("tail:b", events)
    await tail.start()
    try:
        assert tail.ready.is_set()
        await add(redis, "tail:a", "a1")
        await add(redis, "tail:b", "b1")
        await add(redis, "tail:a", "a2")
        await poll_async(
            lambda: (answers.values, events.values),
            lambda seen: len(seen[0]) == 2 and len(seen[1]) == 1,
            timeout_s=5,
            what="a1, a2 and b1",
        )
        assert await kill_connections(redis_url) >= 1  # the tail's blocking read among them
        await add(redis, "tail:b", "b2", "b3")  # while it reconnects
        await add(redis, "tail:a", "a3")
        await poll_async(
            lambda: (answers.values, events.values),
            lambda seen: len(seen[0]) == 3 and len(seen[1]) == 3,
            timeout_s=10,
            what="a3, b2 and b3 after the reconnect",
        )
        await asyncio.sleep(0.3)  # nothing more comes: no entry was read twice
        assert answers.values == [b"a1", b"a2", b"a3"]
        assert events.values == [b"b1", b"b2", b"b3"]
        with pytest.raises(RuntimeError, match="before the tail starts"):
            tail.follow("tail:c", Seen())
    finally:
        await tail.stop()
