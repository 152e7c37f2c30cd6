"""The liquidation storm: many leveraged positions crossed by one price move, timed from the
move until every liquidation event is a row of the trade ledger in Postgres.

The positions are opened straight through the engine's command stream (a REST client would
take minutes to open 100,000), LONG SOL_USDC at 100x, so a move to half the price liquidates
every one of them on one tick. Each event is one row of `trade_events` (the exactly-once
ledger, gateway_svc/db/schema.py), so the count of that table tells when all have landed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import psycopg
import redis
from exchange.v1 import events_pb2, prices_pb2

from gateway_svc.db.schema import trade_events
from gateway_svc.db.urls import libpq_conninfo
from launcher.bench import stream_client as sc
from launcher.bench.exchange import PRICES
from mesh import streams

ASSET = "SOL_USDC"
SCALE = 6
LEVERAGE = 1000  # 100x: liquidated 1% below the entry price
MARGIN_UNITS = 10_000  # 1 USD: 1,000 positions per user fit in the 5,000 USD a user gets
PER_USER = 1_000
POLL_S = 0.05


def _units(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole + frac.ljust(SCALE, "0")[:SCALE])


BASE_BID, BASE_ASK = (_units(p) for p in PRICES[ASSET])


def price_batch(bid: int, ask: int) -> bytes:
    batch = prices_pb2.PriceBatch(source="bench-storm")
    tick = batch.ticks.add(asset=ASSET, ts_us=time.time_ns() // 1000)
    tick.bid.units, tick.bid.scale = bid, SCALE
    tick.ask.units, tick.ask.scale = ask, SCALE
    return batch.SerializeToString()


def last_event_seq(db: psycopg.Connection) -> int:
    row = db.execute(f"SELECT max(event_seq) FROM {trade_events.name}").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def newest_published_seq(r: redis.Redis) -> int:
    """The event_seq of the newest event on the stream (its length says nothing: the ledger
    trims what it has written, mesh.stream_trim)."""
    newest = r.xrevrange(streams.EVENTS, count=1)
    if not newest:
        return 0
    return events_pb2.TradeEvent.FromString(newest[0][1][streams.PAYLOAD]).event_seq


def events_after(db: psycopg.Connection, seq: int) -> int:
    """Rows past `seq`, through the primary key: a poll costs what the storm has written so
    far, not the whole ledger (a count(*) of a table grown by earlier runs took up to 150 ms,
    twenty times a second, a core of Postgres taken from the ledger it was timing)."""
    row = db.execute(
        f"SELECT count(*) FROM {trade_events.name} WHERE event_seq > %s", (seq,)
    ).fetchone()
    return int(row[0]) if row else 0


def wait_for(what: str, check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until `check()` holds; TimeoutError after `timeout_s`."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(POLL_S)
    return time.perf_counter() - started


def wait_quiet(db: psycopg.Connection, quiet_s: float, timeout_s: float) -> int:
    """The ledger's last event_seq once it has not moved for `quiet_s` (earlier parts
    drained)."""
    deadline = time.monotonic() + timeout_s
    last, since = last_event_seq(db), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = last_event_seq(db)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise TimeoutError(f"the trade ledger kept growing for {timeout_s:.0f}s before the storm")


async def open_positions(redis_url: str, positions: int) -> float:
    """Accounts, then `positions` LONG 100x trades through the streams; returns creates/s."""
    run = uuid.uuid4().hex[:6]
    count = -(-positions // PER_USER)
    users = [(f"storm-{run}-{i}", f"storm-{run}-{i}@bench") for i in range(count)]
    client = sc.EngineStreamClient(redis_url)
    try:
        for answer in await client.run_all(sc.create_account(u, e) for u, e in users):
            if sc.error_name(answer):
                raise RuntimeError(f"storm account refused: {sc.error_name(answer)}")
        creates = [
            sc.create_trade(u, e, asset=ASSET, margin_units=MARGIN_UNITS, leverage=LEVERAGE)
            for i in range(positions)
            for u, e in [users[i // PER_USER]]
        ]
        started = time.perf_counter()
        answers = await client.run_all(creates, in_flight=512, timeout_s=600)
        took = time.perf_counter() - started
    finally:
        await client.close()
    refused = [sc.error_name(a) for a in answers if sc.error_name(a)]
    if refused:
        raise RuntimeError(f"{len(refused)} of {positions} storm trades refused: {refused[0]}")
    entry = answers[0].trade_opened.trade.entry_price.units
    if entry != BASE_ASK:
        raise RuntimeError(f"storm trades opened at {entry}, not at the base ask {BASE_ASK}")
    return positions / took


def run(redis_url: str, database_url: str, *, positions: int, timeout_s: float) -> dict[str, float]:
    r = redis.Redis.from_url(redis_url)
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as db:
        try:
            before = wait_quiet(db, quiet_s=1.0, timeout_s=timeout_s)
            setup_rate = asyncio.run(open_positions(redis_url, positions))
            wait_for(
                "opened positions in Postgres",
                lambda: events_after(db, before) >= positions,
                timeout_s,
            )
            base = last_event_seq(db)
            crash = price_batch(BASE_BID // 2, BASE_ASK // 2)
            moved = time.perf_counter()
            r.xadd(streams.PRICES, {streams.PAYLOAD: crash}, maxlen=streams.MAXLEN_PRICES)
            published: float | None = None
            while (landed := events_after(db, base)) < positions:
                if published is None and newest_published_seq(r) >= base + positions:
                    published = time.perf_counter() - moved
                if time.perf_counter() - moved > timeout_s:
                    raise TimeoutError(
                        f"{landed:,} of {positions:,} liquidations in Postgres "
                        f"after {timeout_s:.0f}s"
                    )
                time.sleep(POLL_S)
            persisted = time.perf_counter() - moved
            if published is None:
                published = persisted  # all landed before a poll saw them on the stream
        finally:
            # The base price again, so a later storm opens at the same prices.
            r.xadd(streams.PRICES, {streams.PAYLOAD: price_batch(BASE_BID, BASE_ASK)})
            r.close()
    return {"storm.persisted": persisted, "storm.published": published, "storm.setup": setup_rate}
