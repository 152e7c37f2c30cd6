"""What the engine says about its snapshots: a DEBUG line for each, INFO only when it matters.

A snapshot every ENGINE_SNAPSHOT_INTERVAL (5 s) made 17,000 INFO lines a day that said nothing.
Now each snapshot and each journal pruning is a DEBUG line; at INFO come a snapshot that was
slow (its writer outlived the interval, so the next one waited, or the fork paused the engine
over SLOW_FORK_PAUSE_MS) and, at most every SUMMARY_EVERY_S, one line summing up the snapshots
since the last. A failed snapshot is an ERROR where it is found (snapshotting). The metrics
(engine_snapshot_age_seconds, engine_last_snapshot_duration_seconds) are kept apart, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

SUMMARY_EVERY_S = 300.0
SLOW_FORK_PAUSE_MS = 100.0
"""The engine stands still while it forks; past this, commands noticeably waited."""


class SnapshotLog:
    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._since = clock()
        self._written = 0
        self._slowest_s = 0.0
        self._longest_pause_ms = 0.0
        self._segments_removed = 0
        self._newest_seq = -1

    def written(self, seq: int, took_s: float, fork_pause_ms: float) -> None:
        log.debug(
            "snapshot at seq %d written in %.2fs (fork pause %.1f ms)", seq, took_s, fork_pause_ms
        )
        if took_s > self.interval_s or fork_pause_ms > SLOW_FORK_PAUSE_MS:
            log.info(
                "slow snapshot at seq %d: written in %.2fs (interval %.2fs), fork pause %.1f ms "
                "(slow past %.0f ms)",
                seq, took_s, self.interval_s, fork_pause_ms, SLOW_FORK_PAUSE_MS,
            )  # fmt: skip
        self._written += 1
        self._slowest_s = max(self._slowest_s, took_s)
        self._longest_pause_ms = max(self._longest_pause_ms, fork_pause_ms)
        self._newest_seq = seq
        self._summarize_if_due()

    def pruned(self, segments: int, before_seq: int) -> None:
        log.debug("journal: removed %d segments before seq %d", segments, before_seq)
        self._segments_removed += segments

    def _summarize_if_due(self) -> None:
        now = self._clock()
        if now - self._since < SUMMARY_EVERY_S:
            return
        log.info(
            "snapshots: %d written in the last %.0fs, the newest at seq %d; slowest %.2fs, "
            "longest fork pause %.1f ms; %d journal segments removed",
            self._written, now - self._since, self._newest_seq, self._slowest_s,
            self._longest_pause_ms, self._segments_removed,
        )  # fmt: skip
        self._since = now
        self._written = self._segments_removed = 0
        self._slowest_s = self._longest_pause_ms = 0.0
