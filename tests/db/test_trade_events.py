"""Engine trade events fold into the ledger exactly once and into trades newest-event-wins."""

from __future__ import annotations

import psycopg
import pytest
from exchange.v1 import events_pb2

from gateway_svc.db import Database
from tests.db.factories import closed, opened


def _counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT count(*) FROM trade_events").fetchone()
        trades = conn.execute("SELECT count(*) FROM trades").fetchone()
    assert events is not None and trades is not None
    return events[0], trades[0]


async def test_opened_then_closed_gives_one_closed_row(db: Database, migrated_url: str) -> None:
    assert await db.record_trade_event(opened(1, "t1"))
    assert await db.record_trade_event(closed(2, "t1"))
    assert _counts(migrated_url) == (2, 1)

    rows, token = await db.list_closed_trades("u1", 10, None)
    assert token is None
    [row] = rows
    assert row.status == "CLOSED" and row.direction == "LONG" and row.asset == "SOL_USDC"
    assert (row.margin, row.leverage, row.price_scale) == (1_000_000, 100, 6)
    assert (row.entry_price, row.exit_price) == (236_140_000, 240_000_000)
    assert (row.pnl, row.total_return) == (163_462, 1_163_462)
    assert row.liquidation_price == 212_526_000 and row.stop_loss_price is None
    assert (row.opened_at_ms, row.closed_at_ms) == (1_700_000_000_000, 1_700_000_060_000)
    assert (row.open_order_id, row.close_order_id) == ("o-open", "o-close")
    assert row.last_event_seq == 2


async def test_ledger_keeps_the_serialized_event(db: Database, migrated_url: str) -> None:
    event = opened(7, "t7")
    await db.record_trade_event(event)
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT kind, order_id, payload FROM trade_events").fetchone()
    assert row is not None
    assert row[0] == "OPENED" and row[1] == "o-open"
    assert events_pb2.TradeEvent.FromString(row[2]) == event


async def test_the_same_event_twice_is_written_once(db: Database, migrated_url: str) -> None:
    assert await db.record_trade_event(opened(1, "t1"))
    assert not await db.record_trade_event(opened(1, "t1"))
    assert _counts(migrated_url) == (1, 1)


async def test_an_older_event_does_not_roll_the_row_back(db: Database, migrated_url: str) -> None:
    # The close (seq 2) lands first, e.g. claimed from a consumer that died holding seq 1.
    assert await db.record_trade_event(closed(2, "t1", order_id=""))
    assert await db.record_trade_event(opened(1, "t1"))
    assert _counts(migrated_url) == (2, 1)
    [row], _ = await db.list_closed_trades("u1", 10, None)
    assert row.status == "CLOSED" and row.last_event_seq == 2
    # The opening order is only known to the OPENED event, so it is merged in anyway.
    assert row.open_order_id == "o-open" and row.close_order_id is None


async def test_open_trades_are_not_listed_as_closed(db: Database) -> None:
    await db.record_trade_event(opened(1, "t1"))
    assert await db.list_closed_trades("u1", 10, None) == ([], None)


async def test_closed_trades_paginate_newest_first_only_mine(db: Database) -> None:
    kinds = [
        events_pb2.TRADE_EVENT_KIND_CLOSED,
        events_pb2.TRADE_EVENT_KIND_LIQUIDATED,
        events_pb2.TRADE_EVENT_KIND_STOP_LOSS,
        events_pb2.TRADE_EVENT_KIND_TAKE_PROFIT,
    ]
    seq = 0
    for i in range(5):
        seq += 1
        close_ms = 1_700_000_060_000 + (i // 2) * 1000  # pairs share a close time
        await db.record_trade_event(closed(seq, f"t{i}", closed_at_ms=close_ms, kind=kinds[i % 4]))
    seq += 1
    await db.record_trade_event(closed(seq, "theirs", user_id="u2"))

    ids: list[str] = []
    token = None
    while True:
        page, token = await db.list_closed_trades("u1", 2, token)
        ids.extend(row.trade_id for row in page)
        assert all(row.user_id == "u1" for row in page)
        if token is None:
            break
    assert ids == ["t4", "t3", "t2", "t1", "t0"]
    [liquidated] = [
        r for r in (await db.list_closed_trades("u1", 10, None))[0] if r.trade_id == "t1"
    ]
    assert liquidated.status == "LIQUIDATED"


async def test_malformed_events_are_rejected_before_writing(
    db: Database, migrated_url: str
) -> None:
    with pytest.raises(ValueError):
        await db.record_trade_event(events_pb2.TradeEvent(event_seq=1))
    bad_scale = opened(2, "t2")
    bad_scale.trade.entry_price.scale = 9
    bad_scale.trade.entry_price.units = 236_140_000_001
    with pytest.raises(ValueError):
        await db.record_trade_event(bad_scale)
    assert _counts(migrated_url) == (0, 0)
