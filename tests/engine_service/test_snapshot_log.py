"""Snapshots are logged at DEBUG, one line each; INFO gets a slow snapshot and, at most every
SUMMARY_EVERY_S, one summary line (17,000 INFO lines a day at a 5 s interval, before)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine_svc.service import journal
from engine_svc.service.metrics import EngineMetrics
from engine_svc.service.snapshot_log import SLOW_FORK_PAUSE_MS, SUMMARY_EVERY_S, SnapshotLog
from engine_svc.service.snapshotting import SnapshotKeeper

INTERVAL_S = 5.0


def engine_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("engine_svc") and r.levelno == level
    ]


def test_each_snapshot_the_keeper_writes_is_a_debug_line_not_an_info_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = journal.Journal(tmp_path / "journal", fsync=False)
    records.open(0)
    seq = [0]
    keeper = SnapshotKeeper(
        tmp_path, records, 2, EngineMetrics(), lambda: {"seq": seq[0]}, INTERVAL_S
    )
    caplog.set_level(logging.DEBUG, logger="engine_svc")
    try:
        for seq[0] in range(1, 5):
            keeper.start(seq[0])
            keeper.reap(block=True)
    finally:
        records.close()

    debug = engine_lines(caplog, logging.DEBUG)
    written = [m.split(" written")[0] for m in debug if m.startswith("snapshot at seq")]
    assert written == [f"snapshot at seq {n}" for n in (1, 2, 3, 4)]
    assert engine_lines(caplog, logging.INFO) == []  # quick, and no summary due yet


def test_a_slow_snapshot_is_an_info_line(caplog: pytest.LogCaptureFixture) -> None:
    report = SnapshotLog(INTERVAL_S, clock=lambda: 0.0)
    caplog.set_level(logging.DEBUG, logger="engine_svc")
    report.written(10, 0.4, 3.0)
    report.written(11, INTERVAL_S + 0.5, 3.0)  # outlived the interval: the next one waited
    report.written(12, 0.4, SLOW_FORK_PAUSE_MS + 1)  # the engine stood still too long
    assert engine_lines(caplog, logging.INFO) == [
        "slow snapshot at seq 11: written in 5.50s (interval 5.00s), fork pause 3.0 ms "
        "(slow past 100 ms)",
        "slow snapshot at seq 12: written in 0.40s (interval 5.00s), fork pause 101.0 ms "
        "(slow past 100 ms)",
    ]
    assert len(engine_lines(caplog, logging.DEBUG)) == 3


def test_a_summary_at_most_every_few_minutes(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    report = SnapshotLog(INTERVAL_S, clock=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="engine_svc")
    seq = 0
    while now[0] < 2 * SUMMARY_EVERY_S:  # ten minutes at one snapshot every 5 s
        now[0] += INTERVAL_S
        seq += 100
        report.pruned(1, seq - 1000)  # as the keeper does: prune, then report the snapshot
        report.written(seq, 0.5 if seq != 300 else 1.25, 12.0)

    summaries = engine_lines(caplog, logging.INFO)
    assert summaries == [
        "snapshots: 60 written in the last 300s, the newest at seq 6000; slowest 1.25s, "
        "longest fork pause 12.0 ms; 60 journal segments removed",
        "snapshots: 60 written in the last 300s, the newest at seq 12000; slowest 0.50s, "
        "longest fork pause 12.0 ms; 60 journal segments removed",
    ]
    debug = engine_lines(caplog, logging.DEBUG)
    assert sum(m.startswith("snapshot at seq") for m in debug) == 120
    assert sum(m.startswith("journal: removed 1 segments") for m in debug) == 120
