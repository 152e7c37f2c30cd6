"""The same exchange through gRPC; two gateways on one Redis; bad input reaches nothing; one
gateway as two worker processes sharing its ports (REST flow, /metrics summed, a killed worker
restarted, a second gateway on the same port refused)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import grpc
import httpx
import psycopg
import pytest
import redis
from exchange.v1 import (
    auth_service_pb2,
    auth_service_pb2_grpc,
    exchange_service_pb2,
    exchange_service_pb2_grpc,
    types_pb2,
)

from gateway_svc.db.migrate import upgrade_to_head
from mesh import streams
from mesh.embedded import free_port
from tests.e2e.conftest import OPENING_PRICES, sign_in, wait_for_price
from tests.e2e.harness import MailCatcher, Mesh, write_replay
from tests.e2e.test_rest_flow import wait_rows
from tests.polling import poll


def _decimal(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


async def test_trade_through_grpc(mesh: Mesh, mail: MailCatcher) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.grpc_port}") as channel:
        auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        exchange = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        await auth.RequestSignInLink(
            auth_service_pb2.RequestSignInLinkRequest(email="grpc@example.com", signup=True)
        )
        link = await asyncio.to_thread(mail.link_for, "grpc@example.com")
        token = parse_qs(urlparse(link).query)["token"][0]
        session = await auth.CompleteSignIn(auth_service_pb2.CompleteSignInRequest(token=token))
        assert session.new_user and session.email == "grpc@example.com"
        meta = (("authorization", f"Bearer {session.session_token}"),)

        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await exchange.GetUsdBalance(exchange_service_pb2.GetUsdBalanceRequest())
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED

        balance = await exchange.GetUsdBalance(
            exchange_service_pb2.GetUsdBalanceRequest(), metadata=meta
        )
        assert (balance.balance.usd_balance.units, balance.balance.usd_balance.scale) == (
            50_000_000,
            4,
        )
        created = await exchange.CreateTrade(
            exchange_service_pb2.CreateTradeRequest(
                asset="SOL_USDC",
                direction=types_pb2.DIRECTION_SHORT,
                margin=_decimal(1_000_000, 4),
                leverage=1000,
            ),
            metadata=meta,
        )
        trade = created.opened.trade
        assert (trade.entry_price.units, trade.entry_price.scale) == (235_900_000, 6)
        assert trade.liquidation_price.units == 238_259_000  # ceil(235.90 * 1.01)
        listed = await exchange.ListOpenTrades(
            exchange_service_pb2.ListOpenTradesRequest(), metadata=meta
        )
        assert [t.trade_id for t in listed.trades] == [trade.trade_id]

        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await exchange.CreateTrade(
                exchange_service_pb2.CreateTradeRequest(
                    asset="SOL_USDC",
                    direction=types_pb2.DIRECTION_LONG,
                    margin=_decimal(123_456, 5),
                    leverage=10,
                ),
                metadata=meta,
            )
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "margin" in (invalid.value.details() or "")

        closed = await exchange.CloseTrade(
            exchange_service_pb2.CloseTradeRequest(trade_id=trade.trade_id), metadata=meta
        )
        # SHORT closes at the ask: N = 100 USD * 100x, pnl = floor(N * (235.90 - 235.95) / 235.90)
        expected = (1_000_000 * 1000 * (235_900_000 - 235_950_000)) // (10 * 235_900_000)
        assert closed.closed.trade.pnl.units == expected == -21_196
        assert closed.closed.trade.exit_price.units == 235_950_000

        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await exchange.CloseTrade(
                exchange_service_pb2.CloseTradeRequest(trade_id=trade.trade_id), metadata=meta
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        trailing = dict(missing.value.trailing_metadata() or ())
        assert trailing.get("x-error-code", "").endswith("TRADE_NOT_FOUND")

        stream = exchange.StreamPrices(
            exchange_service_pb2.StreamPricesRequest(assets=["SOL_USDC"])
        )
        first = await asyncio.wait_for(stream.read(), timeout=10)
        stream.cancel()
        assert first.tick.asset == "SOL_USDC" and first.tick.ask.units > 0


def test_two_gateways_each_get_their_own_answers(mesh: Mesh, mail: MailCatcher) -> None:
    second_http, second_grpc = free_port(), free_port()
    second_url = f"http://127.0.0.1:{second_http}"
    mesh.start("gateway", name="gateway2", HTTP_PORT=str(second_http), GRPC_PORT=str(second_grpc))
    mesh.wait_http(base_url=second_url, name="gateway2")
    client = sign_in(mesh, mail, "twin@example.com")
    cookie = client.cookies["authToken"]

    def call(i: int) -> tuple[int, dict]:  # type: ignore[type-arg]
        base = mesh.base_url if i % 2 else second_url
        body = {
            "command": "CREATE_TRADE",
            "asset": "ETH_USDC",
            "direction": "LONG",
            "margin": 1 + i,
            "leverage": 20,
        }
        response = httpx.post(
            f"{base}/api/v1/engine", json=body, cookies={"authToken": cookie}, timeout=15
        )
        return i, response.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(40)))
    for i, envelope in results:
        assert envelope["success"] is True, envelope
        assert envelope["engineResponse"]["data"]["margin"] == 1 + i  # its own answer
    assert len({e["orderId"] for _, e in results}) == 40
    log_one, log_two = mesh.log("gateway"), mesh.log("gateway2")
    assert "ENGINE_TIMEOUT" not in log_one + log_two


BAD_REQUESTS = [
    ("malformed JSON", b'{"command": "CREATE_TRADE",', True, 400),
    (
        "wrong type",
        b'{"command":"CREATE_TRADE","asset":"SOL_USDC","direction":"LONG","margin":"ten"}',
        True,
        400,
    ),
    ("unknown command", b'{"command":"WITHDRAW_ALL"}', True, 400),
    (
        "unknown asset",
        b'{"command":"CREATE_TRADE","asset":"DOGE_USDC","direction":"LONG","margin":10}',
        True,
        400,
    ),
    (
        "five decimals",
        b'{"command":"CREATE_TRADE","asset":"SOL_USDC","direction":"LONG","margin":0.00001}',
        True,
        400,
    ),
    (
        "NaN",
        b'{"command":"CREATE_TRADE","asset":"SOL_USDC","direction":"LONG","margin":NaN}',
        True,
        400,
    ),
    (
        "huge number",
        b'{"command":"CREATE_TRADE","asset":"SOL_USDC","direction":"LONG","margin":1e999999}',
        True,
        400,
    ),
    ("oversize body", b'{"command":"GET_BALANCE","pad":"' + b"x" * 100_000 + b'"}', True, 413),
    ("no token", b'{"command":"GET_BALANCE"}', False, 401),
]


def test_bad_input_reaches_nothing(mesh: Mesh, mail: MailCatcher) -> None:
    client = sign_in(mesh, mail, "carol@example.com")
    cookie = client.cookies["authToken"]
    stream = redis.Redis.from_url(mesh.redis_url)
    # The newest entry's id, not the length: the ledger trims what the engine has read.
    commands_before = stream.xinfo_stream(streams.COMMANDS)["last-generated-id"]
    # The sign-in's own audit row (its CREATE_ACCOUNT) lands after the answer: wait for it.
    wait_rows(mesh.database_url, "SELECT order_id FROM orders", (), 1)
    with psycopg.connect(mesh.database_url) as conn:
        orders_before = conn.execute("SELECT count(*) FROM orders").fetchone()
    for label, body, with_cookie, status in BAD_REQUESTS:
        response = httpx.post(
            f"{mesh.base_url}/api/v1/engine",
            content=body,
            headers={"content-type": "application/json"},
            cookies={"authToken": cookie} if with_cookie else None,
            timeout=15,
        )
        assert response.status_code == status, (label, response.text)
        envelope = response.json()
        assert envelope["success"] is False and envelope["engineResponse"]["status"] == "error", (
            label
        )
        assert envelope["error"], label
    forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
    response = httpx.post(
        f"{mesh.base_url}/api/v1/engine",
        json={"command": "GET_BALANCE"},
        cookies={"authToken": forged},
        timeout=15,
    )
    assert response.status_code == 401
    assert stream.xinfo_stream(streams.COMMANDS)["last-generated-id"] == commands_before
    with psycopg.connect(mesh.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == orders_before


# ---- one gateway, several worker processes ------------------------------------------------


@pytest.fixture
def workers_mesh(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> Iterator[Mesh]:
    upgrade_to_head(database_url)
    running = Mesh(redis_url, database_url, tmp_path, mail.port, gateway_workers=2)
    try:
        running.start_all(f"replay:{write_replay(tmp_path / 'opening.csv', OPENING_PRICES)}")
        wait_for_price(running, "SOL_USDC", "235950000")
        yield running
    finally:
        running.stop_all()


def _worker_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def _summed(metrics: str, name: str, wanted: tuple[str, ...]) -> float:
    """Metric `name` over the series whose labels hold every one of `wanted`, summed."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(part in line for part in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _engine_requests(metrics: str) -> float:
    """http_requests_total of successful POST /api/v1/engine, summed over the series."""
    wanted = ('route="/api/v1/engine"', 'method="POST"', 'status="200"')
    return _summed(metrics, "http_requests_total", wanted)


def test_rest_flow_with_two_gateway_workers(workers_mesh: Mesh, mail: MailCatcher) -> None:
    mesh = workers_mesh
    cookie = sign_in(mesh, mail, "workers@example.com").cookies["authToken"]

    def call(body: dict[str, object]) -> dict:  # type: ignore[type-arg]
        # A new connection each time, so the kernel spreads them over both workers.
        response = httpx.post(
            f"{mesh.base_url}/api/v1/engine",
            json=body,
            cookies={"authToken": cookie},
            headers={"connection": "close"},
            timeout=15,
        )
        envelope = response.json()
        assert response.status_code == 200 and envelope["success"] is True, envelope
        return envelope["engineResponse"]["data"]  # type: ignore[no-any-return]

    count = 20
    with ThreadPoolExecutor(4) as pool:
        opened = list(
            pool.map(
                lambda i: call(
                    {
                        "command": "CREATE_TRADE",
                        "asset": "SOL_USDC",
                        "direction": "LONG",
                        "margin": 1 + i,
                        "leverage": 10,
                    }
                ),
                range(count),
            )
        )
        assert [trade["margin"] for trade in opened] == [1 + i for i in range(count)]
        closed = list(
            pool.map(lambda t: call({"command": "CLOSE_TRADE", "tradeId": t["tradeId"]}), opened)
        )
    assert [c["tradeId"] for c in closed] == [t["tradeId"] for t in opened]

    # Both workers answered some: each has its own answer stream, with entries in it.
    answers = redis.Redis.from_url(mesh.redis_url)
    streams_used = [
        key for key in answers.scan_iter(match=f"{streams.RESPONSES}:*") if answers.xlen(key)
    ]
    assert len(streams_used) == 2, streams_used

    # /metrics sums the workers: whichever one answers the scrape counts every request.
    for _ in range(4):
        metrics = httpx.get(f"{mesh.base_url}/metrics", headers={"connection": "close"}).text
        assert _engine_requests(metrics) == 2 * count
        # And the gRPC calls the facade made for them, by method and code, every worker's.
        creates = ('method="/exchange.v1.ExchangeService/CreateTrade"', 'code="OK"')
        assert _summed(metrics, "grpc_server_handled_total", creates) == count

    # The audit rows come from the engine's stream, via the ledger.
    client = httpx.Client(base_url=mesh.base_url, cookies={"authToken": cookie}, timeout=15)
    poll(
        lambda: client.get("/api/v1/orders", params={"limit": 100}).json()["orders"],
        lambda rows: (
            sum(r["command"] in ("CREATE_TRADE", "CLOSE_TRADE") for r in rows) >= 2 * count
        ),
        timeout_s=20,
        every_s=0.2,
        what=f"{2 * count} trade rows on /api/v1/orders",
    )


def test_workers_are_restarted_and_the_port_stays_theirs(
    workers_mesh: Mesh, mail: MailCatcher
) -> None:
    mesh = workers_mesh
    parent = mesh.processes["gateway"]
    before = _worker_pids(parent.pid)
    assert len(before) == 2
    os.kill(before[0], signal.SIGKILL)
    mesh.wait_log("gateway", "restarting")
    poll(
        lambda: _worker_pids(parent.pid),
        lambda pids: len(pids) == 2 and before[0] not in pids,
        timeout_s=30,
        every_s=0.2,
        what="a new worker in place of the killed one",
    )
    mesh.wait_http()
    sign_in(mesh, mail, "after-restart@example.com")

    # A second, separate gateway on the same ports fails loudly instead of sharing them.
    intruder = mesh.start("gateway", name="intruder")
    assert intruder.wait(30) != 0
    assert "cannot listen" in mesh.log("intruder")
    assert parent.poll() is None
