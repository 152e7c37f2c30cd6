"""The supported assets and their price decimals, as named by their first importers; the
values live in the registry, `mesh.limits`."""

from __future__ import annotations

from mesh.limits import ASSET_DECIMALS, SUPPORTED_ASSETS, USD_SCALE

__all__ = ["ASSET_DECIMALS", "SUPPORTED_ASSETS", "USD_SCALE"]
