"""The one table the exchange benchmark prints: every figure with its median over the runs,
the lowest and highest run, its target, and (for latencies) its multiple of the floor.

Rows are declared up front, so a part that fails still has its rows, holding the error.
"""

from __future__ import annotations

import math
import os
import platform
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from launcher.bench.stats import Spread

FLOOR_KEY = "floor.total"
OPEN_LOOP_RATES = (500, 1_000, 2_000)
AUDIT_RATE = 1_000
"""The open-loop rate during which the audit lag is measured."""


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    """ms, /s, s, or n (a count)."""
    target: tuple[str, float] | None = None
    """(">=", 2000.0) or ("<=", 3.0)."""
    vs_floor: bool = False


def _open_loop_rows(rate: int) -> list[Row]:
    name = f"REST open loop {rate:,}/s"
    p99_target = ("<=", 25.0) if rate == 1_000 else None
    return [
        Row(f"open.{rate}.p50", f"{name}: p50 from scheduled send", "ms", vs_floor=True),
        Row(f"open.{rate}.p99", f"{name}: p99 from scheduled send", "ms", p99_target, True),
        Row(f"open.{rate}.max", f"{name}: max", "ms", vs_floor=True),
        Row(f"open.{rate}.errors", f"{name}: errors", "n"),
        Row(f"open.{rate}.cpu", f"{name}: CPU per request, all processes and the generator", "ms"),
    ]


ROWS: dict[str, list[Row]] = {
    "floor": [
        Row("floor.redis", "floor: Redis round trip in Python (XADD, XREADGROUP, XADD, XREAD)",
            "ms"),
        Row("floor.fsync", "floor: fdatasync of a 64-byte record on the journal's disk", "ms"),
        Row(FLOOR_KEY, "floor: a journaled command (the two above)", "ms"),
    ],
    "engine": [
        Row("engine.alone_rate",
            "engine via its streams, ledger paused, 2 clients x 64 in flight (CREATE/CLOSE)",
            "/s", (">=", 20_000.0)),
        Row("engine.rate", "engine via its streams, whole exchange running, 64 in flight", "/s"),
        Row("engine.one_p50", "engine via its streams, one client (ledger paused): p50", "ms",
            vs_floor=True),
        Row("engine.one_p99", "engine via its streams, one client (ledger paused): p99", "ms",
            vs_floor=True),
        Row("engine.rejected", "engine via its streams: rejected answers", "n"),
    ],
    "grpc": [
        Row("grpc.rate", "gRPC CreateTrade (h2load), 64 in flight", "/s", (">=", 4_000.0)),
        Row("grpc.p99", "gRPC CreateTrade, 64 in flight: p99", "ms", vs_floor=True),
        Row("grpc.one_p50", "gRPC CreateTrade, one client: p50", "ms", ("<=", 2.0), True),
        Row("grpc.one_p99", "gRPC CreateTrade, one client: p99", "ms", vs_floor=True),
        Row("grpc.cpu", "gRPC CreateTrade, 64 in flight: CPU per call, all processes", "ms"),
        Row("grpc.failed", "gRPC: h2load requests not answered HTTP 200", "n"),
        Row("grpc.sample_errors", "gRPC: grpc-status not OK, real client beside h2load", "n"),
    ],
    "rest": [
        Row("rest.rate", "REST CREATE/CLOSE (wrk), 64 connections", "/s", (">=", 2_000.0)),
        Row("rest.p99", "REST CREATE/CLOSE, 64 connections: p99", "ms", vs_floor=True),
        Row("rest.one_p50", "REST CREATE/CLOSE, one connection: p50", "ms", ("<=", 3.0), True),
        Row("rest.one_p99", "REST CREATE/CLOSE, one connection: p99", "ms", vs_floor=True),
        Row("rest.cpu", "REST CREATE/CLOSE, 64 connections: CPU per request, all processes",
            "ms"),
        Row("rest.errors", "REST (wrk): answers not 200 or socket errors", "n"),
    ],
    "ceiling": [
        Row("ceiling.grpc_rate",
            "ceiling: the gateway's frameworks alone (fixed reply), gRPC, 64 in flight", "/s"),
        Row("ceiling.grpc_cpu", "ceiling: gRPC, CPU per call", "ms"),
        Row("ceiling.rest_rate",
            "ceiling: the same, REST through one gRPC call, 64 connections", "/s"),
        Row("ceiling.rest_cpu", "ceiling: REST, CPU per request", "ms"),
        Row("ceiling.http_rate",
            "ceiling: REST without its gRPC call (uvicorn + FastAPI), 64 connections", "/s"),
        Row("ceiling.http_cpu", "ceiling: REST without its gRPC call, CPU per request", "ms"),
        Row("ceiling.errors", "ceiling: answers not 200 or socket errors", "n"),
    ],
    "open": [row for rate in OPEN_LOOP_RATES for row in _open_loop_rows(rate)] + [
        Row("audit.p99", f"audit lag at {AUDIT_RATE:,}/s: answer to orders row, p99", "ms",
            ("<=", 1000.0)),
        Row("audit.missing", "audit: answered orders with no row 10 s after the run", "n"),
    ],
    "storm": [
        Row("storm.persisted", "storm: one price move to every liquidation in Postgres", "s",
            ("<=", 10.0)),
        Row("storm.published", "storm: one price move to every event on engine_events", "s"),
        Row("storm.setup", "storm: opening the positions through the streams", "/s"),
    ],
}  # fmt: skip
PARTS = tuple(ROWS)


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    if unit == "ms":
        decimals = 2 if value < 10 else 1 if value < 1000 else 0
        return f"{value:,.{decimals}f} ms"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.0f}"


def format_range(spread: Spread, unit: str) -> str:
    low, high = format_value(spread.low, unit), format_value(spread.high, unit)
    return low if low == high else f"{low} - {high}"


def verdict(row: Row, value: float) -> str:
    if row.target is None:
        return ""
    op, bound = row.target
    met = value >= bound if op == ">=" else value <= bound
    shown = format_value(bound, row.unit)
    return f"{'>=' if op == '>=' else '<='} {shown} {'ok' if met else 'MISSED'}"


class Board:
    """The figures of one bench run: samples per row key, errors, notes."""

    def __init__(self, parts: Iterable[str]) -> None:
        self.rows = [row for part in parts for row in ROWS[part]]
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.notes: dict[str, str] = {}
        # A figure's note from each run (sample index, text): the table shows the median's.
        self.run_notes: dict[str, list[tuple[int, str]]] = defaultdict(list)

    def add(self, values: dict[str, float], notes: Mapping[str, str] | None = None) -> None:
        """One run's figures, and its notes on them (a CPU split belongs to its own run)."""
        for key, value in values.items():
            self.samples[key].append(float(value))
            if notes and key in notes:
                self.run_notes[key].append((len(self.samples[key]) - 1, notes[key]))

    def fail(self, part: str, error: str) -> None:
        for row in ROWS[part]:
            self.errors[row.key].append(error)

    def note(self, key: str, text: str) -> None:
        self.notes[key] = text

    def note_of(self, key: str, spread: Spread | None) -> str:
        """The note of the run whose figure is the median (nearest it, for an even count),
        else the last note given for the key."""
        runs = self.run_notes.get(key)
        if not runs or spread is None:
            return self.notes.get(key, "")
        samples = self.samples[key]
        return min(runs, key=lambda run: abs(samples[run[0]] - spread.median))[1]

    @property
    def failed(self) -> bool:
        return any(self.errors[row.key] for row in self.rows)

    def floor_ms(self) -> float | None:
        spread = Spread.of(self.samples.get(FLOOR_KEY, []))
        return spread.median if spread else None

    def render(self) -> str:
        floor = self.floor_ms()
        header = ("figure", "median", "lowest - highest run", "runs", "target", "x floor")
        lines: list[tuple[str, ...]] = [header]
        for row in self.rows:
            spread = Spread.of(self.samples.get(row.key, []))
            errors = self.errors.get(row.key, [])
            note = self.note_of(row.key, spread)
            if errors:
                note = f"{len(errors)} run(s) failed: {errors[-1]}" + (f"; {note}" if note else "")
            if spread is None:
                lines.append((row.label, "FAILED" if errors else "-", "", "0", "", note))
                continue
            ratio = ""
            if row.vs_floor and floor:
                ratio = f"{spread.median / floor:,.1f}x"
            lines.append(
                (
                    row.label,
                    format_value(spread.median, row.unit),
                    format_range(spread, row.unit),
                    str(spread.runs),
                    verdict(row, spread.median),
                    ratio + (f"  {note}" if note else ""),
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        out = []
        for line in lines:
            cells = [line[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:], strict=True)]
            out.append("  ".join(cells) + "  " + line[-1])
        return "\n".join(out)


def filesystem_of(path: Path) -> str:
    """The device and type of the filesystem holding `path` (the journal's: fsync's cost)."""
    best = ("", "unknown filesystem", "")
    try:
        target = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind = line.split()[:3]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[0]):
                best = (mount, kind, device)
    except (OSError, ValueError):
        pass
    return f"{best[1]} on {best[2]}" if best[2] else best[1]


def machine() -> str:
    """CPU model, cores, memory, kernel and Python: what the figures depend on."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB memory"
                break
    except (OSError, ValueError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )
