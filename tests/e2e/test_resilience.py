"""Services ride out Redis going away and a gateway killed mid-load: nothing answered is
lost and Postgres ends up agreeing with the engine. Each test has a Redis of its own, so it
can restart it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway_svc.db.migrate import upgrade_to_head
from mesh.embedded import EmbeddedRedis
from tests.e2e.conftest import OPENING_PRICES, sign_in, small_long, wait_for_price
from tests.e2e.harness import MailCatcher, Mesh, write_replay
from tests.e2e.stream_client import StreamClient
from tests.engine_service import builders
from tests.polling import poll


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()


def restart(server: EmbeddedRedis, down_s: float) -> None:
    server.stop()  # SIGTERM: redis writes its AOF before leaving
    time.sleep(down_s)
    server.start()


def test_engine_survives_redis_going_away(own_redis: EmbeddedRedis, tmp_path: Path) -> None:
    mesh = Mesh(own_redis.url, "postgresql://unused", tmp_path, smtp_port=1)
    mesh.start("engine")
    try:
        mesh.wait_log("engine", "engine ready")
        client = StreamClient(own_redis.url)
        client.send_prices(builders.price_batch({"SOL_USDC": ("235.90", "235.95")}))
        assert client.call(builders.command("u", "create_account")).error_code == 0
        restart(own_redis, down_s=2.0)
        client = StreamClient(own_redis.url)
        client.cursor = b"$"
        opened = client.call(builders.create_trade("u", "SOL_USDC", "LONG", 100_000, 20), 30)
        assert opened.HasField("trade_opened"), opened
        assert mesh.processes["engine"].poll() is None, "the engine must not crash"
        log = mesh.log("engine")
        assert "retrying" in log and "Traceback" not in log
    finally:
        mesh.stop_all()


def test_gateway_kill_and_redis_restart_lose_nothing(
    own_redis: EmbeddedRedis, database_url: str, tmp_path: Path, mail: MailCatcher
) -> None:
    upgrade_to_head(database_url)
    mesh = Mesh(own_redis.url, database_url, tmp_path, mail.port)
    opening = write_replay(tmp_path / "opening.csv", OPENING_PRICES)
    answered: list[dict] = []  # type: ignore[type-arg]
    stop = threading.Event()
    try:
        mesh.start_all(f"replay:{opening}")
        wait_for_price(mesh, "SOL_USDC", "235950000")
        cookie = sign_in(mesh, mail, "dave@example.com").cookies["authToken"]

        def load() -> None:
            while not stop.is_set():
                try:
                    response = httpx.post(
                        f"{mesh.base_url}/api/v1/engine",
                        json=small_long(),
                        cookies={"authToken": cookie},
                        timeout=10,
                    )
                    envelope = response.json()
                except (httpx.HTTPError, ValueError):
                    time.sleep(0.05)  # gateway down: a client waits and goes on
                    continue
                if envelope.get("success"):
                    answered.append(envelope["engineResponse"]["data"])

        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(1.0)
        mesh.stop("gateway", sig=9)
        mesh.start("gateway")
        mesh.wait_http()
        time.sleep(1.0)
        restart(own_redis, down_s=1.0)
        mesh.wait_http()
        before = len(answered)
        # The mesh serves again after the restart (asserted below, once the load has stopped).
        poll(lambda: len(answered) >= before + 10, timeout_s=30, must=False)
        stop.set()
        worker.join(20)
        assert len(answered) >= before + 10, "no trades answered after the Redis restart"

        client = httpx.Client(base_url=mesh.base_url, cookies={"authToken": cookie}, timeout=15)
        open_trades = {t["tradeId"]: t for t in client.get("/api/v1/trades/open").json()["trades"]}
        assert {a["tradeId"] for a in answered} <= set(open_trades), "an answered trade was lost"
        balance = client.post("/api/v1/engine", json={"command": "GET_USD_BALANCE"}).json()
        used = sum(Decimal(str(t["margin"])) for t in open_trades.values())
        assert Decimal(str(balance["engineResponse"]["data"]["usdBalance"])) + used == 5000

        def trade_rows() -> dict[str, str]:
            with psycopg.connect(database_url) as conn:
                return dict(conn.execute("SELECT trade_id, status FROM trades").fetchall())

        rows = poll(
            trade_rows,
            lambda rows: set(rows) >= set(open_trades),
            timeout_s=30,
            every_s=0.2,
            must=False,  # the assertions below say what differs
        )
        assert set(rows) == set(open_trades), "Postgres disagrees with the engine"
        assert set(rows.values()) == {"OPEN"}
        with psycopg.connect(database_url) as conn:
            events = conn.execute(
                "SELECT count(*), count(DISTINCT trade_id) FROM trade_events"
            ).fetchone()
        assert events == (len(open_trades), len(open_trades)), "every event exactly once"
    finally:
        stop.set()
        mesh.stop_all()
