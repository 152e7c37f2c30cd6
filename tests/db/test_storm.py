"""A test-sized liquidation storm through the event persister, with the rate it reached.

The target (issue 11): 100,000 liquidations in Postgres within 10 s of the price move, so at
least 15,000 events a second written. Run with -s to see the figure; the assertion is on the
rows, since the rate depends on what else the machine is doing.
"""

from __future__ import annotations

import time

from exchange.v1 import events_pb2

from gateway_svc.db import Database
from gateway_svc.ledger.persister import EventPersister
from mesh.streams import EVENT_GROUP, EVENTS, PAYLOAD, connect
from tests.db.factories import closed, opened
from tests.db.helpers import count, running, wait_until

POSITIONS = 10_000


async def test_a_storm_of_liquidations_lands_once_each(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    for first in range(0, POSITIONS, 2_000):
        await db.record_trade_events(
            [opened(i + 1, f"t{i}", user_id=f"u{i % 100}") for i in range(first, first + 2_000)]
        )
    liquidated = events_pb2.TRADE_EVENT_KIND_LIQUIDATED
    async with client.pipeline(transaction=False) as pipe:
        for i in range(POSITIONS):
            event = closed(POSITIONS + i + 1, f"t{i}", f"u{i % 100}", kind=liquidated, order_id="")
            pipe.xadd(EVENTS, {PAYLOAD: event.SerializeToString()})
        await pipe.execute()

    persister = EventPersister(client, db, "ledger-storm", block_ms=50)
    started = time.perf_counter()
    async with running(persister):
        await wait_until(lambda: persister.acked == POSITIONS, timeout_s=120)
    seconds = time.perf_counter() - started
    print(f"\nstorm: {POSITIONS:,} liquidations in {seconds:.2f}s, {POSITIONS / seconds:,.0f}/s")

    assert persister.written == POSITIONS and persister.dead_lettered == 0
    assert count(migrated_url, "SELECT count(*) FROM trades WHERE status = 'LIQUIDATED'") == (
        POSITIONS
    )
    assert count(migrated_url, "SELECT count(*) FROM trade_events") == 2 * POSITIONS
    assert (await client.xpending(EVENTS, EVENT_GROUP))["pending"] == 0
    await client.aclose()
