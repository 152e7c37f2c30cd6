"""Snapshot, restore and state hash of an Engine.

Layout (format 1), columnar so a million positions dump and load as a few long lists:

    {"format": 1,
     "config": {"assets", "maintenance_margin_ppm", "max_open_trades_per_user",
                "idempotency_per_user"},            # what the engine ran with (informational;
                                                    # before: "idempotency_window")
     "seq", "event_seq", "next_pos_id": int,
     "prices":    {"asset": [str], "bid": [int], "ask": [int]},          # sorted by asset
     "accounts":  {"user_id": [str], "email": [str], "balance": [int]},  # sorted by user_id
     "positions": {"asset_names": [str],                                 # sorted
                   "pos_id", "account" (row in accounts), "asset" (row in asset_names),
                   "long" (1/0), "margin", "leverage", "entry", "liquidation", "stop_loss",
                   "take_profit" (0 = none), "opened_at_ms": [int],
                   "trade_id": [str]},                                   # in open order
     "orders":    {"user_id": [str], "order_id": [str], "response": [list]},  # oldest first
                 # (all users in one order: each user's answers, in it, are that user's memory)
     # format 2 (format 1 snapshots load as having none of these):
     "clock": int,                                   # the engine clock, ms
     "extended":  {"pos_id", "trailing", "extreme",  # open positions with an Extension:
                   "order_type" ("" = market), "order_price": [...]},   # trail where it stands
     "pending":   {the position columns, "order_type", "trailing", "expires_at_ms": [...]}}

Trigger indexes, order books, trailing groups and the expiry index are derived and rebuilt
on load (trailing stops that share an extreme share a group again). The layout is canonical
(sorted where order does not matter, in behaviour order where it does), so the state hash is
a hash of it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from engine_svc.core import _native
from engine_svc.core.collector import collector_paused
from engine_svc.core.model import Account, Extension, Position, loss_level
from engine_svc.core.trailing import live_group
from engine_svc.core.types import OrderStatus, OrderType

if TYPE_CHECKING:
    from engine_svc.core.engine import Engine

FORMAT = 2
FORMATS = (1, 2)


def dump(engine: Engine) -> dict[str, Any]:
    """A million positions and as many remembered answers: with the collector running, the
    lists made here trip it again and again, and each full pass walks the whole heap."""
    with collector_paused():
        return _dump(engine)


def _dump(engine: Engine) -> dict[str, Any]:
    accounts = sorted(engine.accounts.values(), key=lambda a: a.user_id)
    account_row = {account.user_id: row for row, account in enumerate(accounts)}
    asset_names = sorted(engine.assets)
    asset_row = {asset: row for row, asset in enumerate(asset_names)}
    positions = list(engine.positions.values())
    price_assets = sorted(engine.prices)
    orders = list(engine.orders.items())
    return {
        "format": FORMAT,
        "config": {
            "assets": dict(sorted(engine.assets.items())),
            "maintenance_margin_ppm": engine.maintenance_margin_ppm,
            "max_open_trades_per_user": engine.max_open_trades_per_user,
            "idempotency_per_user": engine.orders.per_user,
            "max_pending_orders_per_user": engine.max_pending_orders_per_user,
        },
        "seq": engine.seq,
        "event_seq": engine.event_seq,
        "next_pos_id": engine.next_pos_id,
        "clock": engine.clock,
        "prices": {
            "asset": price_assets,
            "bid": [engine.prices[a][0] for a in price_assets],
            "ask": [engine.prices[a][1] for a in price_assets],
        },
        "accounts": {
            "user_id": [a.user_id for a in accounts],
            "email": [a.email for a in accounts],
            "balance": [a.balance for a in accounts],
        },
        "positions": {
            "asset_names": asset_names,
            "pos_id": [p.pos_id for p in positions],
            "trade_id": [p.trade_id for p in positions],
            "account": [account_row[p.account.user_id] for p in positions],
            "asset": [asset_row[p.asset] for p in positions],
            "long": [1 if p.is_long else 0 for p in positions],
            "margin": [p.margin for p in positions],
            "leverage": [p.leverage for p in positions],
            "entry": [p.entry for p in positions],
            "liquidation": [p.liquidation or 0 for p in positions],
            "stop_loss": [p.stop_loss or 0 for p in positions],
            "take_profit": [p.take_profit or 0 for p in positions],
            "opened_at_ms": [p.opened_at_ms for p in positions],
        },
        "orders": {
            "user_id": [key[0] for key, _ in orders],
            "order_id": [key[1] for key, _ in orders],
            "response": [list(encoded) for _, encoded in orders],
        },
        # After the rest: the service reads `seq` from a snapshot file's first bytes.
        "extended": _dump_extended(positions),
        "pending": _dump_pending(engine, account_row, asset_row),
    }


def _dump_extended(positions: list[Position]) -> dict[str, list[Any]]:
    rows = [p for p in positions if p.ext is not None]
    exts = [p.ext for p in rows]
    return {
        "pos_id": [p.pos_id for p in rows],
        "trailing": [e.trailing or 0 for e in exts if e is not None],
        "extreme": [_extreme(p) for p in rows],
        "order_type": [e.order_type.value if e.order_type else "" for e in exts if e is not None],
        "order_price": [e.order_price or 0 for e in exts if e is not None],
    }


def _extreme(pos: Position) -> int:
    """Where a live trailing stop's trail stands (max bid / min ask since set), else 0."""
    ext = pos.ext
    if ext is None or ext.trail is None:
        return 0
    extreme = live_group(pos).extreme
    return extreme if pos.is_long else -extreme


def _dump_pending(
    engine: Engine, account_row: dict[str, int], asset_row: dict[str, int]
) -> dict[str, list[Any]]:
    rows = list(engine.pending.values())
    exts = [p.ext for p in rows if p.ext is not None]
    return {
        "pos_id": [p.pos_id for p in rows],
        "trade_id": [p.trade_id for p in rows],
        "account": [account_row[p.account.user_id] for p in rows],
        "asset": [asset_row[p.asset] for p in rows],
        "long": [1 if p.is_long else 0 for p in rows],
        "margin": [p.margin for p in rows],
        "leverage": [p.leverage for p in rows],
        "entry": [p.entry for p in rows],
        "liquidation": [p.liquidation or 0 for p in rows],
        "stop_loss": [p.stop_loss or 0 for p in rows],
        "take_profit": [p.take_profit or 0 for p in rows],
        "opened_at_ms": [p.opened_at_ms for p in rows],
        "order_type": [e.order_type.value if e.order_type else "" for e in exts],
        "trailing": [e.trailing or 0 for e in exts],
        "expires_at_ms": [e.expires_at_ms or 0 for e in exts],
    }


def load(engine: Engine, data: dict[str, Any]) -> None:
    """Fill a freshly built engine from `dump` output; the engine keeps its own config."""
    with collector_paused():
        _load(engine, data)


def _load(engine: Engine, data: dict[str, Any]) -> None:
    if data.get("format") not in FORMATS:
        raise ValueError(f"unsupported snapshot format {data.get('format')!r}")
    if engine.seq or engine.accounts or engine.positions or len(engine.orders):
        raise ValueError("restore needs a fresh engine")
    engine.seq = data["seq"]
    engine.event_seq = data["event_seq"]
    engine.next_pos_id = data["next_pos_id"]
    prices = data["prices"]
    for asset, bid, ask in zip(prices["asset"], prices["bid"], prices["ask"], strict=True):
        if asset in engine.assets:
            engine.prices[asset] = (bid, ask)
    cols = data["accounts"]
    accounts = [
        Account(user_id, email, balance)
        for user_id, email, balance in zip(
            cols["user_id"], cols["email"], cols["balance"], strict=True
        )
    ]
    engine.accounts.update((a.user_id, a) for a in accounts)
    if len(engine.accounts) != len(accounts):
        # The engine (and its C path) relies on one Account per user id.
        raise ValueError("snapshot holds two accounts with the same user id")
    _load_positions(engine, data["positions"], accounts)
    engine.clock = data.get("clock", 0)
    if "extended" in data:
        _load_extended(engine, data["extended"])
    if "pending" in data:
        _load_pending(engine, data["pending"], accounts, data["positions"]["asset_names"])
    cols = data["orders"]
    remember = engine.orders.load
    for user_id, order_id, encoded in zip(
        cols["user_id"], cols["order_id"], cols["response"], strict=True
    ):
        remember((user_id, order_id), encoded)


def _load_positions(engine: Engine, cols: dict[str, Any], accounts: list[Account]) -> None:
    names = cols["asset_names"]
    unknown = set(names) - set(engine.assets)
    used = {names[row] for row in set(cols["asset"])}
    if unknown & used:
        raise ValueError(
            f"snapshot has open positions on assets this engine lacks: {sorted(unknown & used)}"
        )
    assets = list(engine.triggers)
    slots = [assets.index(name) if name in engine.triggers else -1 for name in names]
    columns = tuple(cols[name] for name in _POSITION_COLUMNS)
    # A million rows: C builds the positions, fills the three dicts and sorts each level list
    # once (native/restore.c, load_positions); the round-trip tests hold it to dump().
    indexes = list(engine.triggers.values())
    positions, trades = engine.positions, engine.trades
    _native.load_positions(columns, accounts, names, slots, indexes, positions, trades)


def _load_extended(engine: Engine, cols: dict[str, Any]) -> None:
    """Give the C-loaded plain positions their Extension, and the index entries it implies."""
    for pos_id, trailing, extreme, order_type, order_price in zip(
        cols["pos_id"], cols["trailing"], cols["extreme"], cols["order_type"],
        cols["order_price"], strict=True,
    ):  # fmt: skip
        pos = engine.positions[pos_id]
        index, book = engine.triggers[pos.asset], engine.books[pos.asset]
        index.remove(pos)  # as a plain trade's: the loss level may differ
        ext = pos.ext = Extension()
        ext.order_type = OrderType(order_type) if order_type else None
        ext.order_price = order_price or None
        ext.trailing = trailing or None
        pos.loss_level = loss_level(pos.is_long, pos.stop_loss, pos.liquidation)
        index.add(pos)
        book.extended += 1
        if ext.trailing is not None:
            book.trail_side(pos).add(pos, extreme)
            book.trailing += 1


def _load_pending(
    engine: Engine, cols: dict[str, Any], accounts: list[Account], names: list[str]
) -> None:
    rows = zip(*(cols[name] for name in _POSITION_COLUMNS), cols["order_type"],
               cols["trailing"], cols["expires_at_ms"], strict=True)  # fmt: skip
    for (pos_id, trade_id, account_row, asset_row, long, margin, leverage, entry, liquidation,
         stop_loss, take_profit, opened_at_ms, order_type, trailing, expires) in rows:  # fmt: skip
        account = accounts[account_row]
        ext = Extension()
        ext.order_type = OrderType(order_type)
        ext.order_price = entry
        ext.trailing = trailing or None
        ext.expires_at_ms = expires or None
        pos = Position(
            pos_id, trade_id, account, names[asset_row], bool(long), margin, leverage, entry,
            liquidation or None, stop_loss or None, take_profit or None, opened_at_ms, ext,
            OrderStatus.PENDING,
        )  # fmt: skip
        account.pending[pos_id] = pos
        engine.pending[pos_id] = pos
        engine.trades[trade_id] = pos
        engine.books[pos.asset].add_order(pos)
        if ext.expires_at_ms is not None:
            engine.expiries.add(ext.expires_at_ms, pos_id)
    engine.reset_next_expiry()


_POSITION_COLUMNS = (
    "pos_id", "trade_id", "account", "asset", "long", "margin", "leverage", "entry",
    "liquidation", "stop_loss", "take_profit", "opened_at_ms",
)  # fmt: skip
"""In the order load_positions reads them."""


def state_hash(engine: Engine, include_idempotency: bool = True) -> str:
    data = dump(engine)
    if not include_idempotency:
        del data["seq"], data["orders"], data["clock"]
    digest = hashlib.sha256()
    # Section by section: one json.dumps of the whole of a large engine would need a string
    # of hundreds of megabytes at once.
    for key in sorted(data):
        section = data[key]
        digest.update(key.encode())
        if isinstance(section, dict) and key in ("positions", "orders", "extended", "pending"):
            for column in sorted(section):
                digest.update(column.encode())
                digest.update(_canonical(section[column]))
        else:
            digest.update(_canonical(section))
    return digest.hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
