"""Protobuf inputs for engine-service tests, as a gateway and the poller would send them."""

from __future__ import annotations

import uuid

from exchange.v1 import commands_pb2, prices_pb2, types_pb2

from mesh.assets import ASSET_DECIMALS


def price_batch(prices: dict[str, tuple[str, str]], ts_us: int = 1) -> bytes:
    """{"SOL_USDC": ("235.90", "235.95")} -> a serialized PriceBatch."""
    batch = prices_pb2.PriceBatch(source="test")
    for asset, (bid, ask) in prices.items():
        scale = ASSET_DECIMALS[asset]
        tick = batch.ticks.add(asset=asset, ts_us=ts_us)
        tick.bid.units, tick.bid.scale = _units(bid, scale), scale
        tick.ask.units, tick.ask.scale = _units(ask, scale), scale
    return batch.SerializeToString()


def _units(text: str, scale: int) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 10**scale + int((frac + "0" * scale)[:scale] or 0)


def command(
    user: str,
    body: str,
    reply_to: str = "test",
    order_id: str | None = None,
    ts_ms: int = 1_000,
    **fields: object,
) -> commands_pb2.Command:
    msg = commands_pb2.Command(
        order_id=order_id or str(uuid.uuid4()),
        user_id=user,
        email=f"{user}@example.com",
        ts_ms=ts_ms,
        reply_to=reply_to,
    )
    target = getattr(msg, body)
    target.SetInParent()
    for name, value in fields.items():
        setattr(target, name, value)
    return msg


def create_trade(
    user: str, asset: str, direction: str, margin_units: int, leverage: int, **kw: object
) -> commands_pb2.Command:
    msg = command(user, "create_trade", **kw)
    trade = msg.create_trade
    trade.asset = asset
    trade.direction = types_pb2.Direction.Value(f"DIRECTION_{direction}")
    trade.margin.units, trade.margin.scale = margin_units, 4
    trade.leverage = leverage
    return msg


def close_trade(user: str, trade_id: str, **kw: object) -> commands_pb2.Command:
    return command(user, "close_trade", trade_id=trade_id, **kw)
