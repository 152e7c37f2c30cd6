"""The trader's toolset on the wire: each new command becomes the core value its dataclass
would build (and survives the recovery tuple), each new answer, view field and event kind
reaches the protobuf, and the audit stream treats the new commands as state-changing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from exchange.v1 import commands_pb2, events_pb2, responses_pb2, types_pb2

from engine_svc.core import types as core
from engine_svc.service.convert import (
    MalformedCommand,
    command_from_proto,
    command_from_tuple,
    command_to_tuple,
    event_to_proto,
    result_to_proto,
)
from engine_svc.service.inputs import decode_command
from mesh.assets import ASSET_DECIMALS

ASSETS = dict(ASSET_DECIMALS)


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def command(**body: object) -> commands_pb2.Command:
    return commands_pb2.Command(order_id="o-1", user_id="u1", email="a@b.co", ts_ms=5, **body)


def core_command(body: core.CommandBody) -> core.Command:
    return core.Command("o-1", "u1", "a@b.co", 5, body)


def roundtrip(msg: commands_pb2.Command, body: core.CommandBody) -> None:
    converted = command_from_proto(msg, ASSETS)
    assert converted == core_command(body)
    assert command_from_tuple(command_to_tuple(converted)) == converted


def test_place_order_every_field() -> None:
    msg = command(
        place_order=commands_pb2.PlaceOrder(
            asset="SOL_USDC",
            direction=types_pb2.DIRECTION_SHORT,
            order_type=types_pb2.ORDER_TYPE_STOP,
            price=dec(2301, 1),  # 230.1 at SOL's 6 decimals
            margin=dec(105, 1),
            leverage=50,
            take_profit_price=dec(220_000_000, 6),
            trailing_stop_distance=dec(15, 1),
            expires_at_ms=1_900_000_000_000,
        )
    )
    body = core.PlaceOrder(
        asset="SOL_USDC",
        direction=core.Direction.SHORT,
        order_type=core.OrderType.STOP,
        price=core.Price(230_100_000),
        margin=core.Usd(105_000),
        leverage=50,
        take_profit=core.Price(220_000_000),
        trailing_distance=core.Price(1_500_000),
        expires_at_ms=1_900_000_000_000,
    )
    roundtrip(msg, body)


def test_place_order_defaults_good_till_cancelled() -> None:
    msg = command(
        place_order=commands_pb2.PlaceOrder(
            asset="BTC_USDC",
            direction=types_pb2.DIRECTION_LONG,
            order_type=types_pb2.ORDER_TYPE_LIMIT,
            price=dec(900_000_000, 4),
            margin=dec(10, 0),
        )
    )
    body = core.PlaceOrder(
        "BTC_USDC", core.Direction.LONG, core.OrderType.LIMIT, core.Price(900_000_000),
        core.Usd(100_000),
    )  # fmt: skip
    roundtrip(msg, body)


@pytest.mark.parametrize(
    ("place", "message"),
    [
        ({"order_type": types_pb2.ORDER_TYPE_UNSPECIFIED}, "order_type"),
        ({"direction": types_pb2.DIRECTION_UNSPECIFIED}, "direction"),
        ({"price": None}, "price is required"),
        ({"price": dec(1, 7)}, "price allows at most 6 decimals"),
    ],
)
def test_malformed_place_order(place: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "asset": "SOL_USDC",
        "direction": types_pb2.DIRECTION_LONG,
        "order_type": types_pb2.ORDER_TYPE_LIMIT,
        "price": dec(1, 0),
        "margin": dec(1, 0),
        **place,
    }
    msg = command(place_order=commands_pb2.PlaceOrder(**{k: v for k, v in fields.items() if v}))
    with pytest.raises(MalformedCommand, match=message):
        command_from_proto(msg, ASSETS)


def test_cancel_order_and_partial_close_and_trailing_create() -> None:
    roundtrip(
        command(cancel_order=commands_pb2.CancelOrder(trade_id="t-1")), core.CancelOrder("t-1")
    )
    roundtrip(
        command(close_trade=commands_pb2.CloseTrade(trade_id="t-1", margin=dec(25, 1))),
        core.CloseTrade("t-1", core.Usd(25_000)),
    )
    roundtrip(command(close_trade=commands_pb2.CloseTrade(trade_id="t-1")), core.CloseTrade("t-1"))
    create = commands_pb2.CreateTrade(
        asset="ETH_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=dec(10, 0),
        leverage=100,
        trailing_stop_distance=dec(125, 2),
    )
    roundtrip(
        command(create_trade=create),
        core.CreateTrade(
            "ETH_USDC", core.Direction.LONG, core.Usd(100_000), 100, None, None,
            core.Price(1_250_000),
        ),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, {}),
        ({"stop_loss_price": types_pb2.PriceChange(value=dec(2, 0))}, {"stop_loss": 20_000}),
        ({"stop_loss_price": types_pb2.PriceChange()}, {"stop_loss": None}),
        ({"take_profit_price": types_pb2.PriceChange(value=dec(3, 0))}, {"take_profit": 30_000}),
        ({"take_profit_price": types_pb2.PriceChange()}, {"take_profit": None}),
        (
            {"trailing_stop_distance": types_pb2.PriceChange(value=dec(5, 1))},
            {"trailing_distance": 5_000},
        ),
        ({"trailing_stop_distance": types_pb2.PriceChange()}, {"trailing_distance": None}),
        ({"price": dec(41, 1)}, {"price": 41_000}),
        ({"expires_at": types_pb2.ExpiryChange(expires_at_ms=9)}, {"expires_at_ms": 9}),
        ({"expires_at": types_pb2.ExpiryChange()}, {"expires_at_ms": None}),
    ],
)
def test_modify_trade_sets_removes_and_keeps(
    change: dict[str, object], expected: dict[str, object]
) -> None:
    msg = command(modify_trade=commands_pb2.ModifyTrade(trade_id="t-7", asset="BTC_USDC", **change))
    roundtrip(msg, core.ModifyTrade("t-7", **expected))  # type: ignore[arg-type]


def test_modify_trade_needs_the_asset_only_to_read_a_price() -> None:
    removal = commands_pb2.ModifyTrade(trade_id="t", stop_loss_price=types_pb2.PriceChange())
    assert command_from_proto(command(modify_trade=removal), ASSETS).body == core.ModifyTrade(
        "t", stop_loss=None
    )
    setting = commands_pb2.ModifyTrade(
        trade_id="t", take_profit_price=types_pb2.PriceChange(value=dec(1, 0))
    )
    with pytest.raises(MalformedCommand, match="asset"):
        command_from_proto(command(modify_trade=setting), ASSETS)
    bad = commands_pb2.ModifyTrade(trade_id="t", asset="BTC_USDC", price=dec(1, 5))
    with pytest.raises(MalformedCommand, match="at most 4 decimals"):
        command_from_proto(command(modify_trade=bad), ASSETS)


@pytest.mark.parametrize(
    ("body", "audited"),
    [
        ({"place_order": commands_pb2.PlaceOrder()}, True),
        ({"cancel_order": commands_pb2.CancelOrder(trade_id="t")}, True),
        ({"modify_trade": commands_pb2.ModifyTrade(trade_id="t")}, True),
        ({"get_pending_orders": commands_pb2.GetPendingOrders()}, False),
    ],
)
def test_the_audit_stream_sees_the_state_changing_commands(
    body: dict[str, object], audited: bool
) -> None:
    assert decode_command(command(**body).SerializeToString(), ASSETS).audited is audited


VIEW = core.TradeView(
    trade_id="t-1",
    user_id="u1",
    email="a@b.co",
    asset="SOL_USDC",
    direction=core.Direction.LONG,
    margin=core.Usd(100_000),
    leverage=100,
    entry_price=core.Price(200_000_000),
    liquidation_price=core.Price(180_000_000),
    stop_loss=core.Price(195_000_000),
    take_profit=None,
    status=core.OrderStatus.PENDING,
    opened_at_ms=5,
    trailing_distance=core.Price(5_000_000),
    order_type=core.OrderType.LIMIT,
    order_price=core.Price(200_000_000),
    expires_at_ms=99,
)


def test_toolset_answers_and_view_fields() -> None:
    placed = result_to_proto(
        core.Response("o-1", 3, data=core.OrderPlaced("a@b.co", VIEW)), ASSETS
    ).order_placed.trade
    assert placed.status == types_pb2.TRADE_STATUS_PENDING
    assert placed.order_type == types_pb2.ORDER_TYPE_LIMIT
    assert (placed.order_price.units, placed.order_price.scale) == (200_000_000, 6)
    assert placed.trailing_stop_distance.units == 5_000_000
    assert placed.expires_at_ms == 99
    cancelled = result_to_proto(
        core.Response("o-2", 4, data=core.OrderCancelled("a@b.co", VIEW, core.Usd(100_000))),
        ASSETS,
    ).order_cancelled
    assert cancelled.margin_returned.units == 100_000
    closed = result_to_proto(
        core.Response(
            "o-3", 5, data=core.TradeClosed("a@b.co", VIEW, core.Usd(40_000), core.Usd(60_000))
        ),
        ASSETS,
    ).trade_closed
    assert (closed.margin_returned.units, closed.remaining_margin.units) == (40_000, 60_000)
    modified = result_to_proto(
        core.Response("o-4", 6, data=core.TradeModified("a@b.co", VIEW)), ASSETS
    )
    assert modified.WhichOneof("data") == "trade_modified"


def test_rejected_order_and_partial_part_views() -> None:
    rejected = replace(
        VIEW,
        status=core.OrderStatus.REJECTED,
        reason=core.Rejection(core.RejectCode.TOO_MANY_OPEN_TRADES, "cap"),
    )
    event = core.TradeEvent(9, core.OrderEventKind.ORDER_REJECTED, rejected, "", 7)
    out = event_to_proto(event, ASSETS)
    assert out.kind == events_pb2.TRADE_EVENT_KIND_ORDER_REJECTED
    assert out.trade.status == types_pb2.TRADE_STATUS_REJECTED
    assert out.trade.reason_code == types_pb2.ERROR_CODE_TOO_MANY_OPEN_TRADES
    assert out.trade.reason == "cap"
    part = replace(VIEW, status=core.TradeStatus.CLOSED, partial=True)
    assert event_to_proto(
        core.TradeEvent(10, core.OrderEventKind.TRADE_PARTIALLY_CLOSED, part, "o", 8), ASSETS
    ).trade.partial


def test_every_core_status_kind_and_code_has_a_proto_value() -> None:
    for kind in (*core.EventKind, *core.OrderEventKind):
        out = event_to_proto(core.TradeEvent(1, kind, VIEW, "", 1), ASSETS)
        assert events_pb2.TradeEventKind.Name(out.kind).endswith(kind.value)
    for status in (*core.TradeStatus, *core.OrderStatus):
        trade = event_to_proto(
            core.TradeEvent(1, core.EventKind.OPENED, replace(VIEW, status=status), "", 1), ASSETS
        ).trade
        assert types_pb2.TradeStatus.Name(trade.status) == f"TRADE_STATUS_{status.value}"
    for code in (*core.RejectCode, *core.OrderRejectCode):
        result = result_to_proto(core.Response("o", 0, rejection=core.Rejection(code, "m")), ASSETS)
        assert types_pb2.ErrorCode.Name(result.error_code) == f"ERROR_CODE_{code.value}"
    assert responses_pb2.CommandResult.DESCRIPTOR.fields_by_name["order_placed"]
