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


async def read(answers: Seen, events: Seen, of_a: int, of_b: int) -> None:
    await poll_async(
        lambda: (len(answers.values), len(events.values)),
        lambda seen: seen == (of_a, of_b),
        timeout_s=10,
        what=f"{of_a} entries of tail:a and {of_b} of tail:b",
    )


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
        await read(answers, events, 2, 1)
        assert await kill_connections(redis_url) >= 1  # the tail's blocking read among them
        writer = aioredis.Redis.from_url(redis_url)  # the fixture's connection was closed too
        try:
            await add(writer, "tail:b", "b2", "b3")  # while the tail reconnects
            await add(writer, "tail:a", "a3")
        finally:
            await writer.aclose()
        await read(answers, events, 3, 3)  # a3, b2 and b3, after the reconnect
        await asyncio.sleep(0.3)  # nothing more comes: no entry was read twice
        assert answers.values == [b"a1", b"a2", b"a3"]
        assert events.values == [b"b1", b"b2", b"b3"]
        with pytest.raises(RuntimeError, match="before the tail starts"):
            tail.follow("tail:c", Seen())
    finally:
        await tail.stop()


async def test_stop_does_not_wait_out_the_blocked_read(redis: aioredis.Redis) -> None:
    """A stopping gateway does not sit out its tails' XREAD blocks: stop() ends a read that
    would block for a minute, and the entries already read stay read."""
    answers = Seen()
    tail = StreamTail(redis, "tail:a", answers, name="test tail", block_ms=60_000)
    await tail.start()
    await add(redis, "tail:a", "a1")
    await read(answers, Seen(), 1, 0)
    await asyncio.sleep(0.1)  # the next XREAD is blocked now
    await asyncio.wait_for(tail.stop(), timeout=10)
    assert answers.values == [b"a1"]
