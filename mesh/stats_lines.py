"""When a service's periodic stats line is due (the engine's counts, the poller's ticks): every
STATS_EVERY_S while its work moves, at most every IDLE_STATS_EVERY_S while it does not. An idle
exchange's log is then its starts, stops and warnings, not the same line every 10 s; a busy
one still says what it does, and an idle one still says now and then that it lives.
"""

from __future__ import annotations

from collections.abc import Hashable

STATS_EVERY_S = 10.0
IDLE_STATS_EVERY_S = 300.0


class StatsLines:
    """`work` is whatever the service counts as work done (a tuple of counters, a backlog):
    a line is due when it differs from the last line's, STATS_EVERY_S after that line, or
    when IDLE_STATS_EVERY_S have passed anyway. Time is the caller's (a monotonic clock)."""

    def __init__(
        self,
        now: float,
        work: Hashable,
        *,
        every_s: float = STATS_EVERY_S,
        idle_every_s: float = IDLE_STATS_EVERY_S,
    ) -> None:
        self.every_s = every_s
        self.idle_every_s = idle_every_s
        self.last_at = now
        """When the last line was logged (or the count began): the start of the next line's
        window."""
        self._last_work = work

    def due(self, now: float, work: Hashable) -> bool:
        """Whether to log the line now; if so, the next one counts from here."""
        since = now - self.last_at
        if since < self.every_s or (work == self._last_work and since < self.idle_every_s):
            return False
        self.last_at, self._last_work = now, work
        return True
