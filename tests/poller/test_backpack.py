"""The Backpack client against a local WebSocket server speaking the fixture's frames."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest
from websockets.asyncio.server import ServerConnection, serve

from mesh.assets import ASSET_DECIMALS
from mesh.fixed import to_units
from poller_svc.sources.backpack import BackpackSource, FrameParser
from poller_svc.sources.tick import Tick
from tests.conftest import FIXTURES
from tests.poller.helpers import FakeTime, take

ASSETS = ("SOL_USDC", "ETH_USDC", "BTC_USDC")
FRAMES = (FIXTURES / "backpack_bookticker.jsonl").read_text().splitlines()
SUBSCRIBE = {
    "method": "SUBSCRIBE",
    "params": ["bookTicker.SOL_USDC", "bookTicker.ETH_USDC", "bookTicker.BTC_USDC"],
    "id": 1,
}
NOISE = [
    '{"id":1,"result":null}',
    '{"id":1,"error":{"code":4005,"message":"Invalid stream"}}',
    '{"stream":"depth.SOL_USDC","data":{"e":"depth","s":"SOL_USDC","E":1}}',
    "not json at all",
    "[1, 2, 3]",
]


def _expected(frames: list[str]) -> list[Tick]:
    ticks = []
    for frame in frames:
        data = json.loads(frame)["data"]
        scale = ASSET_DECIMALS[data["s"]]
        bid, ask = to_units(data["b"], scale), to_units(data["a"], scale)
        ticks.append(Tick(data["s"], bid, ask, data["E"]))
    return ticks


async def test_subscribes_streams_ticks_answers_pings_and_resumes_after_a_drop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="poller_svc.sources.backpack")
    half = len(FRAMES) // 2
    subscribes: list[object] = []
    pong_latencies: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        subscribes.append(json.loads(await ws.recv()))
        if len(subscribes) == 1:
            for frame in NOISE:
                await ws.send(frame)
            pong = await ws.ping()
            pong_latencies.append(await asyncio.wait_for(pong, 5))
            for frame in FRAMES[:half]:
                await ws.send(frame)
            await ws.close()  # drop the client mid-stream
        else:
            for frame in FRAMES[half:]:
                await ws.send(frame)
            await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        fake = FakeTime()
        source = BackpackSource(ASSETS, f"ws://127.0.0.1:{port}", sleep=fake.sleep)
        ticks = await take(source, len(FRAMES))

    assert ticks == _expected(FRAMES)
    assert subscribes == [SUBSCRIBE, SUBSCRIBE]
    assert len(pong_latencies) == 1
    assert len(fake.requested) == 1 and 0.25 <= fake.requested[0] <= 0.5
    assert "reconnect attempt 1 in" in caplog.text
    assert "error frame ignored" in caplog.text


async def test_a_silent_connection_is_replaced() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        if connections > 1:
            for frame in FRAMES[:3]:
                await ws.send(frame)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        source = BackpackSource(
            ASSETS, f"ws://127.0.0.1:{port}", stale_after_s=0.2, sleep=FakeTime().sleep
        )
        ticks = await take(source, 3)
    assert ticks == _expected(FRAMES[:3])
    assert connections == 2


class _GiveUp(Exception):
    pass


async def test_refused_connections_back_off_exponentially(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 5:
            raise _GiveUp

    source = BackpackSource(
        ASSETS, f"ws://127.0.0.1:{port}", first_delay=1.0, max_delay=4.0, sleep=sleep
    )
    with pytest.raises(_GiveUp):
        await take(source, 1)
    # Base delays 1, 2, 4, 4, 4 (capped), each jittered into [base/2, base].
    for delay, base in zip(delays, [1, 2, 4, 4, 4], strict=True):
        assert base / 2 <= delay <= base
    for attempt in range(1, 6):
        assert f"reconnect attempt {attempt} in" in caplog.text


def test_extra_decimals_round_outward_and_are_logged_once_per_asset(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parser = FrameParser(ASSETS)

    def frame(asset: str, bid: str, ask: str) -> str:
        data = {"e": "bookTicker", "E": 5, "s": asset, "b": bid, "a": ask}
        return json.dumps({"stream": f"bookTicker.{asset}", "data": data})

    assert parser.parse(frame("BTC_USDC", "90000.12345", "90000.12341")) == Tick(
        "BTC_USDC", 900_001_234, 900_001_235, 5
    )
    assert parser.parse(frame("BTC_USDC", "1.00009", "1.00001")) == Tick(
        "BTC_USDC", 10_000, 10_001, 5
    )
    assert parser.parse(frame("SOL_USDC", "235.9500001", "235.9500001")) == Tick(
        "SOL_USDC", 235_950_000, 235_950_001, 5
    )
    assert parser.parse(frame("ETH_USDC", "3000.5", "3000.6")) == Tick(
        "ETH_USDC", 3_000_500_000, 3_000_600_000, 5
    )
    logged = [r.getMessage() for r in caplog.records if "rounding outward" in r.getMessage()]
    assert len(logged) == 2
    assert "BTC_USDC" in logged[0] and "SOL_USDC" in logged[1]


@pytest.mark.parametrize(
    "data",
    [
        {"e": "bookTicker", "E": 5, "s": "SOL_USDC", "b": "236", "a": "235"},  # crossed
        {"e": "bookTicker", "E": 5, "s": "SOL_USDC", "b": "-1", "a": "235"},
        {"e": "bookTicker", "E": 5, "s": "SOL_USDC", "b": "0", "a": "235"},
        {"e": "bookTicker", "E": 5, "s": "SOL_USDC", "b": 235, "a": "236"},
        {"e": "bookTicker", "E": 5, "s": "SOL_USDC", "b": "NaN", "a": "236"},
        {"e": "bookTicker", "E": "5", "s": "SOL_USDC", "b": "235", "a": "236"},
        {"e": "bookTicker", "E": 5, "s": "DOGE_USDC", "b": "1", "a": "2"},
        {"e": "bookTicker", "E": 5, "s": "SOL_USDC", "b": "235"},
    ],
)
def test_unusable_book_tickers_are_skipped(data: dict[str, object]) -> None:
    assert FrameParser(ASSETS).parse(json.dumps({"data": data})) is None


def test_only_configured_assets_pass() -> None:
    parser = FrameParser(("SOL_USDC",))
    assets = {t.asset for f in FRAMES if (t := parser.parse(f)) is not None}
    assert assets == {"SOL_USDC"}
