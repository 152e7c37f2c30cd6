"""SPEC section 7: the replay file, its pacing, bad rows and looping."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from poller_svc.sources.replay import BadRow, ReplaySource, parse_row
from poller_svc.sources.tick import Tick
from tests.poller.helpers import FakeTime, take

ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")

GOOD_AND_BAD = """ts_ms,asset,bid,ask
1000,SOL_USDC,235.95,236.01
1000,BTC_USDC,90000.1,90000.25
1250,ETH_USDC,3000.000001,3000.5
1250,SOL_USDC,235.9,236
oops,SOL_USDC,1,2
1300,DOGE_USDC,1,2
1300,SOL_USDC,-1,2
1300,SOL_USDC,1.1234567,2
1300,SOL_USDC,3,2
1300,SOL_USDC,1,2,3
1200,SOL_USDC,1,2
1300,SOL_USDC,abc,2
1300,SOL_USDC,0,2

1750,BTC_USDC,90001,90001
"""

EXPECTED = [
    Tick("SOL_USDC", 235_950_000, 236_010_000, 1_000_000),
    Tick("BTC_USDC", 900_001_000, 900_002_500, 1_000_000),
    Tick("ETH_USDC", 3_000_000_001, 3_000_500_000, 1_250_000),
    Tick("SOL_USDC", 235_900_000, 236_000_000, 1_250_000),
    Tick("BTC_USDC", 900_010_000, 900_010_000, 1_750_000),
]
BAD_LINES = [6, 7, 8, 9, 10, 11, 12, 13, 14]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(text)
    return path


def _source(path: Path, fake: FakeTime, speed: str = "1", loop: bool = False) -> ReplaySource:
    return ReplaySource(
        path,
        ASSETS,
        speed=Decimal(speed),
        loop=loop,
        interval_ms=100,
        sleep=fake.sleep,
        clock=fake.clock,
    )


async def test_good_rows_in_order_bad_rows_reported_by_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="poller_svc.sources.replay")
    ticks = await take(_source(_write(tmp_path, GOOD_AND_BAD), FakeTime()), len(EXPECTED))
    assert ticks == EXPECTED
    skipped = [r.getMessage() for r in caplog.records if "skipped:" in r.getMessage()]
    assert [int(m.split(" line ")[1].split()[0]) for m in skipped] == BAD_LINES
    text = "\n".join(skipped)
    for reason in (
        "ts_ms must be",
        "unknown asset 'DOGE_USDC'",
        "at most 6 decimals",
        "above ask",
        "expected 4 columns",
        "goes back in time",
        "must be positive",
    ):
        assert reason in text


async def test_pacing_follows_ts_differences_divided_by_speed(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_AND_BAD)
    at_1x = FakeTime()
    await take(_source(path, at_1x), len(EXPECTED))
    # First row at once; equal timestamps need no wait; 250 ms then 500 ms of file time.
    assert at_1x.requested == pytest.approx([0.25, 0.5])
    at_100x = FakeTime()
    await take(_source(path, at_100x, speed="100"), len(EXPECTED))
    assert at_100x.requested == pytest.approx([0.0025, 0.005])


async def test_real_sleep_at_high_speed_is_quick(tmp_path: Path) -> None:
    rows = "".join(f"{1000 + 100 * i},SOL_USDC,{200 + i},{201 + i}\n" for i in range(20))
    path = _write(tmp_path, "ts_ms,asset,bid,ask\n" + rows)
    source = ReplaySource(path, ASSETS, speed=Decimal(1000))  # 1.9 s of file time
    ticks = await take(source, 20, timeout=5.0)
    assert [t.bid for t in ticks] == [(200 + i) * 10**6 for i in range(20)]


async def test_loop_repeats_with_time_still_increasing(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_AND_BAD)
    fake = FakeTime()
    ticks = await take(_source(path, fake, loop=True), 3 * len(EXPECTED))
    prices = [(t.asset, t.bid, t.ask) for t in ticks]
    assert prices == [(t.asset, t.bid, t.ask) for t in EXPECTED] * 3
    stamps = [t.ts_us for t in ticks]
    assert stamps == sorted(stamps)
    # The next pass starts one update interval (100 ms) after the last row of the previous.
    assert stamps[5] == 1_750_000 + 100_000
    assert stamps[10] == stamps[5] + 750_000 + 100_000
    assert fake.requested == pytest.approx([0.25, 0.5, 0.1, 0.25, 0.5, 0.1, 0.25, 0.5])


async def test_loop_reports_bad_rows_only_on_the_first_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="poller_svc.sources.replay")
    await take(_source(_write(tmp_path, GOOD_AND_BAD), FakeTime(), loop=True), 3 * len(EXPECTED))
    assert sum("skipped:" in r.getMessage() for r in caplog.records) == len(BAD_LINES)


async def test_missing_header_is_reported_and_first_line_read_as_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, "5,SOL_USDC,1,2\n6,SOL_USDC,1.5,2\n")
    ticks = await take(_source(path, FakeTime()), 2)
    assert [t.bid for t in ticks] == [1_000_000, 1_500_000]
    assert "line 1: expected the header" in caplog.text


async def test_unconfigured_asset_rows_are_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_AND_BAD)
    source = ReplaySource(path, ("SOL_USDC",), sleep=FakeTime().sleep)
    ticks = await take(source, 2)
    assert ticks == [EXPECTED[0], EXPECTED[3]]


@pytest.mark.parametrize(
    "fields",
    [
        ["1", "SOL_USDC", "1e3", "1001"],
        ["1", "SOL_USDC", "NaN", "1"],
        ["1", "SOL_USDC", "1_000", "2000"],
        ["-1", "SOL_USDC", "1", "2"],
        ["1.5", "SOL_USDC", "1", "2"],
        ["1", "BTC_USDC", "1.00001", "2"],
        ["1", "SOL_USDC", "1"],
    ],
)
def test_parse_row_rejects(fields: list[str]) -> None:
    with pytest.raises(BadRow):
        parse_row(fields, None)


def test_parse_row_accepts_spaces_and_equal_bid_ask() -> None:
    row = parse_row([" 5 ", " BTC_USDC", "90000.0000 ", "90000"], 5)
    assert (row.ts_ms, row.asset, row.bid, row.ask) == (5, "BTC_USDC", 900_000_000, 900_000_000)


async def test_after_the_last_row_the_feed_holds_instead_of_ending(tmp_path: Path) -> None:
    source = _source(_write(tmp_path, GOOD_AND_BAD), FakeTime())
    with pytest.raises(TimeoutError):
        await take(source, len(EXPECTED) + 1, timeout=0.3)
