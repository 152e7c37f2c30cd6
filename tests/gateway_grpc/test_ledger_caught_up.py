"""LedgerCaughtUp on the real Redis: a list read waits until the ledger's consumer group has
written (delivered and acknowledged) every entry its stream held when the read came, no
longer, and not for entries that came after; a stalled ledger is waited for once, not on every
read; without a ledger, or past the caller's deadline, it does not wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway_svc.ledger_caught_up import LedgerCaughtUp
from mesh.streams import entry_id_parts, group_has_done

STREAM, GROUP = "events", "ledger"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    yield client
    await client.aclose()


async def deliver(redis: aioredis.Redis, consumer: str = "ledger-1") -> list[bytes]:
    """What a ledger writer reads (not yet acknowledged: not yet committed)."""
    reply = await redis.xreadgroup(GROUP, consumer, {STREAM: ">"})
    return [entry_id for entry_id, _ in reply[0][1]] if reply else []


def test_a_group_is_done_when_delivered_and_nothing_before_is_pending() -> None:
    target = entry_id_parts("100-1")
    assert group_has_done(target, b"100-1", None)
    assert group_has_done(target, "101-0", b"100-2")
    assert not group_has_done(target, "100-0", None)  # not delivered yet
    assert not group_has_done(target, "101-0", "100-1")  # delivered, not acknowledged
    assert not group_has_done(target, "101-0", "99-9")  # an older batch not acknowledged


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


async def test_an_older_batch_acknowledged_late_is_waited_for(redis: aioredis.Redis) -> None:
    """Two ledger consumers: the newer batch committed first, the older one still open."""
    await redis.xadd(STREAM, {"v": "1"})
    older = await deliver(redis, "ledger-1")
    await redis.xadd(STREAM, {"v": "2"})
    newer = await deliver(redis, "ledger-2")
    await redis.xack(STREAM, GROUP, *newer)
    waiting = asyncio.create_task(LedgerCaughtUp(redis, within_s=5).wait(STREAM, GROUP))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await redis.xack(STREAM, GROUP, *older)
    assert await asyncio.wait_for(waiting, 2) is True


async def test_a_stalled_ledger_is_waited_for_once_until_it_moves(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.xadd(STREAM, {"v": "1"})
    caught_up = LedgerCaughtUp(redis, within_s=0.3)
    assert await caught_up.wait(STREAM, GROUP) is False  # gave up: answered without it
    assert "had not written events" in caplog.text
    # Stalled: the next reads do not sit out the budget again (one look, then no wait),
    # however long it is.
    caught_up._within_s = 60.0  # a budget the test would notice being sat out
    assert await asyncio.wait_for(caught_up.wait(STREAM, GROUP), 20) is False
    # Once the ledger has written past the stall, reads wait for it again.
    await redis.xack(STREAM, GROUP, *await deliver(redis))
    await redis.xadd(STREAM, {"v": "2"})
    waiting = asyncio.create_task(caught_up.wait(STREAM, GROUP))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await redis.xack(STREAM, GROUP, *await deliver(redis))
    assert await asyncio.wait_for(waiting, 2) is True


async def test_no_ledger_or_no_time_left_means_no_wait(redis: aioredis.Redis) -> None:
    await redis.xadd("no_ledger", {"v": "1"})
    # No group: no ledger ever ran, and there is nothing to wait for (not the minute).
    no_ledger = LedgerCaughtUp(redis, within_s=60).wait("no_ledger", GROUP)
    assert await asyncio.wait_for(no_ledger, 20) is False
    await redis.xadd(STREAM, {"v": "1"})
    # A caller whose deadline is nearly up reads at once rather than miss it.
    near_deadline = LedgerCaughtUp(redis, within_s=60).wait(STREAM, GROUP, time_left_s=0.05)
    assert await asyncio.wait_for(near_deadline, 20) is False
