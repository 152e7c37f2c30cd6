"""The page's money vectors are the engine's current answers (see make_vectors.py)."""

from __future__ import annotations

import json

from tests.browser.make_vectors import VECTORS, build, render


def test_committed_vectors_match_the_engine() -> None:
    assert VECTORS.exists(), "run: .venv/bin/python -m tests.browser.make_vectors"
    assert VECTORS.read_text() == render(), (
        "web/test/money-vectors.json is stale: the engine's money math changed; "
        "run .venv/bin/python -m tests.browser.make_vectors and check the TS module"
    )


def test_vectors_cover_both_sides_and_the_missing_liquidation_price() -> None:
    data = build()
    assert len(data["pnl"]) > 500 and len(data["liquidation"]) > 500
    assert any(c["liquidation"] is None for c in data["liquidation"])  # a 1x LONG has none
    assert any(c["cappedPnl"] != c["pnl"] for c in data["pnl"])  # the cap is exercised
    assert {c["long"] for c in data["pnl"]} == {True, False}
    assert json.loads(VECTORS.read_text())["source"].startswith("engine_svc.core.money")
