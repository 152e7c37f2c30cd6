"""The orders audit row of each toolset command: its REST name, its trade, and its request
fields as exact text (a MODIFY_TRADE's removals as null, kept fields left out)."""

from __future__ import annotations

from exchange.v1 import audit_pb2, commands_pb2, responses_pb2, types_pb2

from gateway_svc.ledger.audit_rows import order_row


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def audit(result: responses_pb2.CommandResult, **body: object) -> audit_pb2.CommandAudit:
    command = commands_pb2.Command(order_id="o-1", user_id="u-1", ts_ms=7, **body)
    return audit_pb2.CommandAudit(command=command, result=result)


def test_place_order_row() -> None:
    result = responses_pb2.CommandResult(order_id="o-1")
    result.order_placed.trade.trade_id = "t-1"
    place = commands_pb2.PlaceOrder(
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_SHORT,
        order_type=types_pb2.ORDER_TYPE_STOP,
        price=dec(230_100_000, 6),
        margin=dec(100_000, 4),
        leverage=50,
        expires_at_ms=99,
    )
    row = order_row(audit(result, place_order=place))
    assert (row.command, row.status, row.trade_id) == ("PLACE_ORDER", "success", "t-1")
    assert row.request == {
        "asset": "SOL_USDC",
        "direction": "SHORT",
        "order_type": "STOP",
        "price": "230.100000",
        "margin": "10.0000",
        "leverage": 50,
        "expires_at_ms": 99,
    }


def test_modify_and_cancel_rows_name_their_trade_even_when_rejected() -> None:
    rejected = responses_pb2.CommandResult(
        order_id="o-1", error_code=types_pb2.ERROR_CODE_NOT_PENDING, message="no"
    )
    modify = commands_pb2.ModifyTrade(
        trade_id="t-2",
        asset="BTC_USDC",
        stop_loss_price=types_pb2.PriceChange(),
        take_profit_price=types_pb2.PriceChange(value=dec(901_000_000, 4)),
        expires_at=types_pb2.ExpiryChange(),
    )
    row = order_row(audit(rejected, modify_trade=modify))
    assert (row.command, row.status, row.error_code, row.trade_id) == (
        "MODIFY_TRADE",
        "error",
        "NOT_PENDING",
        "t-2",
    )
    assert row.request == {
        "trade_id": "t-2",
        "asset": "BTC_USDC",
        "stop_loss_price": None,
        "take_profit_price": "90100.0000",
        "expires_at_ms": None,
    }
    cancel = order_row(audit(rejected, cancel_order=commands_pb2.CancelOrder(trade_id="t-3")))
    assert (cancel.command, cancel.trade_id) == ("CANCEL_ORDER", "t-3")


def test_partial_close_row_keeps_the_margin() -> None:
    result = responses_pb2.CommandResult(order_id="o-1")
    result.trade_closed.trade.trade_id = "t-4"
    close = commands_pb2.CloseTrade(trade_id="t-4", margin=dec(25_000, 4))
    row = order_row(audit(result, close_trade=close))
    assert row.request == {"trade_id": "t-4", "margin": "2.5000"}
