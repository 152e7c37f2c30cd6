"""Where the simulator goes on from: the newest mid price of each asset on `engine_input`.

A restarted exchange keeps its Redis (the embedded one in its AOF), so the simulator can carry
on from the market it left instead of jumping back to its profile's start price: a jump no
market made, which would drag trailing stops along and fire levels it crossed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from redis.exceptions import RedisError

from mesh.assets import ASSET_DECIMALS
from mesh.fixed import FixedPointError, rescale
from mesh.price_ticks import newest_ticks

log = logging.getLogger(__name__)

# A Redis that is still starting (loading its AOF) gets a few tries; one that does not answer
# at all costs the start a few seconds, then the profiles' prices are the start.
ATTEMPTS = 4
ATTEMPT_TIMEOUT_S = 2.0
BETWEEN_ATTEMPTS_S = 0.5


async def last_mids(client: Any, assets: Collection[str]) -> dict[str, int]:
    """{asset: (bid + ask) // 2} of the newest usable tick of each of `assets` on the price
    stream, in the asset's units; assets it does not find are left out, and all of them when
    Redis cannot be read."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            ticks = await asyncio.wait_for(newest_ticks(client, assets), ATTEMPT_TIMEOUT_S)
            break
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("poller: could not read the last prices (try %d): %r", attempt, exc)
            if attempt < ATTEMPTS:
                await asyncio.sleep(BETWEEN_ATTEMPTS_S)
    else:
        log.warning("poller: the simulator starts from its own prices")
        return {}
    mids: dict[str, int] = {}
    for asset, tick in ticks.items():
        scale = ASSET_DECIMALS[asset]
        try:
            bid = rescale(tick.bid.units, tick.bid.scale, scale)
            ask = rescale(tick.ask.units, tick.ask.scale, scale)
        except FixedPointError:
            continue  # finer than the asset trades: not a price the simulator can go on from
        mids[asset] = (bid + ask) // 2
    return mids
