"""What every price source yields: one best bid/ask for one asset, in the asset's price scale."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Tick:
    """`bid` and `ask` are integers scaled by `ASSET_DECIMALS[asset]`; `ts_us` is source time."""

    asset: str
    bid: int
    ask: int
    ts_us: int


class Source(Protocol):
    """An async iterable of ticks. `name` goes into each PriceBatch so the engine log can tell
    a replay from the live feed."""

    name: str

    def __aiter__(self) -> AsyncGenerator[Tick, None]: ...
