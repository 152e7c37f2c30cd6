"""kill -9 the engine at random moments under load: nothing answered is lost, nothing is
doubled, nothing appears that no client asked for, and money is conserved per user."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import psycopg
import pytest
from exchange.v1 import commands_pb2, responses_pb2

from gateway_svc.db.migrate import upgrade_to_head
from mesh.fixed import from_units
from tests.e2e.harness import Mesh
from tests.e2e.stream_client import StreamClient
from tests.engine_service import builders
from tests.engine_service.engine_process import EngineProcess
from tests.polling import poll

LONG_MODE = bool(os.environ.get("EXCHANGE_TEST_LONG"))
KILLS = 20 if LONG_MODE else 5
USERS = [f"user-{i}" for i in range(12)]
INITIAL = 5000 * 10_000


def _open_trades(client: StreamClient, user: str) -> dict[str, commands_pb2.Command]:
    result = client.call(builders.command(user, "get_open_trades"))
    return {t.trade_id: t for t in result.open_trades.trades}


def test_kill_9_under_load_loses_nothing(redis_url: str, database_url: str, tmp_path: Path) -> None:
    rng = random.Random(20261123)
    upgrade_to_head(database_url)
    # The ledger runs beside the engine and persists its events: Postgres must end up agreeing.
    ledger = Mesh(redis_url, database_url, tmp_path / "ledger", smtp_port=1)
    ledger.workdir.mkdir()
    ledger.start("ledger")
    engine = EngineProcess(redis_url, tmp_path)
    engine.start()
    client = StreamClient(redis_url)
    client.send_prices(
        builders.price_batch(
            {
                "SOL_USDC": ("235.90", "235.95"),
                "ETH_USDC": ("3001.10", "3001.11"),
                "BTC_USDC": ("90012.6", "90012.7"),
            }
        )
    )
    for user in USERS:
        assert client.call(builders.command(user, "create_account")).error_code == 0

    sent: dict[str, commands_pb2.Command] = {}
    open_ids: list[tuple[str, str]] = []
    kill_at = sorted(rng.sample(range(5, 60), KILLS))
    for round_no in range(60):
        burst = []
        for _ in range(25):
            if open_ids and rng.random() < 0.35:
                user, trade_id = open_ids.pop(rng.randrange(len(open_ids)))
                cmd = builders.close_trade(user, trade_id)
            else:
                cmd = builders.create_trade(
                    rng.choice(USERS),
                    rng.choice(["SOL_USDC", "ETH_USDC", "BTC_USDC"]),
                    rng.choice(["LONG", "SHORT"]),
                    rng.randint(1, 2000) * 100,
                    rng.choice([10, 20, 100, 500]),
                )
            sent[cmd.order_id] = cmd
            burst.append(client.send(cmd))
        if kill_at and round_no == kill_at[0]:
            kill_at.pop(0)
            time.sleep(rng.random() * 0.05)  # somewhere inside the burst
            engine.kill9()
            engine.start()
            # A client retries what got no answer, with the same order id.
            client.poll(50)
            for order_id in burst:
                if order_id not in client.answers:
                    client.send(sent[order_id])
        for result in client.wait_for(burst).values():
            if result.HasField("trade_opened"):
                open_ids.append(
                    (result.trade_opened.trade.user_id, result.trade_opened.trade.trade_id)
                )
    assert engine.starts == KILLS + 1

    answers = {o: client.answers[o] for o in sent}
    created = {
        r.trade_opened.trade.trade_id: r for r in answers.values() if r.HasField("trade_opened")
    }
    closed = {
        r.trade_closed.trade.trade_id: r for r in answers.values() if r.HasField("trade_closed")
    }
    assert created and closed

    # A second, clean restart must land on the same state again.
    assert engine.terminate() == 0
    engine.start()
    for user in USERS:
        open_now = _open_trades(client, user)
        expected = {t for t, r in created.items() if r.trade_opened.trade.user_id == user} - set(
            closed
        )
        assert set(open_now) == expected, f"{user}: open trades differ from the answers"
        for trade_id, trade in open_now.items():
            answered = created[trade_id].trade_opened.trade
            assert (trade.entry_price, trade.margin, trade.leverage) == (
                answered.entry_price,
                answered.margin,
                answered.leverage,
            )
        balance = client.call(builders.command(user, "get_usd_balance")).usd_balance.usd_balance
        open_margin = sum(t.margin.units for t in open_now.values())
        realized = sum(
            r.trade_closed.trade.pnl.units
            for r in closed.values()
            if r.trade_closed.trade.user_id == user
        )
        assert balance.units + open_margin == INITIAL + realized, (
            f"{user}: {from_units(balance.units, 4)} + {open_margin} != 5000 + {realized}"
        )
        assert balance.units >= 0
    _assert_postgres_agrees(database_url, created, closed)
    ledger.stop_all()
    assert engine.terminate() == 0
    log = (tmp_path / "engine.log").read_text()
    assert log.count("recovered to seq") == engine.starts
    assert log.count("engine stopped cleanly") == 2
    assert (tmp_path / "snapshots" / "latest.json.gz").exists()


def _assert_postgres_agrees(
    database_url: str,
    created: dict[str, responses_pb2.CommandResult],
    closed: dict[str, responses_pb2.CommandResult],
) -> None:
    """Every trade the engine answered for is in Postgres once, in the state and with the
    numbers of its answers, and no other trade is there."""

    def trade_rows() -> dict[str, tuple[str, int, int | None]]:
        with psycopg.connect(database_url) as conn:
            return {
                trade_id: (status, margin, pnl)
                for trade_id, status, margin, pnl in conn.execute(
                    "SELECT trade_id, status, margin, pnl FROM trades"
                )
            }

    rows = poll(
        trade_rows,
        lambda rows: (
            set(rows) == set(created)
            and sum(r[0] == "CLOSED" for r in rows.values()) == len(closed)
        ),
        timeout_s=30,
        every_s=0.2,
        must=False,  # the assertions below say what differs
    )
    assert set(rows) == set(created), "Postgres trades differ from the engine's answers"
    for trade_id, answer in created.items():
        status, margin, pnl = rows[trade_id]
        assert margin == answer.trade_opened.trade.margin.units
        if trade_id in closed:
            assert (status, pnl) == ("CLOSED", closed[trade_id].trade_closed.trade.pnl.units)
        else:
            assert status == "OPEN"
    with psycopg.connect(database_url) as conn:
        events = conn.execute("SELECT count(*) FROM trade_events").fetchone()
    assert events == (len(created) + len(closed),), "every event exactly once"


@pytest.mark.parametrize("signal_name", ["SIGTERM"])
def test_sigterm_writes_a_final_snapshot_and_exits_0(
    redis_url: str, tmp_path: Path, signal_name: str
) -> None:
    engine = EngineProcess(redis_url, tmp_path)
    engine.start()
    client = StreamClient(redis_url)
    client.send_prices(builders.price_batch({"SOL_USDC": ("235.90", "235.95")}))
    assert client.call(builders.command("solo", "create_account")).error_code == 0
    assert engine.terminate() == 0
    assert (tmp_path / "snapshots" / "latest.json.gz").exists()
    engine.start()
    assert (
        client.call(builders.command("solo", "get_usd_balance")).usd_balance.usd_balance.units
        == INITIAL
    )
    assert engine.terminate() == 0
