"""The trader's toolset in the audit trail (SPEC 3a): a pending order's row with its type,
price and expiry; its end (cancelled, expired, rejected with the reason) in the closed history
with no pnl; a fill keeping the order's fields; and each part of a partial close as a row of
its own (`partial`), beside its trade that stays open."""

from __future__ import annotations

import psycopg
import pytest
from exchange.v1 import events_pb2, types_pb2

from gateway_svc.db import Database
from gateway_svc.grpc_services import convert
from tests.db.factories import opened, price, usd

K = events_pb2


def placed(seq: int, trade_id: str) -> events_pb2.TradeEvent:
    event = opened(seq, trade_id, order_id="o-place")
    event.kind = K.TRADE_EVENT_KIND_ORDER_PLACED  # type: ignore[assignment]
    trade = event.trade
    trade.status = types_pb2.TRADE_STATUS_PENDING  # type: ignore[assignment]
    trade.order_type = types_pb2.ORDER_TYPE_LIMIT  # type: ignore[assignment]
    trade.order_price.CopyFrom(price(230_000_000))
    trade.expires_at_ms = 1_900_000_000_000
    trade.trailing_stop_distance.CopyFrom(price(1_500_000))
    return event


def ended(seq: int, trade_id: str, kind: int, status: int) -> events_pb2.TradeEvent:
    event = placed(seq, trade_id)
    event.kind = kind  # type: ignore[assignment]
    event.order_id = ""
    event.trade.status = status  # type: ignore[assignment]
    event.trade.closed_at_ms = 1_700_000_050_000
    return event


def _status(url: str, trade_id: str) -> tuple[str, object]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status, closed_at FROM trades WHERE trade_id = %s", (trade_id,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_a_pending_order_is_live_with_its_order_fields(
    db: Database, migrated_url: str
) -> None:
    assert await db.record_trade_event(placed(1, "t1"))
    assert _status(migrated_url, "t1") == ("PENDING", None)
    rows, _ = await db.list_closed_trades("u1", 10, None)
    assert rows == []  # pending is not history


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (K.TRADE_EVENT_KIND_ORDER_CANCELLED, types_pb2.TRADE_STATUS_CANCELLED),
        (K.TRADE_EVENT_KIND_ORDER_EXPIRED, types_pb2.TRADE_STATUS_EXPIRED),
        (K.TRADE_EVENT_KIND_ORDER_REJECTED, types_pb2.TRADE_STATUS_REJECTED),
    ],
)
async def test_an_ended_order_is_history_without_pnl(db: Database, kind: int, status: int) -> None:
    await db.record_trade_event(placed(1, "t1"))
    end = ended(2, "t1", kind, status)
    if status == types_pb2.TRADE_STATUS_REJECTED:
        end.trade.reason_code = types_pb2.ERROR_CODE_TOO_MANY_OPEN_TRADES  # type: ignore[assignment]
        end.trade.reason = "too many open trades"
    await db.record_trade_event(end)
    [row], _ = await db.list_closed_trades("u1", 10, None)
    assert row.status == types_pb2.TradeStatus.Name(status).removeprefix("TRADE_STATUS_")
    assert (row.pnl, row.exit_price) == (None, None)
    assert (row.order_type, row.order_price, row.expires_at_ms) == (
        "LIMIT",
        230_000_000,
        1_900_000_000_000,
    )
    assert row.open_order_id == "o-place"
    trade = convert.trade(row)
    assert trade.order_type == types_pb2.ORDER_TYPE_LIMIT and not trade.partial
    if status == types_pb2.TRADE_STATUS_REJECTED:
        assert (row.reason_code, row.reason) == ("TOO_MANY_OPEN_TRADES", "too many open trades")
        assert trade.reason_code == types_pb2.ERROR_CODE_TOO_MANY_OPEN_TRADES


async def test_partial_closes_are_rows_of_their_own(db: Database, migrated_url: str) -> None:
    await db.record_trade_event(opened(1, "t1"))
    for seq, margin, pnl in ((2, 250_000, 1_000), (3, 250_000, -500)):
        part = opened(seq, "t1", order_id=f"o-part-{seq}")
        part.kind = K.TRADE_EVENT_KIND_TRADE_PARTIALLY_CLOSED  # type: ignore[assignment]
        part.trade.status = types_pb2.TRADE_STATUS_CLOSED  # type: ignore[assignment]
        part.trade.partial = True
        part.trade.margin.CopyFrom(usd(margin))
        part.trade.exit_price.CopyFrom(price(237_000_000))
        part.trade.pnl.CopyFrom(usd(pnl))
        part.trade.total_return.CopyFrom(usd(margin + pnl))
        part.trade.closed_at_ms = 1_700_000_000_000 + seq
        await db.record_trade_event(part)
    assert _status(migrated_url, "t1") == ("OPEN", None)  # the trade itself stays open
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT margin FROM trades WHERE trade_id = 't1'").fetchone()
    assert row is not None and row[0] == 1_000_000 - 2 * 250_000  # it gave up both parts
    rows, _ = await db.list_closed_trades("u1", 10, None)
    assert [(r.part_of, r.margin, r.pnl) for r in rows] == [
        ("t1", 250_000, -500),
        ("t1", 250_000, 1_000),
    ]
    shown = [convert.trade(r) for r in rows]
    assert {t.trade_id for t in shown} == {"t1"} and all(t.partial for t in shown)


async def test_a_part_never_shrinks_a_newer_picture(db: Database, migrated_url: str) -> None:
    """The part (seq 2) arrives after the trade's later picture (seq 3, margin already 75)."""
    later = opened(3, "t1")
    later.kind = K.TRADE_EVENT_KIND_TRADE_MODIFIED  # type: ignore[assignment]
    later.trade.margin.CopyFrom(usd(750_000))
    await db.record_trade_event(later)
    part = opened(2, "t1")
    part.kind = K.TRADE_EVENT_KIND_TRADE_PARTIALLY_CLOSED  # type: ignore[assignment]
    part.trade.status = types_pb2.TRADE_STATUS_CLOSED  # type: ignore[assignment]
    part.trade.partial = True
    part.trade.margin.CopyFrom(usd(250_000))
    part.trade.total_return.CopyFrom(usd(250_000))
    part.trade.closed_at_ms = 1_700_000_000_002
    await db.record_trade_event(part)
    await db.record_trade_event(part)  # redelivered: written once
    with psycopg.connect(migrated_url) as conn:
        row = conn.execute("SELECT margin FROM trades WHERE trade_id = 't1'").fetchone()
    assert row is not None and row[0] == 750_000
