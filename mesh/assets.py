"""The supported assets and their price decimals: one table for every service."""

from __future__ import annotations

ASSET_DECIMALS: dict[str, int] = {"SOL_USDC": 6, "ETH_USDC": 6, "BTC_USDC": 4}
"""In the order the seed's `GET /api/v1/supportedAssets` lists them."""

SUPPORTED_ASSETS: tuple[str, ...] = tuple(ASSET_DECIMALS)
USD_SCALE = 4
