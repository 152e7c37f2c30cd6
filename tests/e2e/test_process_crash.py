"""kill -9 of a gateway process and of the ledger process under load: afterwards every
answered state-changing command has exactly one audit row, and every event one row.

The audit row no longer depends on the gateway that asked: the engine publishes each answer's
record on `engine_audit` in the same transaction as the answer, and the ledger writes it once
per (user, order id). A gateway killed between the answer and the row loses nothing; a ledger
killed mid-batch leaves its entries pending and takes them up again on restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway_svc.db.migrate import upgrade_to_head
from tests.e2e.conftest import OPENING_PRICES, sign_in, small_long, wait_for_price
from tests.e2e.harness import MailCatcher, Mesh, write_replay
from tests.polling import poll


class Load:
    """Clients sending CREATE_TRADE / CLOSE_TRADE with their own order ids; it keeps the ids
    of every command that got an answer (success or a business rejection)."""

    def __init__(self, mesh: Mesh, cookies: list[str]) -> None:
        self.mesh = mesh
        self.cookies = cookies
        self.answered: set[str] = set()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(c,)) for c in cookies]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(30)

    def count(self) -> int:
        with self._lock:
            return len(self.answered)

    def _run(self, cookie: str) -> None:
        client = httpx.Client(base_url=self.mesh.base_url, cookies={"authToken": cookie})
        open_ids: list[str] = []
        while not self.stop.is_set():
            order_id = str(uuid.uuid4())
            if open_ids and len(open_ids) % 2 == 0:
                body = {"command": "CLOSE_TRADE", "tradeId": open_ids.pop(0)}
            else:
                body = small_long()
            body["orderId"] = order_id
            try:
                response = client.post("/api/v1/engine", json=body, timeout=10)
                envelope = response.json()
            except (httpx.HTTPError, ValueError):
                time.sleep(0.05)  # the gateway is down: a client waits and goes on
                continue
            if response.status_code in (200, 400, 404) and "engineResponse" in envelope:
                with self._lock:
                    self.answered.add(order_id)
                data = envelope["engineResponse"]["data"] or {}
                if body["command"] == "CREATE_TRADE" and envelope.get("success"):
                    open_ids.append(data["tradeId"])
        client.close()


def _audit_rows(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT order_id, count(*) FROM orders GROUP BY order_id").fetchall()
    return {order_id: count for order_id, count in rows}


def _assert_exactly_once(database_url: str, answered: set[str]) -> None:
    poll(
        lambda: answered <= set(_audit_rows(database_url)),
        timeout_s=60,
        every_s=0.2,
        what="an audit row for every answered command",
    )
    rows = _audit_rows(database_url)
    assert all(rows[o] == 1 for o in answered), "an answered command has two audit rows"
    with psycopg.connect(database_url) as conn:
        total, distinct, newest = conn.execute(
            "SELECT count(*), count(DISTINCT event_seq), coalesce(max(event_seq), 0)"
            " FROM trade_events"
        ).fetchone()
    assert total == distinct, "an event was written twice"
    assert total == newest, f"events missing: {total} rows, newest event_seq {newest}"


@pytest.fixture
def loaded_mesh(
    redis_url: str, database_url: str, tmp_path: Path, mail: MailCatcher
) -> Iterator[tuple[Mesh, list[str]]]:
    upgrade_to_head(database_url)
    mesh = Mesh(redis_url, database_url, tmp_path, mail.port, gateway_workers=2)
    opening = write_replay(tmp_path / "opening.csv", OPENING_PRICES)
    try:
        mesh.start_all(f"replay:{opening}")
        wait_for_price(mesh, "SOL_USDC", "235950000")
        cookies = [
            sign_in(mesh, mail, f"crash{i}@example.com").cookies["authToken"] for i in range(3)
        ]
        yield mesh, cookies
    finally:
        mesh.stop_all()


def _worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_kill_9_of_a_gateway_worker_loses_no_audit_row(
    loaded_mesh: tuple[Mesh, list[str]],
) -> None:
    mesh, cookies = loaded_mesh
    with Load(mesh, cookies) as load:
        poll(lambda: load.count() > 30, timeout_s=60, every_s=0.2, what="load getting through")
        parent = mesh.processes["gateway"].pid
        workers = _worker_pids(parent)
        assert workers, "GATEWAY_WORKERS=2 started no worker processes"
        os.kill(workers[0], signal.SIGKILL)
        before = load.count()
        poll(
            lambda: load.count() > before + 30,
            timeout_s=60,
            every_s=0.2,
            what="answers after the kill",
        )
        poll(
            lambda: len(_worker_pids(parent)) == len(workers),
            timeout_s=30,
            every_s=0.2,
            what="the worker's restart",
        )
    _assert_exactly_once(mesh.database_url, load.answered)


def test_kill_9_of_the_whole_gateway_loses_no_audit_row(
    loaded_mesh: tuple[Mesh, list[str]],
) -> None:
    mesh, cookies = loaded_mesh
    with Load(mesh, cookies) as load:
        poll(lambda: load.count() > 30, timeout_s=60, every_s=0.2, what="load getting through")
        parent = mesh.processes["gateway"].pid
        for pid in (*_worker_pids(parent), parent):
            os.kill(pid, signal.SIGKILL)
        mesh.processes.pop("gateway").wait()
        mesh.start("gateway")
        mesh.wait_http()
        before = load.count()
        poll(
            lambda: load.count() > before + 30,
            timeout_s=60,
            every_s=0.2,
            what="answers after the restart",
        )
    _assert_exactly_once(mesh.database_url, load.answered)


def test_kill_9_of_the_ledger_loses_and_doubles_nothing(
    loaded_mesh: tuple[Mesh, list[str]],
) -> None:
    mesh, cookies = loaded_mesh
    with Load(mesh, cookies) as load:
        for _ in range(3):
            before = load.count()
            poll(
                lambda b=before: load.count() > b + 40,
                timeout_s=60,
                every_s=0.2,
                what="load getting through",
            )
            mesh.stop("ledger", sig=signal.SIGKILL)
            time.sleep(0.5)
            mesh.start("ledger")
    _assert_exactly_once(mesh.database_url, load.answered)
