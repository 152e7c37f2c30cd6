"""When to start again a process that died: the one restart schedule of the exchange.

`exchange up` (launcher.cli.Supervisor) follows it for the services and the embedded servers,
the gateway's parent (gateway_svc.workers) for its workers. The n-th crash in a row waits
1, 2, 4, 8, 16, then 30 s (MAX_DELAY_S) for every crash after: a process that dies at once keeps
the machine busy for no more than a start every 30 s, while a first crash costs a second. A
process that ran STABLE_S before it died had a first crash: its count starts over, so a crash a
day always waits 1 s, never 30.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Generic, TypeVar

Key = TypeVar("Key")

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_S = 60.0
"""A process that ran this long before it died had a first crash."""


def restart_delay_s(crashes_in_a_row: int) -> float:
    """Seconds to wait before the next start after `crashes_in_a_row` crashes (1 = the first)."""
    if crashes_in_a_row < 1:
        raise ValueError(f"crashes_in_a_row must be at least 1, got {crashes_in_a_row}")
    # The exponent is capped too, so a process that dies for days never makes a huge number.
    doublings = min(crashes_in_a_row - 1, 16)
    return min(FIRST_DELAY_S * float(2**doublings), MAX_DELAY_S)


class RestartBackoff:
    """One process's crashes in a row: call `started` at each start and `crashed` when it dies;
    `crashed` answers how long to wait before starting it again."""

    def __init__(self) -> None:
        self.crashes_in_a_row = 0
        self._started_at: float | None = None

    def started(self, now: float) -> None:
        self._started_at = now

    def crashed(self, now: float) -> float:
        if self._started_at is not None and now - self._started_at >= STABLE_S:
            self.crashes_in_a_row = 0  # it ran well: this crash is a first one
        self.crashes_in_a_row += 1
        return restart_delay_s(self.crashes_in_a_row)


class RestartSchedule(Generic[Key]):
    """The restarts of several processes, each named by a key: its crashes in a row, and when
    its next start is due. A supervisor calls `started` at each start, `crashed` when one dies
    (the answer: seconds until it is due), and starts what `take_due` hands back."""

    def __init__(self) -> None:
        self._backoff: defaultdict[Key, RestartBackoff] = defaultdict(RestartBackoff)
        self.due: dict[Key, float] = {}
        """key -> when its restart is due (monotonic seconds), while it waits."""

    def started(self, key: Key, now: float) -> None:
        self._backoff[key].started(now)

    def crashed(self, key: Key, now: float) -> float:
        delay = self._backoff[key].crashed(now)
        self.due[key] = now + delay
        return delay

    def waiting(self, key: Key) -> bool:
        return key in self.due

    def take_due(self, now: float) -> list[Key]:
        """The keys whose restart is due by `now`, in the order they died; no longer waiting."""
        ready = [key for key, at in self.due.items() if now >= at]
        for key in ready:
            del self.due[key]
        return ready
