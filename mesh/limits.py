"""The one registry of limits and scales: every edge (REST, gRPC, the poller, the engine
service, the ledger, the OpenAPI document) reads its bounds from here.

The pure engine core may not import mesh, so it keeps its own copies of the business bounds
(leverage, USD scale); tests/mesh/test_limits.py asserts they equal these.
"""

from __future__ import annotations

USD_SCALE = 4
"""USD amounts are integers of 0.0001."""

ASSET_DECIMALS: dict[str, int] = {"SOL_USDC": 6, "ETH_USDC": 6, "BTC_USDC": 4}
"""Each asset's price decimals, in the order the seed's `GET /api/v1/supportedAssets` lists them."""

SUPPORTED_ASSETS: tuple[str, ...] = tuple(ASSET_DECIMALS)

LEVERAGE_MIN, LEVERAGE_MAX, LEVERAGE_DEFAULT = 10, 1000, 10
"""Leverage integers: 10..1000 mean 1.0x..100.0x."""

# Far above any real margin or price, far below int64 units: they only stop abuse and overflow.
MAX_MARGIN_USD = 1_000_000_000
MAX_PRICE = 1_000_000_000
"""Whole units of an asset's price; also bounds a trailing stop's distance."""

MAX_INPUT_SCALE = 18
"""The most decimal places an input may be written with (trailing zeros count): a proto
Decimal's scale is a uint32, and 10**4_000_000_000 would hang the process."""

MAX_TIME_MS = 10**13
"""The year 2286: bounds every ms-since-the-epoch input (expiry, candle ranges)."""

PAGE_MIN, PAGE_MAX, PAGE_DEFAULT = 1, 200, 50
