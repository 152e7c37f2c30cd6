"""The price stream read back: which ticks count, and the newest of each asset.

One rule for every reader of `engine_input` that is not the engine (the gateway's price book,
the simulator resuming after a restart): a tick counts when it is for a known asset with
positive bid <= ask, as the engine trades on it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from exchange.v1 import prices_pb2
from google.protobuf.message import DecodeError

from mesh import streams
from mesh.assets import ASSET_DECIMALS

log = logging.getLogger(__name__)

# How far back the newest ticks are looked for, in stream entries (the newest batch may hold
# only one asset), and per XREVRANGE.
LOOKBACK_ENTRIES = 2000
LOOKBACK_PAGE = 200


def usable(tick: prices_pb2.PriceTick) -> bool:
    """A known asset with positive bid <= ask (compared across their scales)."""
    if tick.asset not in ASSET_DECIMALS or not (tick.HasField("bid") and tick.HasField("ask")):
        return False
    bid, ask = tick.bid, tick.ask
    if bid.units <= 0 or ask.units <= 0 or bid.scale > 18 or ask.scale > 18:
        return False
    return bid.units * 10**ask.scale <= ask.units * 10**bid.scale


def decode_batch(entry_id: bytes, fields: Mapping[bytes, bytes]) -> prices_pb2.PriceBatch | None:
    """The entry's price batch; None (logged) when it cannot be one."""
    try:
        return prices_pb2.PriceBatch.FromString(fields.get(streams.PAYLOAD, b""))
    except DecodeError:
        log.error("prices: undecodable price batch %s", entry_id)
        return None


async def newest_ticks(
    redis: Any, assets: Collection[str] = tuple(ASSET_DECIMALS)
) -> dict[str, prices_pb2.PriceTick]:
    """The newest usable tick of each of `assets` on the price stream, walking back from its
    end until each has one or LOOKBACK_ENTRIES are read; assets not found are left out."""
    found: dict[str, prices_pb2.PriceTick] = {}
    upper, seen = b"+", 0
    while seen < LOOKBACK_ENTRIES and len(found) < len(assets):
        page = await redis.xrevrange(streams.PRICES, upper, "-", count=LOOKBACK_PAGE)
        for entry_id, fields in page:
            batch = decode_batch(entry_id, fields)
            for tick in reversed(batch.ticks if batch else ()):
                if tick.asset in assets and tick.asset not in found and usable(tick):
                    found[tick.asset] = tick
        seen += len(page)
        if len(page) < LOOKBACK_PAGE:
            break
        upper = b"(" + page[-1][0]
    return found
