"""The engine's snapshots while it runs: forked so that the engine goes on, reaped, the
journal pruned behind them, and a final one written at a clean stop. What it logs of them,
and at which level, is snapshot_log's."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine_svc.service import journal, snapshots
from engine_svc.service.metrics import EngineMetrics
from engine_svc.service.snapshot_log import SnapshotLog

log = logging.getLogger(__name__)


@dataclass
class _Child:
    pid: int
    seq: int
    started: float


class SnapshotKeeper:
    def __init__(
        self,
        directory: Path,
        records: journal.Journal,
        keep: int,
        metrics: EngineMetrics,
        data: Callable[[], dict[str, Any]],
        interval_s: float,
    ) -> None:
        self.directory = directory
        self.journal = records
        self.keep = keep
        self.metrics = metrics
        self.data = data
        """The engine's state as a snapshot holds it, taken when called."""
        self.last_seq = -1
        """The engine seq the newest snapshot (written or being written) is at."""
        self.last_fork_pause_ms = 0.0
        self.report = SnapshotLog(interval_s)
        self._child: _Child | None = None

    def start(self, seq: int) -> None:
        """Fork: the child writes the snapshot from a copy-on-write image while we go on.
        The caller has published everything applied so far (see the runner)."""
        if self._child is not None or seq == self.last_seq:
            return
        self.journal.commit()
        self.journal.open(seq)
        pid, self.last_fork_pause_ms = snapshots.fork_writer(self.directory, self.data, self.keep)
        self._child = _Child(pid, seq, time.monotonic())
        self.last_seq = seq

    def reap(self, block: bool = False) -> None:
        """Collect the child if it is done (or wait for it): log, count, prune the journal."""
        child = self._child
        if child is None:
            return
        pid, status = os.waitpid(child.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return
        self._child = None
        if os.waitstatus_to_exitcode(status) != 0:
            log.error("snapshot at seq %d failed (child exit %s)", child.seq, status)
            self.last_seq = -1
            return
        took_s = time.monotonic() - child.started
        self.metrics.snapshot_written(took_s)
        self.prune_journal()  # first, so a summary the report gives now counts it
        self.report.written(child.seq, took_s, self.last_fork_pause_ms)

    def prune_journal(self) -> None:
        kept = snapshots.timestamped(self.directory)
        oldest_seq = snapshots.peek_seq(kept[-1]) if kept else None
        if oldest_seq is not None:
            removed = self.journal.prune_before(oldest_seq)
            if removed:
                self.report.pruned(removed, oldest_seq)

    def write_final(self, seq: int) -> None:
        """Write a snapshot here and now (at a clean stop), unless the newest is at `seq`."""
        if seq == self.last_seq:
            return
        started = time.monotonic()
        path = snapshots.write(self.directory, self.data(), int(time.time() * 1000), self.keep)
        self.journal.open(seq)
        self.prune_journal()
        took_s = time.monotonic() - started
        self.metrics.snapshot_written(took_s)
        log.info("final snapshot %s at seq %d in %.2fs", path.name, seq, took_s)
