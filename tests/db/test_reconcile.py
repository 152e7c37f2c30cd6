"""`exchange reconcile` against a real engine snapshot and the rows its events make."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from engine_svc.core import Engine
from engine_svc.core.types import (
    CloseTrade,
    Command,
    CommandBody,
    CreateAccount,
    CreateTrade,
    Direction,
    Price,
    Tick,
    TradeEvent,
    Usd,
)
from engine_svc.service import snapshots
from engine_svc.service.convert import event_to_proto
from engine_svc.service.recovery import snapshot_data
from gateway_svc.db import Database, OrderRow
from launcher import reconcile
from launcher.database import running_embedded_url
from tests.core.driver import ASSETS

SOL = 236_140_000  # 236.14 at 6 decimals
USERS = ("alice", "bob", "carol")


class Exchange:
    """An engine core fed by hand; keeps every event it emits, as the ledger would get them."""

    def __init__(self) -> None:
        self.engine = Engine(ASSETS)
        self.events: list[TradeEvent] = []
        self.ts_ms = 1_700_000_000_000
        self.orders = 0

    def run(self, user: str, body: CommandBody) -> str:
        self.ts_ms += 1
        self.orders += 1
        command = Command(f"o{self.orders}", user, f"{user}@example.com", self.ts_ms, body)
        outcome = self.engine.execute(command)
        assert outcome.response is not None and outcome.response.ok, outcome.response
        self.events.extend(outcome.events)
        trade = getattr(outcome.response.data, "trade", None)
        return "" if trade is None else str(trade.trade_id)

    def tick(self, bid: int, ask: int) -> None:
        self.ts_ms += 1
        self.events.extend(
            self.engine.apply_tick(Tick("SOL_USDC", Price(bid), Price(ask), self.ts_ms * 1000))
        )

    def open(self, user: str, direction: Direction, leverage: int, **levels: int) -> str:
        stop, take = levels.get("stop_loss"), levels.get("take_profit")
        return self.run(
            user,
            CreateTrade(
                "SOL_USDC",
                direction,
                Usd(1_000_000),
                leverage,
                None if stop is None else Price(stop),
                None if take is None else Price(take),
            ),
        )


@pytest.fixture
def history(tmp_path: Path) -> tuple[Exchange, dict[str, str], int]:
    """A snapshot in tmp_path, and what happened after it; (exchange, trade ids, events then)."""
    ex = Exchange()
    for user in USERS:
        ex.run(user, CreateAccount())
    ex.tick(SOL - 10_000, SOL)
    ids = {
        "kept": ex.open("alice", Direction.LONG, 20, stop_loss=200_000_000),
        "closed_later": ex.open("alice", Direction.LONG, 50),
        "closed_before": ex.open("alice", Direction.SHORT, 10, take_profit=100_000_000),
        "liquidated": ex.open("bob", Direction.SHORT, 1000),
    }
    ex.run("alice", CloseTrade(ids["closed_before"]))
    ex.tick(SOL * 105 // 100, SOL * 105 // 100 + 10_000)  # bob's 100x SHORT is liquidated
    # Written as the engine service writes them (recovery.snapshot_data: seq, ids, the core).
    snapshots.write(tmp_path, snapshot_data(ex.engine, {}), ex.ts_ms, keep=3)
    at_snapshot = len(ex.events)
    ex.run("alice", CloseTrade(ids["closed_later"]))  # after the snapshot: Postgres is ahead
    ex.run("bob", CreateTrade("SOL_USDC", Direction.LONG, Usd(2_000_000), 10, None, None))
    return ex, ids, at_snapshot


async def _record(db: Database, ex: Exchange) -> None:
    await db.record_trade_events([event_to_proto(e, ASSETS) for e in ex.events])
    await db.record_orders(
        [
            OrderRow(f"acct-{u}", u, "CREATE_ACCOUNT", "success", None, "", 1, None, 1, None)
            for u in USERS
        ]
    )


async def test_agreeing_databases_report_nothing(
    history: tuple[Exchange, dict[str, str], int], db: Database, migrated_url: str, tmp_path: Path
) -> None:
    ex, _, at_snapshot = history
    await _record(db, ex)
    report = reconcile.reconcile(migrated_url, tmp_path, wait_s=0)
    assert report.differences == []
    assert report.event_seq == at_snapshot == 6  # four opens, a close, a liquidation
    assert (report.open_trades, report.accounts) == (2, 3)


async def test_tampered_rows_and_missing_events_are_named(
    history: tuple[Exchange, dict[str, str], int], db: Database, migrated_url: str, tmp_path: Path
) -> None:
    ex, ids, _ = history
    await _record(db, ex)
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("UPDATE trades SET margin = margin + 1 WHERE trade_id = %s", (ids["kept"],))
        conn.execute("DELETE FROM trade_events WHERE event_seq = 5")  # alice's close
        conn.execute("DELETE FROM orders WHERE user_id = 'carol'")
    report = reconcile.reconcile(migrated_url, tmp_path, wait_s=0.2)
    found = {(d.kind, d.key) for d in report.differences}
    assert ("trade", ids["kept"]) in found
    assert ("event", "5") in found
    assert ("balance", "alice") in found  # the tampered margin changes what Postgres implies
    assert ("account", "carol") in found
    [margin] = [d for d in report.differences if d.key == ids["kept"]]
    assert "margin: engine 1000000, Postgres 1000001" in str(margin)


async def test_the_command_exits_1_on_a_difference_and_2_without_a_snapshot(
    history: tuple[Exchange, dict[str, str], int],
    db: Database,
    migrated_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ex, ids, _ = history
    await _record(db, ex)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    assert reconcile.main(["--snapshot-dir", str(tmp_path), "--wait", "0"]) == 0
    assert "no differences" in capsys.readouterr().out
    with psycopg.connect(migrated_url, autocommit=True) as conn:
        conn.execute("UPDATE trades SET status = 'CLOSED' WHERE trade_id = %s", (ids["kept"],))
    assert reconcile.main(["--snapshot-dir", str(tmp_path), "--wait", "0"]) == 1
    out = capsys.readouterr().out
    assert f"trade {ids['kept']}: open in the engine, CLOSED in Postgres" in out
    assert reconcile.main(["--snapshot-dir", str(tmp_path / "none"), "--wait", "0"]) == 2


async def test_the_toolset_reconciles(db: Database, migrated_url: str, tmp_path: Path) -> None:
    """Pending orders (margin reserved), ended orders (margin back), a partial close (its part
    a row of its own, its trade's margin smaller) and a trailing stop that moved since its last
    event: all agree with the engine."""
    from engine_svc.core.types import CancelOrder, OrderType, PlaceOrder

    ex = Exchange()
    for user in USERS:
        ex.run(user, CreateAccount())
    ex.tick(SOL - 10_000, SOL)
    ex.run("carol", PlaceOrder("SOL_USDC", Direction.LONG, OrderType.LIMIT, Price(SOL - 5_000_000),
                               Usd(500_000), 20))  # fmt: skip
    cancelled = ex.run(
        "carol",
        PlaceOrder("SOL_USDC", Direction.LONG, OrderType.STOP, Price(SOL * 2), Usd(300_000)),
    )
    ex.run("carol", CancelOrder(cancelled))
    kept = ex.open("alice", Direction.LONG, 20)
    ex.run("alice", CloseTrade(kept, Usd(400_000)))
    ex.run(
        "bob",
        CreateTrade("SOL_USDC", Direction.LONG, Usd(1_000_000), 20, None, None, Price(5_000_000)),
    )
    ex.tick(SOL + 2_000_000, SOL + 2_010_000)  # bob's trailing stop rises; not an event
    snapshots.write(tmp_path, snapshot_data(ex.engine, {}), ex.ts_ms, keep=3)
    await _record(db, ex)
    report = reconcile.reconcile(migrated_url, tmp_path, wait_s=0)
    assert [str(d) for d in report.differences] == []


def _cannot_compare(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line `exchange reconcile` says why it cannot compare in (exit status 2), after
    its log lines (the snapshot it loaded)."""
    out, err = capsys.readouterr()
    said = [line for line in err.splitlines() if line.startswith("exchange reconcile: ")]
    assert out == "" and len(said) == 1 and "Traceback" not in err, err
    assert said[0].startswith("exchange reconcile: cannot compare: "), said[0]
    return said[0].removeprefix("exchange reconcile: cannot compare: ")


def test_a_database_it_cannot_reach_is_one_line_and_exit_2(
    history: tuple[Exchange, dict[str, str], int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:S3cretPassw0rd@127.0.0.1:1/none")
    assert reconcile.main(["--snapshot-dir", str(tmp_path), "--wait", "0"]) == 2
    why = _cannot_compare(capsys)
    assert why.startswith("cannot reach the database at DATABASE_URL: connection failed"), why
    assert "S3cret" not in why


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("DATABASE_URL", "notaurl", "DATABASE_URL: not a PostgreSQL URL"),
        ("DATABASE_URL", "postgresql://me:S3cret@db:notaport/x", "DATABASE_URL: not a PostgreSQL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json, got 'xml'"),
    ],
)
def test_a_wrong_setting_is_one_line_and_exit_2(
    variable: str,
    value: str,
    why: str,
    history: tuple[Exchange, dict[str, str], int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv(variable, value)
    assert reconcile.main(["--snapshot-dir", str(tmp_path), "--wait", "0"]) == 2
    said = _cannot_compare(capsys)
    assert said.startswith(why) and "S3cret" not in said, said


async def test_a_database_without_the_exchanges_tables_is_one_line_and_exit_2(
    history: tuple[Exchange, dict[str, str], int],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)  # empty: never migrated
    assert reconcile.main(["--snapshot-dir", str(tmp_path), "--wait", "0"]) == 2
    why = _cannot_compare(capsys)
    assert why == 'the database at DATABASE_URL failed: relation "trade_events" does not exist'


async def test_without_database_url_it_uses_the_running_exchanges_embedded_database(
    history: tuple[Exchange, dict[str, str], int],
    db: Database,
    migrated_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ex, _, _ = history
    await _record(db, ex)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(data_dir))
    args = ["--snapshot-dir", str(tmp_path), "--wait", "0"]
    assert reconcile.main(args) == 2  # no `exchange up` runs there: it says how to get one
    why = _cannot_compare(capsys)
    assert why.startswith(
        f"DATABASE_URL is not set and no `exchange up` runs its embedded postgres in "
        f"{data_dir / 'postgres'}: "
    ), why
    found: list[Path] = []

    def running(where: Path) -> str:
        found.append(where)
        return migrated_url

    monkeypatch.setattr(reconcile, "running_embedded_url", running)
    assert reconcile.main(args) == 0
    assert found == [data_dir]
    assert "no differences" in capsys.readouterr().out


def test_the_embedded_database_is_read_from_its_postmaster_pid(tmp_path: Path) -> None:
    """What a running embedded PostgreSQL writes (pid, data, start, port, socket folder, ...)
    names its database; a postmaster.pid whose process is gone names none."""
    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    assert running_embedded_url(tmp_path) is None
    sockets = tmp_path / "sock dir"

    def postmaster(pid: int) -> None:
        lines = [str(pid), str(pgdata), "1712346200", "5433", str(sockets), "", "0 1", "ready"]
        (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")

    postmaster(os.getpid())  # a live process
    url = running_embedded_url(tmp_path)
    assert (
        url == f"postgresql://postgres@/exchange?host={str(sockets).replace(' ', '%20')}&port=5433"
    )
    gone = subprocess.Popen(["true"])
    gone.wait()
    postmaster(gone.pid)
    assert running_embedded_url(tmp_path) is None
