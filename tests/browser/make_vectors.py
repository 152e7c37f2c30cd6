"""Test vectors for the page's money module (web/src/money.ts), computed by the engine itself.

The terminal previews notional, liquidation price and PnL at SL/TP before a trade is sent.
Rather than trust a second hand-written copy of SPEC section 4, the vitest suite checks the
TypeScript functions against these cases, produced by `engine_svc.core.money`. A pytest
(test_vectors.py) fails when the committed file no longer matches what the engine computes.

    .venv/bin/python -m tests.browser.make_vectors   # rewrites web/test/money-vectors.json
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from engine_svc.core import money

VECTORS = Path(__file__).resolve().parents[2] / "web" / "test" / "money-vectors.json"
SEED = 20261129
# Leverages that divide 10 evenly and ones that do not (so rounding direction matters).
LEVERAGES = (10, 11, 15, 20, 30, 33, 50, 75, 99, 100, 125, 250, 333, 500, 999, 1000)
# Maintenance margin rates in parts per million: none (the default), 0.5%, 1%, and odd ones.
MAINTENANCE_PPM = (0, 5_000, 10_000, 12_345, 99_999)
DECIMALS = {"BTC_USDC": 4, "ETH_USDC": 6, "SOL_USDC": 6}


def _prices(rng: random.Random, decimals: int) -> list[int]:
    one = 10**decimals
    fixed = [1, 7, one, 235_950_000 if decimals == 6 else 900_127_000, 3 * one + 1]
    return fixed + [rng.randint(1, 200_000 * one) for _ in range(6)]


def build() -> dict[str, Any]:
    rng = random.Random(SEED)
    pnl_cases: list[dict[str, Any]] = []
    liquidation_cases: list[dict[str, Any]] = []
    for asset, decimals in DECIMALS.items():
        for entry in _prices(rng, decimals):
            for leverage in rng.sample(LEVERAGES, 5):
                for is_long in (True, False):
                    margin = rng.choice((1, 9_999, 1_000_000, 50_000_000, rng.randint(1, 10**9)))
                    # Prices on both sides of the entry, the entry itself, and a crash to ~0.
                    for price in (
                        entry,
                        max(1, entry // 3),
                        entry * 2 + 1,
                        max(1, entry - rng.randint(0, entry)),
                        1,
                    ):
                        pnl_cases.append(
                            {
                                "asset": asset,
                                "long": is_long,
                                "margin": str(margin),
                                "leverage": leverage,
                                "entry": str(entry),
                                "price": str(price),
                                "pnl": str(money.pnl(is_long, margin, leverage, entry, price)),
                                "cappedPnl": str(
                                    money.capped_pnl(is_long, margin, leverage, entry, price)
                                ),
                            }
                        )
                    for ppm in MAINTENANCE_PPM:
                        level = money.liquidation_price(is_long, entry, leverage, ppm)
                        liquidation_cases.append(
                            {
                                "asset": asset,
                                "long": is_long,
                                "entry": str(entry),
                                "leverage": leverage,
                                "maintenancePpm": ppm,
                                "liquidation": None if level is None else str(level),
                            }
                        )
    return {
        "source": "engine_svc.core.money (tests/browser/make_vectors.py)",
        "pnl": pnl_cases,
        "liquidation": liquidation_cases,
    }


def render() -> str:
    """One case a line: small diffs when the engine's answers change."""
    data = build()

    def rows(cases: list[dict[str, Any]]) -> str:
        return ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases)

    return (
        f'{{"source":{json.dumps(data["source"])},\n"pnl":[\n{rows(data["pnl"])}\n],\n'
        f'"liquidation":[\n{rows(data["liquidation"])}\n]}}\n'
    )


if __name__ == "__main__":
    VECTORS.write_text(render())
    print(f"wrote {VECTORS}")
