"""Lingering after a short batch (LEDGER_LINGER_MS), against real Redis and Postgres: entries
trickling in at low load share a few transactions, each still written exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from gateway_svc.db import Database
from gateway_svc.ledger.persister import EventPersister
from gateway_svc.ledger.stream_consumer import DeadLetter, Entry
from mesh.streams import EVENT_GROUP, EVENTS, PAYLOAD, connect, ensure_group
from tests.db.factories import opened
from tests.db.helpers import count, running, wait_until

ENTRIES = 10
GAP_S = 0.015  # 10 entries over ~135 ms: well inside one 200 ms linger window


class BatchRecorder(EventPersister):
    """The event persister, noting the entry ids of each batch it has written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[bytes]] = []

    async def write(self, entries: Sequence[Entry]) -> list[DeadLetter]:
        dead = await super().write(entries)
        self.batches.append([entry.id for entry in entries])
        return dead


def _stream_order(batch: list[bytes]) -> tuple[int, ...]:
    return tuple(int(part) for part in batch[0].split(b"-"))


async def _until_blocked_reading(client: aioredis.Redis, name: str) -> None:
    """Until the consumer's connection sits in a blocking XREADGROUP: from then on the first
    XADD wakes it with exactly that one entry."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        mine = [c for c in await client.client_list() if c["name"] == name]
        if any(c["cmd"] == "xreadgroup" and "b" in c["flags"] for c in mine):
            return
        assert loop.time() < deadline, "the consumer never waited for new entries"
        await asyncio.sleep(0.02)


async def _batches(redis_url: str, db: Database, migrated_url: str, linger_ms: int) -> list[int]:
    """Trickle ENTRIES events in while a consumer runs; the sizes of its batches, in order."""
    producer = connect(redis_url)
    await ensure_group(producer, EVENTS, EVENT_GROUP)
    name = f"linger-{uuid.uuid4().hex[:8]}"
    consumer_client = aioredis.Redis.from_url(redis_url, decode_responses=False, client_name=name)
    recorder = BatchRecorder(consumer_client, db, name, block_ms=1000, linger_ms=linger_ms)
    added = []
    async with running(recorder):
        # One entry first, so the trickle does not wait on a new pool connection or the
        # first statements' compilation (tens of ms on a busy machine: enough to gather it).
        await producer.xadd(EVENTS, {PAYLOAD: opened(1, "warm-up").SerializeToString()})
        await wait_until(lambda: recorder.acked == 1, timeout_s=30)
        recorder.batches.clear()
        await _until_blocked_reading(producer, name)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(1, ENTRIES + 1):
            payload = opened(1 + i, f"t{i}").SerializeToString()
            added.append(await producer.xadd(EVENTS, {PAYLOAD: payload}))
            # Paced from the start, so one slow XADD does not stretch the whole run.
            await asyncio.sleep(max(0.0, start + i * GAP_S - loop.time()))
        await wait_until(lambda: recorder.acked == 1 + ENTRIES, timeout_s=30)
    assert (await producer.xpending(EVENTS, EVENT_GROUP))["pending"] == 0
    written = [entry_id for batch in recorder.batches for entry_id in batch]
    assert sorted(written) == sorted(added), "every entry written exactly once"
    assert recorder.written == 1 + ENTRIES and recorder.dead_lettered == 0
    assert count(migrated_url, "SELECT count(*) FROM trade_events") == 1 + ENTRIES
    await consumer_client.aclose()
    await producer.aclose()
    return [len(batch) for batch in sorted(recorder.batches, key=_stream_order)]


async def test_lingering_gathers_a_trickle_into_few_batches(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    sizes = await _batches(redis_url, db, migrated_url, linger_ms=200)
    assert sizes[0] == 1, f"the first entry after idle waited for others: {sizes}"
    assert len(sizes) <= 3, f"one transaction per linger window expected, got {sizes}"


async def test_without_lingering_each_entry_is_its_own_batch(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    sizes = await _batches(redis_url, db, migrated_url, linger_ms=0)
    assert len(sizes) >= 5, f"linger_ms=0 gathered the trickle anyway: {sizes}"
