"""Test inputs: engine TradeEvents (a SOL_USDC LONG 10x, 100 USD margin) and price ticks."""

from __future__ import annotations

from exchange.v1 import audit_pb2, commands_pb2, events_pb2, prices_pb2, responses_pb2, types_pb2


def usd(units: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=4)


def price(units: int, scale: int = 6) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def opened(
    seq: int,
    trade_id: str,
    user_id: str = "u1",
    ts_ms: int = 1_700_000_000_000,
    order_id: str = "o-open",
) -> events_pb2.TradeEvent:
    """A SOL_USDC LONG 10x, 100 USD margin, opened at 236.14."""
    trade = types_pb2.Trade(
        trade_id=trade_id,
        user_id=user_id,
        email=f"{user_id}@example.com",
        asset="SOL_USDC",
        direction=types_pb2.DIRECTION_LONG,
        margin=usd(1_000_000),
        leverage=100,
        entry_price=price(236_140_000),
        liquidation_price=price(212_526_000),
        status=types_pb2.TRADE_STATUS_OPEN,
        opened_at_ms=ts_ms,
    )
    return events_pb2.TradeEvent(
        event_seq=seq,
        kind=events_pb2.TRADE_EVENT_KIND_OPENED,
        trade=trade,
        order_id=order_id,
        ts_ms=ts_ms,
    )


def closed(
    seq: int,
    trade_id: str,
    user_id: str = "u1",
    closed_at_ms: int = 1_700_000_060_000,
    kind: int = events_pb2.TRADE_EVENT_KIND_CLOSED,
    order_id: str = "o-close",
) -> events_pb2.TradeEvent:
    """The same trade closed at 240.00: pnl = 1000 * 3.86 / 236.14 USD, rounded down."""
    event = opened(seq, trade_id, user_id, ts_ms=closed_at_ms - 60_000)
    status = {
        events_pb2.TRADE_EVENT_KIND_CLOSED: types_pb2.TRADE_STATUS_CLOSED,
        events_pb2.TRADE_EVENT_KIND_LIQUIDATED: types_pb2.TRADE_STATUS_LIQUIDATED,
        events_pb2.TRADE_EVENT_KIND_STOP_LOSS: types_pb2.TRADE_STATUS_STOP_LOSS,
        events_pb2.TRADE_EVENT_KIND_TAKE_PROFIT: types_pb2.TRADE_STATUS_TAKE_PROFIT,
    }[kind]
    event.kind = kind  # type: ignore[assignment]
    event.order_id = order_id
    event.ts_ms = closed_at_ms
    event.trade.status = status  # type: ignore[assignment]
    event.trade.exit_price.CopyFrom(price(240_000_000))
    event.trade.pnl.CopyFrom(usd(163_462))
    event.trade.total_return.CopyFrom(usd(1_163_462))
    event.trade.closed_at_ms = closed_at_ms
    return event


T0_MS = 1_700_000_100_000  # on a 5-minute boundary
MINUTE_MS = 60_000


def tick(at_ms: int, ask: int, asset: str = "SOL_USDC", scale: int = 6) -> prices_pb2.PriceTick:
    # The bid is far off on purpose: candles follow the ask only.
    return prices_pb2.PriceTick(
        asset=asset,
        bid=types_pb2.Decimal(units=1, scale=scale),
        ask=types_pb2.Decimal(units=ask, scale=scale),
        ts_us=at_ms * 1000,
    )


FIRST_MINUTE = [
    tick(T0_MS + 1_000, 236_140_000),
    tick(T0_MS + 20_000, 237_000_000),
    tick(T0_MS + 30_000, 235_500_000),
    tick(T0_MS + 59_999, 236_000_000),
]
SECOND_MINUTE = [
    tick(T0_MS + MINUTE_MS + 5_000, 236_100_000),
    # 238.5 sent at scale 1: rescaled exactly to the asset's 6 decimals.
    tick(T0_MS + MINUTE_MS + 10_000, 2385, scale=1),
    tick(T0_MS + MINUTE_MS + 50_000, 236_900_000),
]


def audit(
    order_id: str,
    user_id: str = "u1",
    body: str = "create_trade",
    *,
    error_code: int = 0,
    ts_ms: int = 1_700_000_000_000,
    latency_us: int = 850,
    engine_seq: int = 7,
) -> audit_pb2.CommandAudit:
    """The engine's record of one answered command: a SOL_USDC SHORT 100x with a stop loss,
    a close of trade `t-<order_id>`, or an account opening."""
    command = commands_pb2.Command(order_id=order_id, user_id=user_id, ts_ms=ts_ms, reply_to="gw")
    result = responses_pb2.CommandResult(
        order_id=order_id, error_code=error_code, engine_seq=engine_seq
    )  # type: ignore[arg-type]
    if body == "create_trade":
        command.create_trade.CopyFrom(
            commands_pb2.CreateTrade(
                asset="SOL_USDC",
                direction=types_pb2.DIRECTION_SHORT,
                margin=usd(1_005_000),
                leverage=1000,
                stop_loss_price=price(238_000_000),
            )
        )
        if not error_code:
            result.trade_opened.trade.trade_id = f"t-{order_id}"
    elif body == "close_trade":
        command.close_trade.trade_id = f"t-{order_id}"
        if not error_code:
            result.trade_closed.trade.trade_id = f"t-{order_id}"
    else:
        command.create_account.SetInParent()
        result.account_created.email = f"{user_id}@example.com"
    if error_code:
        result.message = ""  # the registry's default message then stands in
    return audit_pb2.CommandAudit(
        command=command, result=result, answered_at_ms=ts_ms + 1, engine_latency_us=latency_us
    )
