"""The core benchmark runs end to end at tiny sizes."""

from __future__ import annotations

import pytest

from engine_svc.bench import core_bench

TINY = core_bench.Sizes(
    accounts=50,
    mixed_commands=400,
    open_positions=600,
    quiet_ticks=50,
    liquidations=60,
    trailing_stops=300,
)


def test_the_benchmark_runs_and_prints_its_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(core_bench, "QUICK", TINY)
    assert core_bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "commands/s" in out and "range over 3 runs" in out and "tick crossing nothing" in out
    assert "liquidating 60" in out and "300 trailing stops open" in out
