"""Protobuf <-> core types, at the engine's edge. The core never sees protobuf."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from exchange.v1 import commands_pb2, events_pb2, prices_pb2, responses_pb2, types_pb2

from engine_svc.core import types as core
from engine_svc.core.frozen import fast_constructor
from engine_svc.service import wire
from engine_svc.service.command_fields import (
    DIRECTIONS,
    ORDER_TYPES,
    TOOLSET_BODIES,
    TOOLSET_FROM_PROTO,
    MalformedCommand,
    optional_price,
    rescale,
)

USD_SCALE = core.USD_SCALE
MARGIN_LEVEL_SCALE = 6


def _decimal(target: types_pb2.Decimal, units: int, scale: int) -> None:
    target.units = units
    target.scale = scale


_DIRECTION_TO_PROTO = {v: k for k, v in DIRECTIONS.items()}
_STATUS_TO_PROTO: dict[core.Status, int] = {
    s: types_pb2.TradeStatus.Value(f"TRADE_STATUS_{s.value}")
    for s in (*core.TradeStatus, *core.OrderStatus)
}
_KIND_TO_PROTO: dict[core.Kind, int] = {
    k: events_pb2.TradeEventKind.Value(f"TRADE_EVENT_KIND_{k.value}")
    for k in (*core.EventKind, *core.OrderEventKind)
}
_CODE_TO_PROTO: dict[core.Code, int] = {
    c: types_pb2.ErrorCode.Value(f"ERROR_CODE_{c.value}")
    for c in (*core.RejectCode, *core.OrderRejectCode)
}
_ORDER_TYPE_TO_PROTO = {v: k for k, v in ORDER_TYPES.items()}
# The same maps keyed by each member's id(): an Enum's __hash__ is Python code, and every
# trade and event converted looked up three of them. Members are singletons that live as long
# as their class, so their ids are stable.
_DIRECTION_BY_ID = {id(k): v for k, v in _DIRECTION_TO_PROTO.items()}
_STATUS_BY_ID = {id(k): v for k, v in _STATUS_TO_PROTO.items()}
_KIND_BY_ID = {id(k): v for k, v in _KIND_TO_PROTO.items()}
_SIMPLE_BODIES: dict[str, core.CommandBody] = {
    "create_account": core.CreateAccount(),
    "get_usd_balance": core.GetUsdBalance(),
    "get_balance": core.GetBalance(),
    "get_open_trades": core.GetOpenTrades(),
    "get_account": core.GetAccount(),
    "get_pending_orders": core.GetPendingOrders(),
}


# Every replayed and live command passes here: the frozen dataclasses' own __init__ would cost
# about as much as parsing the protobuf (see `frozen`).
# Typed field by field, in declaration order, so mypy checks every call.
_new_command: Callable[[str, str, str, int, core.CommandBody], core.Command] = fast_constructor(
    core.Command
)
_new_create_trade: Callable[
    [str, core.Direction, core.Usd, int, core.Price | None, core.Price | None, core.Price | None],
    core.CreateTrade,
] = fast_constructor(core.CreateTrade)
_new_close_trade: Callable[[str, core.Usd | None], core.CloseTrade] = fast_constructor(
    core.CloseTrade
)


# ---- flat tuples: commands across a process boundary (recovery's journal decoder) --------
# Pickling the frozen dataclasses runs Python-level __getstate__/__setstate__ for every object
# (about 10 us a command, as much as decoding the protobuf again); a tuple of strs and ints
# pickles in C.

_SIMPLE_BY_NAME = {type(body).__name__: body for body in _SIMPLE_BODIES.values()}
_DIRECTION_BY_VALUE = {direction.value: direction for direction in core.Direction}


def command_to_tuple(command: core.Command) -> tuple[Any, ...]:
    body = command.body
    head = (command.order_id, command.user_id, command.email, command.ts_ms)
    if isinstance(body, core.CreateTrade):
        return (
            *head, "T", body.asset, body.direction.value, body.margin, body.leverage,
            body.stop_loss, body.take_profit, body.trailing_distance,
        )  # fmt: skip
    if isinstance(body, core.CloseTrade):
        return (*head, "C", body.trade_id, body.margin)
    if isinstance(body, TOOLSET_BODIES):
        return (*head, "B", body)  # rare: the dataclass pickles as it is
    return (*head, type(body).__name__)


def command_from_tuple(flat: tuple[Any, ...]) -> core.Command:
    order_id, user_id, email, ts_ms, tag = flat[:5]
    body: core.CommandBody
    if tag == "T":
        asset, direction, margin, leverage, stop_loss, take_profit, trailing = flat[5:]
        body = _new_create_trade(
            asset, _DIRECTION_BY_VALUE[direction], margin, leverage, stop_loss, take_profit,
            trailing,
        )  # fmt: skip
    elif tag == "C":
        body = _new_close_trade(flat[5], flat[6])
    elif tag == "B":
        body = flat[5]
    else:
        body = _SIMPLE_BY_NAME[tag]
    return _new_command(order_id, user_id, email, ts_ms, body)


def command_from_proto(msg: commands_pb2.Command, assets: Mapping[str, int]) -> core.Command:
    kind = msg.WhichOneof("body")
    body: core.CommandBody
    if kind in _SIMPLE_BODIES:
        body = _SIMPLE_BODIES[kind]
    elif kind == "create_trade":
        body = _create_trade(msg.create_trade, assets)
    elif kind == "close_trade":
        close = msg.close_trade
        part = (
            core.Usd(rescale(close.margin, USD_SCALE, "margin"))
            if close.HasField("margin")
            else None
        )
        body = _new_close_trade(close.trade_id, part)
    elif kind in TOOLSET_FROM_PROTO:
        body = TOOLSET_FROM_PROTO[kind](getattr(msg, kind), assets)
    else:
        raise MalformedCommand("command has no body")
    if not msg.order_id or not msg.user_id:
        raise MalformedCommand("command needs order_id and user_id")
    return _new_command(msg.order_id, msg.user_id, msg.email, msg.ts_ms, body)


def _create_trade(msg: commands_pb2.CreateTrade, assets: Mapping[str, int]) -> core.CreateTrade:
    direction = DIRECTIONS.get(msg.direction)
    if direction is None:
        raise MalformedCommand("direction must be LONG or SHORT")
    scale = assets.get(msg.asset)
    if scale is None:
        # The core answers UNKNOWN_ASSET; prices cannot be scaled without the asset.
        stop_loss = take_profit = None
    else:
        stop_loss = (
            core.Price(rescale(msg.stop_loss_price, scale, "stop loss price"))
            if msg.HasField("stop_loss_price")
            else None
        )
        take_profit = (
            core.Price(rescale(msg.take_profit_price, scale, "take profit price"))
            if msg.HasField("take_profit_price")
            else None
        )
    margin = core.Usd(rescale(msg.margin, USD_SCALE, "margin"))
    leverage = msg.leverage or core.DEFAULT_LEVERAGE
    trailing = optional_price(msg, "trailing_stop_distance", scale, "trailing stop distance")
    return _new_create_trade(
        msg.asset, direction, margin, leverage, stop_loss, take_profit, trailing
    )


def ticks_from_proto(batch: prices_pb2.PriceBatch, assets: Mapping[str, int]) -> list[core.Tick]:
    """Ticks for known assets at their scale; anything else is skipped by the caller's log."""
    ticks = []
    for tick in batch.ticks:
        scale = assets.get(tick.asset)
        if scale is None:
            continue
        bid = rescale(tick.bid, scale, "bid")
        ask = rescale(tick.ask, scale, "ask")
        if bid <= 0 or ask <= 0 or bid > ask:
            continue
        ticks.append(core.Tick(tick.asset, core.Price(bid), core.Price(ask), tick.ts_us))
    return ticks


def trade_to_proto(view: core.TradeView, scale: int, out: types_pb2.Trade) -> types_pb2.Trade:
    out.trade_id = view.trade_id
    out.user_id = view.user_id
    out.email = view.email
    out.asset = view.asset
    out.direction = _DIRECTION_BY_ID[id(view.direction)]
    _decimal(out.margin, view.margin, USD_SCALE)
    out.leverage = view.leverage
    _decimal(out.entry_price, view.entry_price, scale)
    if view.liquidation_price is not None:
        _decimal(out.liquidation_price, view.liquidation_price, scale)
    if view.stop_loss is not None:
        _decimal(out.stop_loss_price, view.stop_loss, scale)
    if view.take_profit is not None:
        _decimal(out.take_profit_price, view.take_profit, scale)
    out.status = _STATUS_BY_ID[id(view.status)]
    out.opened_at_ms = view.opened_at_ms
    if view.exit_price is not None:
        _decimal(out.exit_price, view.exit_price, scale)
    if view.pnl is not None:
        _decimal(out.pnl, view.pnl, USD_SCALE)
    if view.total_return is not None:
        _decimal(out.total_return, view.total_return, USD_SCALE)
    if view.closed_at_ms is not None:
        out.closed_at_ms = view.closed_at_ms
    if view.unrealized_pnl is not None:
        _decimal(out.unrealized_pnl, view.unrealized_pnl, USD_SCALE)
    if view.trailing_distance is not None:
        _decimal(out.trailing_stop_distance, view.trailing_distance, scale)
    if view.order_type is not None:
        _toolset_view(view, scale, out)
    if view.partial:
        out.partial = True
    if view.reason is not None:
        out.reason_code = _CODE_TO_PROTO[view.reason.code]  # type: ignore[assignment]
        out.reason = view.reason.message
    return out


def _toolset_view(view: core.TradeView, scale: int, out: types_pb2.Trade) -> None:
    """A pending order's fields, kept by the trade it became."""
    out.order_type = _ORDER_TYPE_TO_PROTO[view.order_type]  # type: ignore[index,assignment]
    if view.order_price is not None:
        _decimal(out.order_price, view.order_price, scale)
    if view.expires_at_ms is not None:
        out.expires_at_ms = view.expires_at_ms


def result_to_proto(
    response: core.Response, assets: Mapping[str, int]
) -> responses_pb2.CommandResult:
    out = responses_pb2.CommandResult(order_id=response.order_id, engine_seq=response.seq)
    if response.rejection is not None:
        out.error_code = _CODE_TO_PROTO[response.rejection.code]
        out.message = response.rejection.message
        return out
    _fill_data(out, response.data, assets)
    return out


def _fill_data(
    out: responses_pb2.CommandResult, data: core.ResultData | None, assets: Mapping[str, int]
) -> None:
    if isinstance(data, core.TradeOpened):
        out.trade_opened.email = data.email
        trade_to_proto(data.trade, assets[data.trade.asset], out.trade_opened.trade)
    elif isinstance(data, core.TradeClosed):
        out.trade_closed.email = data.email
        trade_to_proto(data.trade, assets[data.trade.asset], out.trade_closed.trade)
        _decimal(out.trade_closed.margin_returned, data.margin_returned, USD_SCALE)
        _decimal(out.trade_closed.remaining_margin, data.remaining_margin, USD_SCALE)
    elif isinstance(data, core.OrderPlaced):
        out.order_placed.email = data.email
        trade_to_proto(data.trade, assets[data.trade.asset], out.order_placed.trade)
    elif isinstance(data, core.OrderCancelled):
        out.order_cancelled.email = data.email
        trade_to_proto(data.trade, assets[data.trade.asset], out.order_cancelled.trade)
        _decimal(out.order_cancelled.margin_returned, data.margin_returned, USD_SCALE)
    elif isinstance(data, core.TradeModified):
        out.trade_modified.email = data.email
        trade_to_proto(data.trade, assets[data.trade.asset], out.trade_modified.trade)
    elif isinstance(data, core.AccountCreated):
        out.account_created.email = data.email
        _decimal(out.account_created.initial_usd_balance, data.initial_usd_balance, USD_SCALE)
        out.account_created.assets.append("USD")
    elif isinstance(data, core.UsdBalance):
        out.usd_balance.email = data.email
        _decimal(out.usd_balance.usd_balance, data.usd_balance, USD_SCALE)
    elif isinstance(data, core.Balances):
        out.balances.email = data.email
        for name, amount in data.balances.items():
            _decimal(out.balances.balances[name], amount, USD_SCALE)
    elif isinstance(data, core.OpenTrades):
        out.open_trades.SetInParent()
        for view in data.trades:
            trade_to_proto(view, assets[view.asset], out.open_trades.trades.add())
    elif isinstance(data, core.AccountSummary):
        account = out.account
        account.email = data.email
        _decimal(account.balance, data.balance, USD_SCALE)
        _decimal(account.equity, data.equity, USD_SCALE)
        _decimal(account.used_margin, data.used_margin, USD_SCALE)
        _decimal(account.free_margin, data.free_margin, USD_SCALE)
        _decimal(account.unrealized_pnl, data.unrealized_pnl, USD_SCALE)
        _decimal(account.reserved_margin, data.reserved_margin, USD_SCALE)
        if data.margin_level_ppm is not None:
            _decimal(account.margin_level, data.margin_level_ppm, MARGIN_LEVEL_SCALE)


def rejection_to_proto(order_id: str, code: str, message: str) -> responses_pb2.CommandResult:
    return responses_pb2.CommandResult(
        order_id=order_id,
        error_code=types_pb2.ErrorCode.Value(f"ERROR_CODE_{code}"),
        message=message,
    )


def event_to_proto(
    event: core.TradeEvent, assets: Mapping[str, int], trade: types_pb2.Trade | None = None
) -> events_pb2.TradeEvent:
    """`trade`: the event's trade view already converted (the answer to the command that
    caused the event carries the very same view); copied rather than built again."""
    out = events_pb2.TradeEvent(
        event_seq=event.event_seq,
        kind=_KIND_BY_ID[id(event.kind)],
        order_id=event.order_id,
        ts_ms=event.ts_ms,
    )
    if trade is not None:
        out.trade.CopyFrom(trade)
    else:
        trade_to_proto(event.trade, assets[event.trade.asset], out.trade)
    return out


def event_bytes(
    event: core.TradeEvent, assets: Mapping[str, int], trade: types_pb2.Trade | None = None
) -> bytes:
    """`event_to_proto(event, assets, trade).SerializeToString()`, written around the trade's
    own bytes when its answer already converted it (a message's fields in number order, as
    protobuf writes them)."""
    if trade is None:
        return event_to_proto(event, assets).SerializeToString()
    return b"".join(
        (
            wire.int_field(1, event.event_seq),
            wire.int_field(2, _KIND_BY_ID[id(event.kind)]),
            wire.bytes_field(3, trade.SerializeToString()),
            wire.bytes_field(4, event.order_id.encode()) if event.order_id else b"",
            wire.int_field(5, event.ts_ms),
        )
    )


def answered_trade(
    data: core.ResultData | None, result: responses_pb2.CommandResult
) -> tuple[core.TradeView | None, types_pb2.Trade | None]:
    """The trade view an answer carries (an opened or closed trade) and its converted form."""
    if isinstance(data, core.TradeOpened):
        return data.trade, result.trade_opened.trade
    if isinstance(data, core.TradeClosed):
        return data.trade, result.trade_closed.trade
    if isinstance(data, core.OrderPlaced):
        return data.trade, result.order_placed.trade
    if isinstance(data, core.OrderCancelled):
        return data.trade, result.order_cancelled.trade
    if isinstance(data, core.TradeModified):
        return data.trade, result.trade_modified.trade
    return None, None
