"""kill -9 the engine under load with pending orders, fills, partial closes, modifications,
expiries and trailing stops: after the last restart every answered command still holds, and
the engine's final snapshot and the Postgres audit trail (written by the ledger from the
events) agree trade by trade and balance by balance (`exchange reconcile`)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import psycopg
from exchange.v1 import commands_pb2, types_pb2

from gateway_svc.db.migrate import upgrade_to_head
from launcher import reconcile
from tests.e2e.harness import Mesh
from tests.e2e.stream_client import StreamClient
from tests.engine_service import builders
from tests.engine_service.engine_process import EngineProcess

USERS = [f"trader-{i}" for i in range(6)]
KILLS = 3
ROUNDS = 24


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def sol(bid_cents: int) -> bytes:
    """SOL_USDC at bid `bid_cents`/100 and an ask 5 cents above."""

    def text(cents: int) -> str:
        return f"{cents // 100}.{cents % 100:02d}"

    return builders.price_batch({"SOL_USDC": (text(bid_cents), text(bid_cents + 5))})


def random_command(
    rng: random.Random, ts_ms: int, pending: list[tuple[str, str]], opened: list[tuple[str, str]]
) -> commands_pb2.Command:
    user = rng.choice(USERS)
    roll = rng.random()
    if roll < 0.3:
        msg = builders.command(user, "place_order", ts_ms=ts_ms)
        body = msg.place_order
        body.margin.CopyFrom(dec(rng.randint(1, 50) * 10_000, 4))
        body.asset = "SOL_USDC"
        body.direction = rng.choice([types_pb2.DIRECTION_LONG, types_pb2.DIRECTION_SHORT])
        body.order_type = rng.choice([types_pb2.ORDER_TYPE_LIMIT, types_pb2.ORDER_TYPE_STOP])
        below = (body.direction == types_pb2.DIRECTION_LONG) == (
            body.order_type == types_pb2.ORDER_TYPE_LIMIT
        )
        body.price.CopyFrom(dec(rng.randint(1, 400) * (-1 if below else 1) + 23_500, 2))
        body.leverage = rng.choice([10, 50, 100])
        if rng.random() < 0.5:
            body.expires_at_ms = ts_ms + rng.randint(1, 40)
        if rng.random() < 0.3:
            body.trailing_stop_distance.CopyFrom(dec(rng.randint(50, 500), 2))
        return msg
    if roll < 0.45 and pending:
        user, trade_id = pending.pop(rng.randrange(len(pending)))
        return builders.command(user, "cancel_order", ts_ms=ts_ms, trade_id=trade_id)
    if roll < 0.6 and opened:
        user, trade_id = rng.choice(opened)
        msg = builders.command(user, "close_trade", ts_ms=ts_ms, trade_id=trade_id)
        if rng.random() < 0.7:
            msg.close_trade.margin.CopyFrom(dec(rng.randint(1, 5) * 10_000, 4))
        return msg
    if roll < 0.7 and opened:
        user, trade_id = rng.choice(opened)
        msg = builders.command(user, "modify_trade", ts_ms=ts_ms, trade_id=trade_id)
        msg.modify_trade.asset = "SOL_USDC"
        msg.modify_trade.trailing_stop_distance.value.CopyFrom(dec(rng.randint(50, 500), 2))
        return msg
    msg = builders.create_trade(
        user, "SOL_USDC", rng.choice(["LONG", "SHORT"]), rng.randint(1, 50) * 10_000,
        rng.choice([10, 50, 100]), ts_ms=ts_ms,
    )  # fmt: skip
    if rng.random() < 0.5:
        msg.create_trade.trailing_stop_distance.CopyFrom(dec(rng.randint(50, 500), 2))
    return msg


def test_kill_9_with_the_toolset_loses_nothing(
    redis_url: str, database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(20261129)
    upgrade_to_head(database_url)
    ledger = Mesh(redis_url, database_url, tmp_path / "ledger", smtp_port=1)
    ledger.workdir.mkdir()
    ledger.start("ledger")
    engine = EngineProcess(redis_url, tmp_path)
    try:
        engine.start()
        client = StreamClient(redis_url)
        client.send_prices(sol(23_500))
        for user in USERS:
            assert client.call(builders.command(user, "create_account")).error_code == 0

        sent: dict[str, commands_pb2.Command] = {}
        pending: list[tuple[str, str]] = []
        opened: list[tuple[str, str]] = []
        known: set[str] = set()  # every trade id an answer gave
        kill_at = sorted(rng.sample(range(3, ROUNDS), KILLS))
        ts_ms = 2_000
        for round_no in range(ROUNDS):
            client.send_prices(sol(23_500 + rng.randint(-300, 300)))
            burst = []
            for _ in range(15):
                ts_ms += 1
                cmd = random_command(rng, ts_ms, pending, opened)
                sent[cmd.order_id] = cmd
                burst.append(client.send(cmd))
            if kill_at and round_no == kill_at[0]:
                kill_at.pop(0)
                time.sleep(rng.random() * 0.05)
                engine.kill9()
                engine.start()
                client.poll(50)
                for order_id in burst:
                    if order_id not in client.answers:
                        client.send(sent[order_id])  # a retry, with the same order id
            for result in client.wait_for(burst).values():
                for field, into in (("order_placed", pending), ("trade_opened", opened)):
                    if result.HasField(field):
                        trade = getattr(result, field).trade
                        into.append((trade.user_id, trade.trade_id))
                        known.add(trade.trade_id)
        assert engine.starts == KILLS + 1
        answered = [client.answers[o] for o in sent]
        kinds = {r.WhichOneof("data") for r in answered if not r.error_code}
        assert {"order_placed", "trade_opened", "trade_closed", "trade_modified"} <= kinds

        # A clean stop writes the final snapshot: it and Postgres must agree on everything.
        assert engine.terminate() == 0
        report = reconcile.reconcile(database_url, tmp_path / "snapshots", wait_s=30)
        assert [str(d) for d in report.differences] == []
        with psycopg.connect(database_url) as conn:
            happened = {kind for (kind,) in conn.execute("SELECT DISTINCT kind FROM trade_events")}
            filled = conn.execute(
                "SELECT count(*) FROM trades WHERE order_type IS NOT NULL "
                "AND status NOT IN ('PENDING', 'CANCELLED', 'EXPIRED', 'REJECTED')"
            ).fetchone()
        assert filled is not None and filled[0] > 0  # orders filled on the price path
        assert {
            "ORDER_PLACED", "ORDER_CANCELLED", "ORDER_EXPIRED", "OPENED", "TRADE_MODIFIED",
            "TRADE_PARTIALLY_CLOSED", "CLOSED", "STOP_LOSS",
        } <= happened, happened  # fmt: skip
        # And a clean restart lands on the same state: nothing live that no answer gave.
        engine.start()
        for user in USERS:
            live = {
                t.trade_id
                for body in ("get_open_trades", "get_pending_orders")
                for t in client.call(builders.command(user, body)).open_trades.trades
            }
            assert live <= known
            balance = client.call(builders.command(user, "get_usd_balance")).usd_balance.usd_balance
            assert balance.units >= 0
        ledger.stop_all()
        assert engine.terminate() == 0
        log = (tmp_path / "engine.log").read_text()
        assert log.count("recovered to seq") == engine.starts
    finally:  # a failed assertion must not leave the engine or the ledger running
        ledger.stop_all()
        if engine.process is not None and engine.process.poll() is None:
            engine.process.kill()
            engine.process.wait()
