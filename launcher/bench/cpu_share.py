"""Where a closed loop's CPU goes: each service's processes read from /proc around the run.

On two cores every process of the exchange competes for the same CPU, so the rate a loop
reaches is set by the CPU one request costs over all of them. Printed beside the rate, per
service, it says what limits the figure in the same run that measured it: the gateway's
workers, the engine, the ledgers, Redis and Postgres (when they are the exchange's own, embedded
servers; a server found by URL is not this bench's to count).

A service is its root processes and all their descendants (a gateway's workers, Postgres's
backends). The figure is the CPU over the whole block (the load tool's start and warm-up too)
divided by the loop's rate times the block's length, so it runs a little high; work that is
not the requests' (a snapshot, a ledger's backlog) counts too. Linux only: elsewhere nothing
is counted and the rows stay empty.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds in user and system mode) of a live process, with those of
    the children it has reaped: a worker restarted inside the block keeps its share."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: the fields start after its ')'.
    fields = text[text.rfind(")") + 2 :].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return int(fields[1]), ticks / _TICKS_PER_S


def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds) for every process now alive."""
    table = {}
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                table[int(entry.name)] = stat
    return table


def cpu_by_service(roots: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """CPU seconds so far of each service: its roots and everything they started."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    totals = {}
    for service, pids in roots.items():
        seen: set[int] = set()
        stack = [pid for pid in pids if pid in table]
        while stack:
            pid = stack.pop()
            if pid not in seen:
                seen.add(pid)
                stack.extend(children.get(pid, ()))
        totals[service] = sum(table[pid][1] for pid in seen)
    return totals


@dataclass
class CpuShare:
    """CPU seconds each service spent over a block, and the block's wall time."""

    seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    def per_request_ms(self, rate_per_s: float) -> dict[str, float]:
        """Each service's CPU per request at `rate_per_s` (the loop's rate over the block)."""
        if rate_per_s <= 0 or self.wall_s <= 0:
            return {}
        return {name: 1000 * cpu / self.wall_s / rate_per_s for name, cpu in self.seconds.items()}

    def describe(self, rate_per_s: float) -> str:
        """Each service's share, largest first, and how many cores were busy in all:
        `gateway 1.10 + engine 0.29 + ... ms; 1.9 cores busy`."""
        shares = sorted(self.per_request_ms(rate_per_s).items(), key=lambda item: -item[1])
        if not shares:
            return ""
        shares = [(name, ms) for name, ms in shares if ms >= 0.005] or shares[:1]
        parts = " + ".join(f"{name} {ms:.2f}" for name, ms in shares)
        busy = sum(self.seconds.values()) / self.wall_s
        return f"{parts} ms; {busy:.1f} cores busy"


@contextmanager
def measured(roots: Mapping[str, Sequence[int]]) -> Iterator[CpuShare]:
    """The CPU each service spends inside the block, filled in when it ends."""
    share = CpuShare()
    before = cpu_by_service(roots)
    started = time.monotonic()
    try:
        yield share
    finally:
        after = cpu_by_service(roots)
        share.wall_s = time.monotonic() - started
        share.seconds = {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}
