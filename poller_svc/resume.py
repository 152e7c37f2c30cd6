"""Where the simulator goes on from: the newest mid price of each asset on `engine_input`.

A restarted exchange keeps its Redis (the embedded one in its AOF), so the simulator can carry
on from the market it left instead of jumping back to its profile's start price: a jump no
market made, which would drag trailing stops along and fire levels it crossed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from exchange.v1 import prices_pb2
from google.protobuf.message import DecodeError
from redis.exceptions import RedisError

from mesh.assets import ASSET_DECIMALS
from mesh.streams import PAYLOAD, PRICES

log = logging.getLogger(__name__)

# Batches read back, newest first: each holds a tick of every asset the poller publishes, so a
# few are enough; more covers an asset that another source published less often.
LOOK_BACK = 200


async def last_mids(client: Any, assets: Collection[str]) -> dict[str, int]:
    """{asset: (bid + ask) // 2} of the newest tick of each of `assets` on the price stream, in
    the asset's units; assets it does not find are left out. Redis failing is no reason not
    to start: the simulator then starts from its profile."""
    try:
        entries = await client.xrevrange(PRICES, count=LOOK_BACK)
    except (RedisError, OSError) as exc:
        log.warning("poller: could not read the last prices (%r): starting afresh", exc)
        return {}
    mids: dict[str, int] = {}
    for _id, fields in entries:
        try:
            batch = prices_pb2.PriceBatch.FromString(fields.get(PAYLOAD, b""))
        except DecodeError:
            continue
        for tick in reversed(batch.ticks):
            asset = tick.asset
            if asset in mids or asset not in assets or asset not in ASSET_DECIMALS:
                continue
            scale = ASSET_DECIMALS[asset]
            if tick.bid.scale == tick.ask.scale == scale and 0 < tick.bid.units <= tick.ask.units:
                mids[asset] = (tick.bid.units + tick.ask.units) // 2
        if len(mids) == len(assets):
            break
    return mids
