"""Plays a price file (SPEC section 7): CSV `ts_ms,asset,bid,ask`, in file order, at the pace of
the `ts_ms` differences divided by POLLER_REPLAY_SPEED; then holds the last prices, or loops.

A bad row is logged with its line number and skipped: a replay must never stop the feed.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from mesh.assets import ASSET_DECIMALS
from mesh.fixed import FixedPointError, to_units
from poller_svc.sources.tick import Tick

log = logging.getLogger(__name__)

HEADER = ["ts_ms", "asset", "bid", "ask"]
# Plain decimals only: Decimal() would also take "1e3", "+5", "1_000" and "NaN".
_PRICE = re.compile(r"\d+(\.\d+)?")
_MILLIS = re.compile(r"\d+")
# Further behind schedule than this (a long stall downstream), restart the schedule rather
# than bursting every missed row out at once.
MAX_LAG_S = 1.0
REOPEN_DELAY_S = 5.0
YIELD_EVERY = 256


class BadRow(ValueError):
    """Why a row is skipped; the caller adds the line number."""


@dataclass(frozen=True, slots=True)
class Row:
    ts_ms: int
    asset: str
    bid: int
    ask: int


def parse_row(fields: list[str], prev_ts_ms: int | None) -> Row:
    """One data row, checked completely. `prev_ts_ms` is the last good row's time."""
    if len(fields) != len(HEADER):
        raise BadRow(f"expected {len(HEADER)} columns ({','.join(HEADER)}), got {len(fields)}")
    ts_text, asset, bid_text, ask_text = (f.strip() for f in fields)
    if not _MILLIS.fullmatch(ts_text):
        raise BadRow(f"ts_ms must be a non-negative integer, got {ts_text!r}")
    ts_ms = int(ts_text)
    if prev_ts_ms is not None and ts_ms < prev_ts_ms:
        raise BadRow(f"ts_ms {ts_ms} goes back in time (previous row: {prev_ts_ms})")
    scale = ASSET_DECIMALS.get(asset)
    if scale is None:
        raise BadRow(f"unknown asset {asset!r}")
    bid = _price(bid_text, scale, "bid")
    ask = _price(ask_text, scale, "ask")
    if bid > ask:
        raise BadRow(f"bid {bid_text} is above ask {ask_text}")
    return Row(ts_ms, asset, bid, ask)


def _price(text: str, scale: int, what: str) -> int:
    if not _PRICE.fullmatch(text):
        raise BadRow(f"{what} must be a positive decimal number, got {text!r}")
    try:
        units = to_units(text, scale, what)
    except FixedPointError as exc:
        raise BadRow(str(exc)) from None
    if units <= 0:
        raise BadRow(f"{what} must be positive, got {text!r}")
    return units


class ReplaySource:
    name = "replay"

    def __init__(
        self,
        path: Path,
        assets: tuple[str, ...],
        *,
        speed: Decimal = Decimal(1),
        loop: bool = False,
        interval_ms: int = 100,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be positive, got {speed}")
        self.path = path
        self.assets = assets
        self.speed = speed
        self.loop = loop
        # The gap between the last row of one pass and the first row of the next, in file time.
        self.gap_ms = interval_ms
        self.sleep = sleep
        self.clock = clock

    def __aiter__(self) -> AsyncGenerator[Tick, None]:
        return self._ticks()

    async def _ticks(self) -> AsyncGenerator[Tick, None]:
        offset_ms = 0  # added to ts_ms on each later pass, so time keeps increasing
        anchor: tuple[float, int] | None = None  # (clock, virtual ms) the schedule counts from
        first_pass = True
        while True:
            emitted = 0
            first_ts = last_ts = None
            try:
                handle = self.path.open(newline="", encoding="utf-8-sig", errors="replace")
            except OSError as exc:
                log.error(
                    "replay %s cannot be read (%s); retrying in %.0fs",
                    self.path,
                    exc,
                    REOPEN_DELAY_S,
                )
                await self.sleep(REOPEN_DELAY_S)
                continue
            for row in self._rows(handle, report=first_pass):
                virtual_ms = row.ts_ms + offset_ms
                if anchor is None:
                    anchor = (self.clock(), virtual_ms)
                else:
                    anchor = await self._wait_until(anchor, virtual_ms)
                yield Tick(row.asset, row.bid, row.ask, virtual_ms * 1000)
                emitted += 1
                if emitted % YIELD_EVERY == 0:
                    # Rows with equal times need no sleep; let the publisher run between them.
                    await asyncio.sleep(0)
                first_ts = row.ts_ms if first_ts is None else first_ts
                last_ts = row.ts_ms
            if first_ts is None or last_ts is None:
                log.error("replay %s has no usable rows; the feed stays idle", self.path)
                await asyncio.Future()  # idle until cancelled
                return
            if not self.loop:
                log.info(
                    "replay %s finished (%d ticks); holding the last prices", self.path, emitted
                )
                await asyncio.Future()
                return
            log.info("replay %s: pass done (%d ticks); looping", self.path, emitted)
            offset_ms += last_ts - first_ts + self.gap_ms
            first_pass = False

    async def _wait_until(self, anchor: tuple[float, int], virtual_ms: int) -> tuple[float, int]:
        """Sleep until the row's place on the schedule; returns the (maybe restarted) anchor."""
        start_clock, start_ms = anchor
        target = start_clock + float(Decimal(virtual_ms - start_ms) / 1000 / self.speed)
        delay = target - self.clock()
        if delay < -MAX_LAG_S:
            log.warning("replay is %.1fs behind schedule; continuing from here", -delay)
            return (self.clock(), virtual_ms)
        if delay > 0:
            await self.sleep(delay)
        return anchor

    def _rows(self, handle: TextIO, report: bool) -> Iterator[Row]:
        """Good rows in file order. Bad rows are logged on the first pass only (`report`), so
        a looping replay does not repeat the same complaints forever."""
        skipped_assets: set[str] = set()
        bad = 0
        prev_ts: int | None = None
        with handle:
            reader = csv.reader(handle)
            header_seen = False
            for fields in reader:
                if not fields or all(not f.strip() for f in fields):
                    continue
                if not header_seen:
                    header_seen = True
                    if [f.strip().lower() for f in fields] == HEADER:
                        continue
                    if report:
                        log.warning(
                            "replay %s line %d: expected the header %s; reading it as data",
                            self.path,
                            reader.line_num,
                            ",".join(HEADER),
                        )
                try:
                    row = parse_row(fields, prev_ts)
                except BadRow as exc:
                    bad += 1
                    if report:
                        log.warning(
                            "replay %s line %d skipped: %s", self.path, reader.line_num, exc
                        )
                    continue
                prev_ts = row.ts_ms
                if row.asset not in self.assets:
                    if report and row.asset not in skipped_assets:
                        log.info(
                            "replay %s: skipping %s rows (not in POLLER_ASSETS)",
                            self.path,
                            row.asset,
                        )
                    skipped_assets.add(row.asset)
                    continue
                yield row
        if report and bad:
            log.warning("replay %s: %d bad rows skipped", self.path, bad)
