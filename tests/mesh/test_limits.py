"""The registry of limits (mesh.limits) is the one source: the pure engine core keeps its own
copies (it may not import mesh), the C fast path its own constants, the OpenAPI document and
the validators read the registry. Each copy is checked against it here."""

from __future__ import annotations

import pytest

from engine_svc.core import Engine
from engine_svc.core import types as core
from mesh import assets, limits


def test_the_core_bounds_are_the_registry_bounds() -> None:
    assert core.USD_SCALE == limits.USD_SCALE
    assert core.MIN_LEVERAGE == limits.LEVERAGE_MIN
    assert core.MAX_LEVERAGE == limits.LEVERAGE_MAX
    assert core.DEFAULT_LEVERAGE == limits.LEVERAGE_DEFAULT


def test_mesh_assets_is_the_registry() -> None:
    assert assets.ASSET_DECIMALS is limits.ASSET_DECIMALS
    assert assets.USD_SCALE == limits.USD_SCALE
    assert tuple(limits.ASSET_DECIMALS) == assets.SUPPORTED_ASSETS


def test_bounds_fit_int64_units() -> None:
    worst_decimals = max(limits.ASSET_DECIMALS.values())
    assert limits.MAX_PRICE * 10**worst_decimals < 2**63
    assert limits.MAX_MARGIN_USD * 10**limits.USD_SCALE * limits.LEVERAGE_MAX < 2**63


def _create(engine: Engine, leverage: int, n: int) -> core.Outcome:
    body = core.CreateTrade("SOL_USDC", core.Direction.LONG, core.Usd(10**6), leverage)
    return engine.execute(core.Command(f"o-{n}", "u1", "a@b.co", 1_000 + n, body))


@pytest.mark.parametrize("native", [True, False])
def test_both_engine_paths_hold_the_registry_leverage_bounds(native: bool) -> None:
    """The C path's MIN_LEVERAGE/MAX_LEVERAGE are constants of its own: their effect must be
    the registry's bounds, exactly at each edge."""
    engine = Engine(dict(limits.ASSET_DECIMALS), native=native)
    engine.execute(core.Command("acct", "u1", "a@b.co", 1_000, core.CreateAccount()))
    engine.apply_tick(core.Tick("SOL_USDC", core.Price(200_000_000), core.Price(200_000_000), 1))
    verdicts = {
        leverage: _create(engine, leverage, n).response
        for n, leverage in enumerate(
            (
                limits.LEVERAGE_MIN - 1,
                limits.LEVERAGE_MIN,
                limits.LEVERAGE_MAX,
                limits.LEVERAGE_MAX + 1,
            )
        )
    }
    for leverage, response in verdicts.items():
        assert response is not None
        inside = limits.LEVERAGE_MIN <= leverage <= limits.LEVERAGE_MAX
        assert response.ok is inside, (leverage, response)
        if not inside:
            assert response.rejection.code is core.RejectCode.INVALID_LEVERAGE
