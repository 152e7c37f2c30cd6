"""The engine's stats line: every 10 s while commands or events come, every few minutes while
only prices do (an idle exchange's log was a third such lines). The clock is the test's."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from engine_svc.core.engine import Engine
from engine_svc.service.runner import EngineService
from mesh.config import load_settings
from mesh.stats_lines import IDLE_STATS_EVERY_S, STATS_EVERY_S


def test_prices_alone_are_quiet_and_commands_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SNAPSHOT_DIR", str(tmp_path))
    service = EngineService(load_settings(need_secrets=False), "redis://127.0.0.1:1/0")
    service.engine = Engine({})
    start = time.monotonic()  # at or after the service's own start: its lines count from there
    caplog.set_level(logging.INFO, logger="engine_svc.service.runner")

    def lines_at(seconds: float) -> int:
        service._log_stats_if_due(start + seconds)
        return sum("price batches" in r.getMessage() for r in caplog.records)

    service._counts["price_batches"] += 100
    assert lines_at(STATS_EVERY_S) == 0  # prices only: idle
    service._counts["commands"] += 2
    service._counts["events"] += 1
    assert lines_at(2 * STATS_EVERY_S) == 1  # trading: reported
    service._counts["price_batches"] += 100
    assert lines_at(3 * STATS_EVERY_S) == 1  # idle again
    assert lines_at(2 * STATS_EVERY_S + IDLE_STATS_EVERY_S) == 2  # still alive, it says
