"""Folding engine TradeEvents into the ledger (`trade_events`) and the `trades` table.

Each event carries the whole Trade as the engine saw it, so the trades row is simply the
newest event's picture: an event only overwrites the row when its event_seq is higher than the
row's `last_event_seq`. Redelivered events stop at the ledger's primary key; late ones change
nothing but the order ids they alone know (the opening order arrives only with OPENED).

Batches: `LedgerBatch` validates every event up front, and folds the new ones per trade in
event order before the upsert (Postgres cannot update one row twice in one statement), by the
same rules the SQL applies against the stored row.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from exchange.v1 import events_pb2, types_pb2

from gateway_svc.db.multirow import UnnestInsert, quoted
from gateway_svc.db.rows import decimal_units, ms_to_ts, optional_units
from gateway_svc.db.schema import trade_events, trades
from mesh.assets import ASSET_DECIMALS, USD_SCALE

KIND_NAMES = {
    number: name.removeprefix("TRADE_EVENT_KIND_")
    for name, number in events_pb2.TradeEventKind.items()
    if number != events_pb2.TRADE_EVENT_KIND_UNSPECIFIED
}
STATUS_NAMES = {
    number: name.removeprefix("TRADE_STATUS_")
    for name, number in types_pb2.TradeStatus.items()
    if number != types_pb2.TRADE_STATUS_UNSPECIFIED
}
DIRECTION_NAMES = {
    number: name.removeprefix("DIRECTION_")
    for name, number in types_pb2.Direction.items()
    if number != types_pb2.DIRECTION_UNSPECIFIED
}
# Kinds that end a trade's or an order's life (a partial close ends only its part).
CLOSING_KINDS = frozenset(
    {"CLOSED", "LIQUIDATED", "STOP_LOSS", "TAKE_PROFIT", "ORDER_CANCELLED", "ORDER_EXPIRED",
     "ORDER_REJECTED", "TRADE_PARTIALLY_CLOSED"}
)  # fmt: skip
OPENING_KINDS = frozenset({"OPENED", "ORDER_PLACED"})
LIVE_STATUSES = frozenset({"OPEN", "PENDING"})
ORDER_TYPE_NAMES = {types_pb2.ORDER_TYPE_LIMIT: "LIMIT", types_pb2.ORDER_TYPE_STOP: "STOP"}

# Order ids are merged whatever the event order; everything else follows the newest event.
_ORDER_ID_COLUMNS = ("open_order_id", "close_order_id")
_STATE_COLUMNS = tuple(
    c.name for c in trades.columns if c.name not in ("trade_id", *_ORDER_ID_COLUMNS)
)


def ledger_values(event: events_pb2.TradeEvent) -> dict[str, Any]:
    """The `trade_events` row; ValueError if the event cannot be a real engine event."""
    if event.event_seq <= 0:
        raise ValueError(f"event_seq must be positive, got {event.event_seq}")
    if event.kind not in KIND_NAMES:
        raise ValueError(f"unknown event kind {event.kind}")
    if not event.trade.trade_id:
        raise ValueError(f"event {event.event_seq} has no trade_id")
    ts_ms = event.ts_ms or time.time_ns() // 1_000_000
    return {
        "event_seq": event.event_seq,
        "trade_id": event.trade.trade_id,
        "kind": KIND_NAMES[event.kind],
        "order_id": event.order_id or None,
        "payload": event.SerializeToString(deterministic=True),
        "ts": ms_to_ts(ts_ms),
    }


def trade_values(event: events_pb2.TradeEvent) -> dict[str, Any]:
    """The `trades` row as of this event, in integer units."""
    trade = event.trade
    if not trade.user_id or not trade.asset:
        raise ValueError(f"trade {trade.trade_id} lacks user_id or asset")
    if trade.direction not in DIRECTION_NAMES:
        raise ValueError(f"trade {trade.trade_id} has no direction")
    if trade.status not in STATUS_NAMES:
        raise ValueError(f"trade {trade.trade_id} has no status")
    if not trade.HasField("entry_price") or not trade.HasField("margin"):
        raise ValueError(f"trade {trade.trade_id} lacks entry_price or margin")
    price_scale = ASSET_DECIMALS.get(trade.asset, trade.entry_price.scale)
    status = STATUS_NAMES[trade.status]
    kind = KIND_NAMES[event.kind]
    closed_at = None
    if status not in LIVE_STATUSES:
        closed_at = ms_to_ts(trade.closed_at_ms or event.ts_ms)
    # The part of a partial close is a row of its own: the trade's row stays as it was.
    part = trade.partial and kind == "TRADE_PARTIALLY_CLOSED"
    return {
        "trade_id": f"{trade.trade_id}/{event.event_seq}" if part else trade.trade_id,
        "user_id": trade.user_id,
        "email": trade.email,
        "asset": trade.asset,
        "direction": DIRECTION_NAMES[trade.direction],
        "margin": decimal_units(trade.margin, USD_SCALE, "margin"),
        "leverage": trade.leverage,
        "entry_price": decimal_units(trade.entry_price, price_scale, "entry_price"),
        "liquidation_price": optional_units(trade, "liquidation_price", price_scale),
        "stop_loss_price": optional_units(trade, "stop_loss_price", price_scale),
        "take_profit_price": optional_units(trade, "take_profit_price", price_scale),
        "price_scale": price_scale,
        "status": status,
        "exit_price": optional_units(trade, "exit_price", price_scale),
        "pnl": optional_units(trade, "pnl", USD_SCALE),
        "total_return": optional_units(trade, "total_return", USD_SCALE),
        "opened_at": ms_to_ts(trade.opened_at_ms or event.ts_ms),
        "closed_at": closed_at,
        "open_order_id": (event.order_id or None) if kind in OPENING_KINDS else None,
        "close_order_id": (event.order_id or None) if kind in CLOSING_KINDS else None,
        "last_event_seq": event.event_seq,
        **_toolset_values(trade, price_scale),
        "part_of": trade.trade_id if part else None,
    }


def _toolset_values(trade: types_pb2.Trade, price_scale: int) -> dict[str, Any]:
    reason = types_pb2.ErrorCode.Name(trade.reason_code) if trade.reason_code else None
    return {
        "order_type": ORDER_TYPE_NAMES.get(trade.order_type),
        "order_price": optional_units(trade, "order_price", price_scale),
        "expires_at_ms": trade.expires_at_ms if trade.HasField("expires_at_ms") else None,
        "trailing_stop_distance": optional_units(trade, "trailing_stop_distance", price_scale),
        "reason_code": reason.removeprefix("ERROR_CODE_") if reason else None,
        "reason": trade.reason or None,
    }


LEDGER_COLUMNS = tuple(c.name for c in trade_events.columns)
TRADE_COLUMNS = tuple(c.name for c in trades.columns)

# RETURNING says which event_seqs were new: only those are folded into trades.
INSERT_LEDGER = UnnestInsert.of(
    trade_events,
    LEDGER_COLUMNS,
    "ON CONFLICT (event_seq) DO NOTHING RETURNING event_seq",
)


# What the ledger holds under event_seqs a batch found taken (see `ConflictingEvent`).
STORED_EVENTS = "SELECT event_seq, payload FROM trade_events WHERE event_seq = ANY(%(seqs)s)"


class ConflictingEvent(ValueError):
    """An event under an event_seq the ledger holds for a different event. The engine numbers
    its events once, so the same number twice with different contents means its sequence went
    back: it started without its state (SNAPSHOT_DIR lost, or another exchange's). Skipped as a
    redelivery, the event would be lost without a word; refused, it goes to the dead letters."""


def conflicts(
    batch_rows: list[dict[str, Any]], stored: dict[int, bytes]
) -> ConflictingEvent | None:
    """The first of `batch_rows` whose event_seq holds another event in `stored`."""
    for row in batch_rows:
        held = stored.get(row["event_seq"])
        if held is not None and bytes(held) != bytes(row["payload"]):
            return ConflictingEvent(
                f"event_seq {row['event_seq']} already holds another event: the engine's event "
                "sequence went back (did it start without its SNAPSHOT_DIR?)"
            )
    return None


def _upsert_trades() -> UnnestInsert:
    newer = "EXCLUDED.last_event_seq > trades.last_event_seq"
    assignments = [
        f"{quoted(name)} = CASE WHEN {newer} THEN EXCLUDED.{quoted(name)} "
        f"ELSE trades.{quoted(name)} END"
        for name in _STATE_COLUMNS
    ] + [
        f"{quoted(name)} = COALESCE(trades.{quoted(name)}, EXCLUDED.{quoted(name)})"
        for name in _ORDER_ID_COLUMNS
    ]
    return UnnestInsert.of(
        trades, TRADE_COLUMNS, "ON CONFLICT (trade_id) DO UPDATE SET " + ", ".join(assignments)
    )


UPSERT_TRADES = _upsert_trades()

# A partial close's event carries the part, not what stays open: its trade's row gives up the
# part's margin. Once per event (only new events are folded), and never under a newer picture,
# which already shows the smaller margin.
SHRINK_FOR_PART = (
    "UPDATE trades SET margin = margin - %(margin)s, last_event_seq = %(seq)s "
    "WHERE trade_id = %(trade_id)s AND last_event_seq < %(seq)s"
)


@dataclass(frozen=True)
class LedgerBatch:
    """A batch of events as rows: the ledger's, and each event's trades picture."""

    ledger: list[dict[str, Any]]
    pictures: list[dict[str, Any]]  # in event_seq order, one per ledger row

    @classmethod
    def of(
        cls,
        events: Sequence[events_pb2.TradeEvent],
        rejected: list[tuple[int, ValueError]] | None = None,
    ) -> LedgerBatch:
        """The batch's rows; a repeated event_seq counts once. An event that cannot be
        written raises ValueError, or, given `rejected`, is left out and listed there as
        (its index in `events`, the error)."""
        seen: set[int] = set()
        pairs = []
        order = sorted(range(len(events)), key=lambda i: events[i].event_seq)
        for index in order:
            event = events[index]
            if event.event_seq in seen:
                continue
            try:
                pair = (ledger_values(event), trade_values(event))
            except ValueError as error:
                if rejected is None:
                    raise
                rejected.append((index, error))
                continue
            seen.add(event.event_seq)
            pairs.append(pair)
        return cls([ledger for ledger, _ in pairs], [picture for _, picture in pairs])

    def parts_for(self, new_seqs: Collection[int]) -> list[dict[str, Any]]:
        """SHRINK_FOR_PART's parameters for each new partial close, in event order."""
        return [
            {"trade_id": p["part_of"], "margin": p["margin"], "seq": p["last_event_seq"]}
            for p in self.pictures
            if p["part_of"] is not None and p["last_event_seq"] in new_seqs
        ]

    def trades_for(self, new_seqs: Collection[int]) -> list[dict[str, Any]]:
        """One trades row per trade touched by the new events: the newest one's state, the
        order ids merged as the upsert merges them (the first one known is kept)."""
        folded: dict[str, dict[str, Any]] = {}
        for picture in self.pictures:
            if picture["last_event_seq"] not in new_seqs:
                continue
            earlier = folded.get(picture["trade_id"])
            if earlier is not None:
                picture = dict(picture)
                for name in _ORDER_ID_COLUMNS:
                    picture[name] = earlier[name] or picture[name]
            folded[picture["trade_id"]] = picture
        # In key order: two batches written at once lock shared rows in the same order.
        return [folded[trade_id] for trade_id in sorted(folded)]
