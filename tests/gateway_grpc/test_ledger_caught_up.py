"""LedgerCaughtUp on the real Redis: a list read waits until the ledger's consumer group has
written (delivered and acknowledged) every entry its stream held when the read came, no
longer, and not for entries that came after; without a ledger it does not wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway_svc.ledger_caught_up import LedgerCaughtUp, stream_id

STREAM, GROUP = "events", "ledger"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    yield client
    await client.aclose()


async def deliver(redis: aioredis.Redis) -> list[bytes]:
    """What a ledger writer reads (not yet acknowledged: not yet committed)."""
    reply = await redis.xreadgroup(GROUP, "ledger-1", {STREAM: ">"})
    return [entry_id for entry_id, _ in reply[0][1]] if reply else []


def test_stream_ids_compare_as_numbers() -> None:
    assert stream_id(b"1700000000000-10") > stream_id("1700000000000-9")
    assert stream_id("99-0") < stream_id("100-0")


async def test_a_written_stream_is_not_waited_for(redis: aioredis.Redis) -> None:
    await redis.xadd(STREAM, {"v": "1"})
    await redis.xack(STREAM, GROUP, *await deliver(redis))
    assert await LedgerCaughtUp(redis, within_s=5).wait(STREAM, GROUP) is True
    assert await LedgerCaughtUp(redis, within_s=5).wait("empty", GROUP) is True


@pytest.mark.parametrize("delivered", [False, True])
async def test_an_entry_not_yet_acknowledged_is_waited_for(
    redis: aioredis.Redis, delivered: bool
) -> None:
    await redis.xadd(STREAM, {"v": "1"})
    held = await deliver(redis) if delivered else []
    waiting = asyncio.create_task(LedgerCaughtUp(redis, within_s=5).wait(STREAM, GROUP))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    held = held or await deliver(redis)
    await redis.xadd(STREAM, {"v": "2"})  # after the read came: not waited for
    await redis.xack(STREAM, GROUP, *held)
    assert await asyncio.wait_for(waiting, 2) is True


async def test_a_ledger_far_behind_or_absent_is_waited_for_only_so_long(
    redis: aioredis.Redis,
) -> None:
    await redis.xadd(STREAM, {"v": "1"})
    started = time.monotonic()
    assert await LedgerCaughtUp(redis, within_s=0.3).wait(STREAM, GROUP) is False
    assert time.monotonic() - started >= 0.3  # it did wait, then gave up
    await redis.xadd("no_ledger", {"v": "1"})
    # No group: no ledger ever ran, and there is nothing to wait for (not the minute).
    no_ledger = LedgerCaughtUp(redis, within_s=60).wait("no_ledger", GROUP)
    assert await asyncio.wait_for(no_ledger, 20) is False
