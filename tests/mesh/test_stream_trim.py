"""mesh.stream_trim against a real Redis: only what every consumer group has acked, and what is
older than the recent window kept for readers without a group, goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from mesh.resp import RespConnection
from mesh.stream_trim import keep_trimmed, oldest_needed, trim_consumed

ENTRIES = 1_000  # XTRIM ~ removes whole nodes of 100 entries: enough to see it work
NO_WINDOW = 0  # the recent window off, so entries made a moment ago can go


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


@pytest.fixture
async def conn(redis_url: str) -> AsyncIterator[RespConnection]:
    connection = RespConnection(redis_url)
    yield connection
    connection.close()


async def _fill(client: aioredis.Redis, stream: str, entries: int = ENTRIES) -> list[bytes]:
    async with client.pipeline(transaction=False) as pipe:
        for n in range(entries):
            pipe.xadd(stream, {b"p": str(n).encode()})
        return list(await pipe.execute())


async def _consume(client: aioredis.Redis, stream: str, group: str, count: int, ack: bool) -> None:
    read = await client.xreadgroup(group, "c1", {stream: ">"}, count=count)
    ids = [entry_id for _, entries in read for entry_id, _ in entries]
    assert len(ids) == count
    if ack:
        await client.xack(stream, group, *ids)


async def test_a_stream_without_groups_or_without_entries_is_left_alone(
    client: aioredis.Redis, conn: RespConnection
) -> None:
    assert await trim_consumed(conn, "no-such-stream", NO_WINDOW) == 0
    await _fill(client, "plain")
    assert await oldest_needed(conn, "plain") is None
    assert await trim_consumed(conn, "plain", NO_WINDOW) == 0
    assert await client.xlen("plain") == ENTRIES


async def test_the_slowest_group_and_its_oldest_pending_entry_bound_the_trim(
    client: aioredis.Redis, conn: RespConnection
) -> None:
    ids = await _fill(client, "s")
    await client.xgroup_create("s", "fast", id="0")
    await client.xgroup_create("s", "slow", id="0")
    await _consume(client, "s", "fast", ENTRIES, ack=True)
    # "slow" was handed 600 entries and acked the first 300 only: entry 300 is still needed.
    await _consume(client, "s", "slow", 300, ack=True)
    await _consume(client, "s", "slow", 300, ack=False)
    assert await oldest_needed(conn, "s") == ids[300]

    trimmed = await trim_consumed(conn, "s", NO_WINDOW)

    first = (await client.xrange("s", count=1))[0][0]
    assert 0 < trimmed <= 300
    assert await client.xlen("s") == ENTRIES - trimmed
    assert first <= ids[300]  # nothing a group still needs is gone
    pending = await client.xpending_range("s", "slow", min="-", max="+", count=ENTRIES)
    assert [p["message_id"] for p in pending] == ids[300:600]


async def test_once_every_group_has_acked_everything_only_the_newest_entries_stay(
    client: aioredis.Redis, conn: RespConnection
) -> None:
    ids = await _fill(client, "s")
    await client.xgroup_create("s", "g", id="0")
    await _consume(client, "s", "g", ENTRIES, ack=True)
    assert await oldest_needed(conn, "s") == ids[-1]

    await trim_consumed(conn, "s", NO_WINDOW)

    assert await client.xlen("s") <= 100  # the node of the newest entry at most
    assert (await client.xrevrange("s", count=1))[0][0] == ids[-1]


async def test_keep_trimmed_trims_until_stopped(client: aioredis.Redis, redis_url: str) -> None:
    await _fill(client, "s")
    await client.xgroup_create("s", "g", id="0")
    await _consume(client, "s", "g", ENTRIES, ack=True)
    stop = asyncio.Event()
    task = asyncio.create_task(keep_trimmed(redis_url, stop, {"s": NO_WINDOW}, every_s=0.05))
    try:
        for _ in range(100):
            if await client.xlen("s") <= 100:
                break
            await asyncio.sleep(0.05)
        assert await client.xlen("s") <= 100
    finally:
        stop.set()
        await asyncio.wait_for(task, 2.0)
    assert task.done() and task.exception() is None


async def test_entries_younger_than_the_window_stay_for_readers_without_a_group(
    client: aioredis.Redis, conn: RespConnection
) -> None:
    await _fill(client, "s")
    await client.xgroup_create("s", "g", id="0")
    await _consume(client, "s", "g", ENTRIES, ack=True)

    assert await trim_consumed(conn, "s", keep_recent_ms=60_000) == 0
    assert await client.xlen("s") == ENTRIES


async def test_a_large_backlog_goes_in_one_round(
    client: aioredis.Redis, conn: RespConnection
) -> None:
    """Past XTRIM's own default limit for `~` (100 nodes: 10,000 entries)."""
    entries = 30_000
    await _fill(client, "s", entries)
    await client.xgroup_create("s", "g", id="$")  # handed nothing, and needs none of these

    assert await trim_consumed(conn, "s", NO_WINDOW) >= entries - 100
