"""The event persister against real Redis and Postgres: drained, claimed, replayed, survived."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import redis
import redis.asyncio as aioredis

from gateway_svc.db import Database
from gateway_svc.ledger.persister import EventPersister
from mesh.embedded import EmbeddedRedis
from mesh.streams import EVENT_GROUP, EVENTS, PAYLOAD, connect, ensure_group
from tests.db.factories import closed, opened
from tests.db.helpers import count, running, wait_until

EVENTS_SQL = "SELECT count(*) FROM trade_events"
CLOSED_SQL = "SELECT count(*) FROM trades WHERE status = 'CLOSED'"


def _lifecycles(trades: int, first_seq: int = 1) -> list[bytes]:
    """OPENED then CLOSED for each trade, as the engine would publish them."""
    payloads = []
    for i in range(trades):
        seq = first_seq + 2 * i
        payloads.append(opened(seq, f"t{seq}").SerializeToString())
        payloads.append(closed(seq + 1, f"t{seq}").SerializeToString())
    return payloads


async def _publish(client: aioredis.Redis, payloads: list[bytes]) -> None:
    for payload in payloads:
        await client.xadd(EVENTS, {PAYLOAD: payload})


async def _pending(client: aioredis.Redis) -> int:
    return int((await client.xpending(EVENTS, EVENT_GROUP))["pending"])


def _persister(client: aioredis.Redis, db: Database, **kwargs: float) -> EventPersister:
    options = {"claim_idle_ms": 30_000, "block_ms": 50, **kwargs}
    return EventPersister(client, db, "gw-test", **options)  # type: ignore[arg-type]


async def test_drains_the_stream_into_rows(redis_url: str, db: Database, migrated_url: str) -> None:
    client = connect(redis_url)
    await _publish(client, _lifecycles(5))
    persister = _persister(client, db, batch_size=3)
    async with running(persister):
        await wait_until(lambda: persister.acked == 10)
    assert persister.written == 10 and persister.dead_lettered == 0
    assert count(migrated_url, EVENTS_SQL) == 10
    assert count(migrated_url, CLOSED_SQL) == 5
    assert await _pending(client) == 0
    await client.aclose()


async def test_claims_a_dead_consumers_entries_once_and_replays_write_nothing(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    await ensure_group(client, EVENTS, EVENT_GROUP)
    await _publish(client, _lifecycles(3))
    # A consumer that read four entries and died before acking them.
    taken = await client.xreadgroup(EVENT_GROUP, "crashed", {EVENTS: ">"}, count=4)
    assert len(taken[0][1]) == 4

    persister = _persister(client, db, claim_idle_ms=100, claim_every_s=0.05)
    async with running(persister):
        await wait_until(lambda: persister.acked == 6)
    assert persister.claimed == 4
    assert persister.written == 6 and persister.duplicates == 0
    assert count(migrated_url, EVENTS_SQL) == 6
    assert count(migrated_url, CLOSED_SQL) == 3
    assert await _pending(client) == 0

    # Replay every entry from the start of the stream: all are known, none is written again.
    await client.xgroup_setid(EVENTS, EVENT_GROUP, "0")
    replay = _persister(client, db)
    async with running(replay):
        await wait_until(lambda: replay.acked == 6)
    assert replay.written == 0 and replay.duplicates == 6
    assert count(migrated_url, EVENTS_SQL) == 6
    await client.aclose()


async def test_malformed_entries_are_dead_lettered_and_acked(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    await client.xadd(EVENTS, {PAYLOAD: b"\xff\xff not protobuf"})
    await client.xadd(EVENTS, {b"other": b"no payload field"})
    await _publish(client, _lifecycles(1))
    persister = _persister(client, db)
    async with running(persister):
        await wait_until(lambda: persister.acked == 4)
    assert persister.written == 2 and persister.dead_lettered == 2
    dead = await client.xrange(f"{EVENTS}_dead")
    assert [fields[PAYLOAD] for _, fields in dead] == [b"\xff\xff not protobuf", b""]
    assert all(fields[b"error"] for _, fields in dead)
    assert await _pending(client) == 0
    assert count(migrated_url, EVENTS_SQL) == 2
    await client.aclose()


async def test_nothing_is_acked_while_postgres_cannot_write(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    persister = _persister(client, db)
    async with running(persister):
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE trade_events RENAME TO trade_events_away")
        await _publish(client, _lifecycles(1))
        await asyncio.sleep(0.5)
        assert persister.acked == 0 and await _pending(client) == 2
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE trade_events_away RENAME TO trade_events")
        await wait_until(lambda: persister.acked == 2)

        # Every server connection dropped (a Postgres restart): the next event still lands.
        with psycopg.connect(migrated_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await _publish(client, _lifecycles(1, first_seq=3))
        await wait_until(lambda: persister.acked == 4)
    assert count(migrated_url, EVENTS_SQL) == 4
    await client.aclose()


async def test_survives_redis_going_away(tmp_path: Path, db: Database, migrated_url: str) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    client = connect(server.start())
    try:
        persister = _persister(client, db)
        async with running(persister) as task:
            await _publish(client, _lifecycles(1))
            await wait_until(lambda: persister.acked == 2)
            server.stop()
            await asyncio.sleep(0.5)  # the persister is retrying now
            assert not task.done()
            server.start()
            await client.connection_pool.disconnect()  # the test's own sockets died with it
            await _publish(client, _lifecycles(1, first_seq=3))
            await wait_until(lambda: persister.acked == 4)
        assert count(migrated_url, EVENTS_SQL) == 4
    finally:
        await client.aclose()
        server.stop()


async def test_one_batch_opens_and_closes_a_trade(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    # Out of order within the batch too: the fold goes by event_seq, not arrival.
    await _publish(
        client,
        [
            opened(1, "t1").SerializeToString(),
            closed(3, "t2", order_id="o-close-2").SerializeToString(),
            closed(2, "t1").SerializeToString(),
            opened(4, "t3").SerializeToString(),
        ],
    )
    persister = _persister(client, db, batch_size=1000)
    async with running(persister):
        await wait_until(lambda: persister.acked == 4)
    assert persister.metrics.batch_size.labels("events")._sum.get() == 4  # one batch
    assert persister.written == 4
    [t1, t2], _ = await db.list_closed_trades("u1", 10, None)
    assert {t1.trade_id, t2.trade_id} == {"t1", "t2"}
    t1 = t1 if t1.trade_id == "t1" else t2
    assert t1.status == "CLOSED" and t1.last_event_seq == 2
    assert (t1.open_order_id, t1.close_order_id) == ("o-open", "o-close")
    assert count(migrated_url, "SELECT count(*) FROM trades WHERE status = 'OPEN'") == 1

    # The whole batch again (a crash before the ack): nothing changes.
    await client.xgroup_setid(EVENTS, EVENT_GROUP, "0")
    replay = _persister(client, db, batch_size=1000)
    async with running(replay):
        await wait_until(lambda: replay.acked == 4)
    assert (replay.written, replay.duplicates) == (0, 4)
    assert count(migrated_url, EVENTS_SQL) == 4
    assert count(migrated_url, CLOSED_SQL) == 2
    await client.aclose()


async def test_an_unwritable_event_is_dead_lettered_and_its_batch_written(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    client = connect(redis_url)
    no_trade = opened(2, "t2")
    no_trade.trade.ClearField("margin")  # caught before writing
    too_big = opened(3, "t3")
    too_big.trade.margin.units = 2**62  # times the scale: past BIGINT, Postgres refuses it
    too_big.trade.margin.scale = 0
    await _publish(
        client,
        [e.SerializeToString() for e in (opened(1, "t1"), no_trade, too_big, closed(4, "t1"))],
    )
    persister = _persister(client, db, batch_size=1000)
    async with running(persister):
        await wait_until(lambda: persister.acked == 4)
    assert persister.written == 2 and persister.dead_lettered == 2
    errors = [fields[b"error"] for _, fields in await client.xrange(f"{EVENTS}_dead")]
    assert errors[0].startswith(b"ValueError") and errors[1].startswith(b"DataError")
    assert count(migrated_url, EVENTS_SQL) == 2
    assert count(migrated_url, CLOSED_SQL) == 1
    assert await _pending(client) == 0
    await client.aclose()


async def test_batches_in_flight_together_fold_to_the_same_rows(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    """Small batches, two in flight: a trade's open and close land in different transactions
    that run at once, in either order; each row still ends closed with both order ids."""
    client = connect(redis_url)
    await _publish(client, _lifecycles(150))
    persister = _persister(client, db, batch_size=7)
    assert persister.max_in_flight == 2
    async with running(persister):
        await wait_until(lambda: persister.acked == 300)
    assert persister.written == 300
    assert count(migrated_url, CLOSED_SQL) == 150
    assert count(migrated_url, "SELECT count(*) FROM trades WHERE close_order_id IS NULL") == 0
    assert count(migrated_url, "SELECT count(*) FROM trades WHERE open_order_id IS NULL") == 0
    await client.aclose()


async def test_another_event_under_a_recorded_event_seq_is_dead_lettered_not_skipped(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    """An engine that started without its state numbers its events from 1 again: its new
    trade's OPENED under seq 1, which holds the old trade's, is no redelivery. Skipped, that
    answered trade would never reach Postgres; it goes to the dead letters, loudly. The same
    event again is still a redelivery, and the rest of its batch is written."""
    client = connect(redis_url)
    await _publish(client, [opened(1, "t-old").SerializeToString()])
    persister = _persister(client, db, batch_size=1000)
    async with running(persister):
        await wait_until(lambda: persister.acked == 1)
        await _publish(
            client,
            [
                opened(1, "t-old").SerializeToString(),  # a redelivery
                opened(1, "t-new", user_id="u2").SerializeToString(),  # another event, seq 1
                closed(2, "t-old").SerializeToString(),
            ],
        )
        await wait_until(lambda: persister.acked == 4)
    assert persister.dead_lettered == 1 and persister.written == 2
    [(_, fields)] = await client.xrange(f"{EVENTS}_dead")
    assert fields[b"error"].startswith(b"ConflictingEvent: event_seq 1 already holds another")
    assert count(migrated_url, "SELECT count(*) FROM trades WHERE trade_id = 't-new'") == 0
    assert count(migrated_url, CLOSED_SQL) == 1
    await client.aclose()


async def test_a_stop_ends_a_blocking_read_at_once_and_loses_nothing(
    redis_url: str, db: Database, migrated_url: str
) -> None:
    """A stop does not wait out the read's block (10 s here): `exchange up` stops its ledgers
    in their stop's time, not the block's. What a cancelled read was handed stays pending
    under the consumer's name and is written by its next run, as is what came after."""
    client = connect(redis_url)
    await _publish(client, _lifecycles(1))
    persister = _persister(client, db, block_ms=10_000)
    stop = asyncio.Event()
    task = asyncio.create_task(persister.run(stop))
    await wait_until(lambda: persister.acked == 2)
    await asyncio.sleep(0.2)  # now in its blocking read
    # Published into the blocked read without yielding to the loop (a blocking client), then
    # stopped in the same turn: Redis has handed the entries to a read that is cancelled.
    with redis.Redis.from_url(redis_url) as blocking:
        for payload in _lifecycles(1, first_seq=3):
            blocking.xadd(EVENTS, {PAYLOAD: payload})
    stop.set()
    await asyncio.wait_for(task, timeout=5)  # half the block: it did not wait the read out
    assert task.exception() is None
    # The first XADD alone served the blocked read: one entry handed to it, never taken.
    assert persister.acked == 2 and await _pending(client) == 1
    await _publish(client, _lifecycles(1, first_seq=5))
    again = _persister(client, db, block_ms=10_000)
    async with running(again):
        await wait_until(lambda: count(migrated_url, EVENTS_SQL) == 6)
        await wait_until(lambda: persister.acked + again.acked == 6)
    assert await _pending(client) == 0
    await client.aclose()
