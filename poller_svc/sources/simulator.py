"""A seeded random-walk price feed, the default source: the exchange runs without network.

Prices are integers in the asset's scale and every step is an integer number of ppm drawn from
a `random.Random(seed)`, so the same seed gives the same price path on every machine.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from mesh.assets import ASSET_DECIMALS
from mesh.fixed import to_units
from poller_svc.sources.tick import Tick

PPM = 1_000_000


@dataclass(frozen=True)
class Profile:
    """Start price (as a decimal string), step size and spread, per asset."""

    start: str
    # Largest mid-price step per 100 ms, in ppm; steps are uniform in [-vol, +vol]. At 100 ms
    # this gives roughly 2-4% a day, about what these markets move.
    vol_ppm_per_100ms: int
    # Full bid/ask spread range in ppm (100 ppm = 1 basis point), drawn each tick.
    spread_ppm: tuple[int, int]


PROFILES: dict[str, Profile] = {
    "BTC_USDC": Profile("90000", 40, (100, 300)),
    "ETH_USDC": Profile("3000", 50, (100, 400)),
    "SOL_USDC": Profile("236", 70, (200, 600)),
}


class _Walk:
    """One asset's mid price, from `mid` (default: the profile's start). Never leaves
    [start/100, start*100], so it stays positive and plausible however long the exchange runs."""

    def __init__(
        self, asset: str, rng: random.Random, interval_ms: int, mid: int | None = None
    ) -> None:
        profile = PROFILES[asset]
        self.asset = asset
        self.rng = rng
        start = to_units(profile.start, ASSET_DECIMALS[asset], f"{asset} start price")
        self.floor = start // 100
        self.ceiling = start * 100
        self.mid = start if mid is None else min(max(mid, self.floor), self.ceiling)
        # Random-walk steps scale with the square root of time, so changing the update
        # interval keeps the daily volatility about the same.
        self.vol_ppm = max(1, profile.vol_ppm_per_100ms * math.isqrt(interval_ms * 100) // 100)
        self.spread_ppm = profile.spread_ppm

    def step(self, ts_us: int) -> Tick:
        step_ppm = self.rng.randint(-self.vol_ppm, self.vol_ppm)
        # Truncate toward zero on both sides: floor division would drift the price down.
        delta = self.mid * abs(step_ppm) // PPM
        moved = self.mid + delta if step_ppm >= 0 else self.mid - delta
        if self.floor <= moved <= self.ceiling:
            self.mid = moved
        half = max(1, self.mid * self.rng.randint(*self.spread_ppm) // (2 * PPM))
        return Tick(self.asset, self.mid - half, self.mid + half, ts_us)


class SimulatorSource:
    """One tick per asset every `interval_ms`, first round at once; each asset from its
    profile's start price, or from where `start_from` says the market was left."""

    name = "simulator"

    def __init__(
        self,
        assets: tuple[str, ...],
        interval_ms: int,
        seed: int,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown = [a for a in assets if a not in PROFILES]
        if unknown:
            raise ValueError(f"simulator has no price profile for {unknown}")
        self.assets = assets
        self.interval_ms = interval_ms
        self.seed = seed
        self.sleep = sleep
        self.clock_us = clock_us  # wall time, for ts_us
        self.monotonic = monotonic  # for pacing
        self.starts: dict[str, int] = {}

    def start_from(self, mids: dict[str, int]) -> None:
        """Go on from these mid prices (units of each asset) instead of the profiles'."""
        self.starts = dict(mids)

    def __aiter__(self) -> AsyncGenerator[Tick, None]:
        return self._ticks()

    async def _ticks(self) -> AsyncGenerator[Tick, None]:
        rng = random.Random(self.seed)
        walks = [
            _Walk(asset, rng, self.interval_ms, self.starts.get(asset)) for asset in self.assets
        ]
        interval_s = self.interval_ms / 1000
        deadline = self.monotonic()
        while True:
            now_us = self.clock_us()
            for walk in walks:
                yield walk.step(now_us)
            # Sleep to a fixed schedule rather than a fixed gap, so slow consumers do not
            # stretch the interval; after a long stall, restart the schedule instead of bursting.
            deadline += interval_s
            delay = deadline - self.monotonic()
            if delay < -interval_s:
                deadline = self.monotonic()
                delay = 0.0
            await self.sleep(max(0.0, delay))
