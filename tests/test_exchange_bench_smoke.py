"""The exchange benchmark's pieces that need no Debian tool: the floor, the open-loop
generator against a small HTTP server started here, and the table. No timing is asserted
beyond what a deliberate stall must show."""

from __future__ import annotations

import asyncio
import json
import math
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from exchange.v1 import exchange_service_pb2

from launcher.bench import floor, grpc_load, parts, rest_load
from launcher.bench.open_loop import OpenLoop
from launcher.bench.stats import Spread, percentile
from launcher.bench.table import FLOOR_KEY, Board, filesystem_of


@dataclass
class FakeEngineRoute:
    """POST /api/v1/engine as the exchange answers it, keeping count of what it was sent."""

    stall_on: int = -1
    stall_s: float = 0.0
    requests: int = 0
    open_trades: set[str] = field(default_factory=set)
    closed: int = 0
    bad_closes: int = 0
    lock: asyncio.Lock | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.lock = self.lock or asyncio.Lock()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = json.loads(await reader.readexactly(length))
                async with self.lock:  # one at a time, so a stall holds everyone up
                    self.requests += 1
                    if self.requests == self.stall_on:
                        await asyncio.sleep(self.stall_s)
                    status, answer = self._answer(body)
                data = json.dumps(answer).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(data)}\r\n\r\n".encode()
                    + data
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _answer(self, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        if body["command"] == "CREATE_TRADE":
            trade_id = str(uuid.uuid4())
            self.open_trades.add(trade_id)
            return 200, {"success": True, "engineResponse": {"data": {"tradeId": trade_id}}}
        trade_id = str(body.get("tradeId"))
        if trade_id not in self.open_trades:
            self.bad_closes += 1
            return 404, {"success": False}
        self.open_trades.discard(trade_id)
        self.closed += 1
        data = {"tradeId": trade_id, "closePrice": 1}
        return 200, {"success": True, "engineResponse": {"data": data}}


@pytest.fixture
def fake_exchange() -> Iterator[tuple[FakeEngineRoute, int]]:
    route = FakeEngineRoute()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(route.handle, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield route, port

    async def shut_down() -> None:
        server.close()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shut_down(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_floor_measures_a_redis_round_trip_and_an_fdatasync(redis_url: str, tmp_path: Path) -> None:
    figures = floor.measure(redis_url, tmp_path / "journal", samples=50)
    assert set(figures) == {"floor.redis", "floor.fsync", FLOOR_KEY}
    assert all(math.isfinite(v) and v > 0 for v in figures.values())
    assert figures[FLOOR_KEY] == pytest.approx(figures["floor.redis"] + figures["floor.fsync"])
    assert list((tmp_path / "journal").iterdir()) == []  # its file is gone again


def test_open_loop_sends_every_scheduled_request_alternating_create_and_close(
    fake_exchange: tuple[FakeEngineRoute, int],
) -> None:
    route, port = fake_exchange
    workload = rest_load.TradeCycle(f"127.0.0.1:{port}", ["token-a", "token-b"])
    result = parts.run_async(OpenLoop("127.0.0.1", port, workload).run(400, 0.5, warm=4))
    summary = result.summary()
    assert result.scheduled == 200
    assert route.requests == 200
    assert result.answered == 200 and not result.errors
    assert len(result.latencies_ms) == 200
    assert route.bad_closes == 0  # every close named a trade a create had opened
    assert route.closed >= 90  # creates and closes alternate
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert summary["sent_per_s"] > 0


def test_open_loop_counts_a_stall_in_every_request_scheduled_during_it(
    fake_exchange: tuple[FakeEngineRoute, int],
) -> None:
    """Coordinated omission: a closed-loop client would see one slow answer; requests due
    while the server stood still must all carry the wait, even those that could only leave
    once a connection was free again (two connections here)."""
    route, port = fake_exchange
    route.stall_on, route.stall_s = 20, 0.4
    workload = rest_load.TradeCycle(f"127.0.0.1:{port}", ["token"])
    generator = OpenLoop("127.0.0.1", port, workload, max_connections=2)
    result = parts.run_async(generator.run(200, 1.0, warm=2))
    assert result.answered == 200
    slow = [ms for ms in result.latencies_ms if ms >= 100]
    # 0.4 s at 200/s: about 80 requests were due during the stall; most waited 100 ms or more.
    assert len(slow) >= 40


def test_open_loop_reports_a_refused_connection_as_an_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it is closed
    workload = rest_load.TradeCycle(f"127.0.0.1:{port}", ["token"])
    result = parts.run_async(
        OpenLoop("127.0.0.1", port, workload, max_connections=4).run(50, 0.2, warm=0)
    )
    assert result.answered == 0
    assert sum(result.errors.values()) == result.scheduled == 10


def test_table_shows_median_range_targets_floor_multiples_and_errors() -> None:
    board = Board(["floor", "rest", "storm"])
    board.add({"floor.redis": 0.3, "floor.fsync": 0.2, FLOOR_KEY: 0.5})
    for p50 in (3.0, 1.0, 2.0):
        board.add({"rest.one_p50": p50, "rest.rate": 2500.0})
    board.fail("storm", "TimeoutError: 5 of 100,000 liquidations in Postgres after 120s")
    text = board.render()
    lines = {line.split("  ")[0].strip(): line for line in text.splitlines()}
    one = lines["REST CREATE/CLOSE, one connection: p50"]
    assert "2.00 ms" in one and "1.00 ms - 3.00 ms" in one
    assert "<= 3.00 ms ok" in one and "4.0x" in one  # 2 ms over a 0.5 ms floor
    assert ">= 2,000/s ok" in lines["REST CREATE/CLOSE (wrk), 64 connections"]
    storm = lines["storm: one price move to every liquidation in Postgres"]
    assert "FAILED" in storm and "5 of 100,000 liquidations" in storm
    assert board.failed
    board_ok = Board(["floor"])
    board_ok.add({"floor.redis": 0.3, "floor.fsync": 0.2, FLOOR_KEY: 0.5})
    assert not board_ok.failed


def test_a_missed_target_is_marked() -> None:
    board = Board(["floor", "grpc"])
    board.add({"grpc.rate": 128.0, "grpc.one_p50": 16.0})
    text = board.render()
    assert ">= 4,000/s MISSED" in text and "<= 2.00 ms MISSED" in text


def test_percentiles_and_spread() -> None:
    ordered = list(range(1, 101))
    assert percentile(ordered, 0.5) == 50 and percentile(ordered, 0.99) == 99
    assert math.isnan(percentile([], 0.5))
    spread = Spread.of([5.0, float("nan"), 1.0, 3.0])
    assert spread == Spread(3.0, 1.0, 5.0, 3)
    assert Spread.of([]) is None


def test_the_load_tools_get_well_formed_inputs(tmp_path: Path) -> None:
    body = grpc_load.write_body(tmp_path / "body.bin").read_bytes()
    flag, length = struct.unpack(">BI", body[:5])
    assert flag == 0 and length == len(body) - 5
    request = exchange_service_pb2.CreateTradeRequest.FromString(body[5:])
    assert request.order_id == "" and request.margin.units == 1 and request.asset
    script = rest_load.write_wrk_script(tmp_path / "wrk.lua", ["tok-1", "tok-2"]).read_text()
    assert '"tok-1", "tok-2"' in script and "%(" not in script
    assert '"%s*:%s*"' in script  # the Lua pattern survived the formatting


def test_the_journal_filesystem_is_named(tmp_path: Path) -> None:
    assert filesystem_of(tmp_path) != "unknown filesystem"


def test_a_figures_note_is_the_one_of_its_median_run() -> None:
    board = Board(["floor", "grpc"])
    for rate, cpu in ((1500.0, 1.4), (1700.0, 1.1), (900.0, 2.9)):
        board.add(
            {"grpc.rate": rate, "grpc.cpu": cpu},
            {"grpc.cpu": f"split of the {cpu} ms run", "grpc.other": "not a figure of this run"},
        )
    board.note("grpc.cpu", "the last note given")  # what the end of a bench run adds
    cpu_line = next(line for line in board.render().splitlines() if "CPU per call" in line)
    assert "1.40 ms" in cpu_line and "split of the 1.4 ms run" in cpu_line
    assert "2.9 ms run" not in cpu_line and "the last note given" not in cpu_line


def test_the_ceiling_serves_the_facade_path_through_a_real_grpc_call(tmp_path: Path) -> None:
    """Two workers on shared ports, as the gateway's: gRPC answers its fixed reply, REST answers
    the envelope only after its own gRPC call, and nothing is left running afterwards."""
    import grpc
    import httpx
    from exchange.v1 import exchange_service_pb2_grpc

    from launcher.bench import ceiling

    with ceiling.running(2, tmp_path / "ceiling") as servers:
        assert len(servers.pids) == 2 and len(list((tmp_path / "ceiling").glob("grpc-*.sock"))) == 2
        with grpc.insecure_channel(servers.grpc_target) as channel:
            stub = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
            reply = stub.CreateTrade(grpc_load.create_trade_request(), timeout=10)
        assert reply.opened.trade.trade_id == "1" * 36
        answer = httpx.post(
            f"{servers.base_url}/api/v1/engine", content=rest_load.CREATE_BODY, timeout=10
        )
        assert answer.status_code == 200
        assert answer.json()["engineResponse"]["data"]["tradeId"] == "1" * 36
        assert httpx.post(f"{servers.base_url}/api/v1/engine", content=b"{", timeout=10).is_error
        http_only = httpx.post(
            f"{servers.base_url}{ceiling.HTTP_ONLY_PREFIX}/api/v1/engine",
            content=rest_load.CREATE_BODY, timeout=10,
        )  # fmt: skip
        assert http_only.status_code == 200 and http_only.content == answer.content
    assert all(worker.returncode is not None for worker in servers.workers)  # stopped, reaped
