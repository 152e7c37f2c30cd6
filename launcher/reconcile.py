"""`exchange reconcile`: compare Postgres with the engine and report every difference.

The engine side is its newest valid snapshot in SNAPSHOT_DIR, loaded by the engine's own code
(checksum checked, damaged ones skipped) into a real Engine. The snapshot stands for one
point of the engine's history: its last event_seq S. Postgres may already hold later events,
so its side is taken as of S too: a trades row whose last event is at or before S is used as
it is; a trade changed after S is read back from its newest ledger event at or before S.

Checked, after waiting (bounded) for Postgres to hold every event up to S:
- events: every event_seq 1..S is in `trade_events` exactly once (the key makes "twice"
  impossible), none missing;
- open trades: the same trade ids, each with the same user, asset, direction, margin,
  leverage, entry price, liquidation / stop-loss / take-profit levels and open time;
- balances: each engine account's balance against what Postgres implies, the initial credit
  plus the realized results of its closed trades (total_return - margin) minus the margins of
  its open ones; a user with trades in Postgres but no engine account is a difference too;
- accounts: each engine account has its successful CREATE_ACCOUNT row in `orders`.
Not checkable from Postgres: the engine's prices, its order memory (answers it remembers for
retries), and the e-mail an account was opened with.

Exit status: 0 when both agree, 1 when anything differs, 2 when it cannot compare (no
snapshot, no database or one it cannot read, a wrong setting), said in one line.

The database is DATABASE_URL's or, when that is unset, the embedded PostgreSQL of the
`exchange up` running on EXCHANGE_DATA_DIR (never one started here: its data would be
another's).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.v1 import events_pb2
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from engine_svc.core import Engine
from engine_svc.core.types import INITIAL_USD_BALANCE
from engine_svc.service import snapshots
from gateway_svc.db.rows import rescale, ts_to_ms
from gateway_svc.db.trade_ledger import trade_values
from gateway_svc.db.urls import sqlalchemy_url
from launcher.database import EMBEDDED_POSTGRES, checked_url, failure, running_embedded_url
from mesh import logs
from mesh.config import DEFAULT_IDEMPOTENCY_PER_USER, ConfigError, Settings, load_settings

log = logging.getLogger("exchange.reconcile")

_LEVELS = ("entry_price", "liquidation_price", "stop_loss_price", "take_profit_price")
_LIVE = frozenset({"OPEN", "PENDING"})
_ENDED_ORDERS = frozenset({"CANCELLED", "EXPIRED", "REJECTED"})


@dataclass(frozen=True)
class Difference:
    kind: str  # event | trade | balance | account
    key: str  # the event_seq, trade id or user id it is about
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.detail}"


@dataclass
class Report:
    snapshot: str = ""
    event_seq: int = 0
    open_trades: int = 0
    accounts: int = 0
    differences: list[Difference] = field(default_factory=list)

    def differ(self, kind: str, key: object, detail: str) -> None:
        self.differences.append(Difference(kind, str(key), detail))


def reconcile(database_url: str, snapshot_dir: Path, wait_s: float = 30.0) -> Report:
    """Raises FileNotFoundError when no snapshot holds, a driver error when Postgres is out."""
    loaded = snapshots.load_newest(snapshot_dir)
    if loaded is None:
        raise FileNotFoundError(f"no valid engine snapshot in {snapshot_dir}")
    path, data = loaded
    core = data["engine"]  # the service's layout: journal position, stream ids, the core
    config = core["config"]
    engine = Engine.restore(
        core,
        config["assets"],
        maintenance_margin_ppm=config["maintenance_margin_ppm"],
        max_open_trades_per_user=config["max_open_trades_per_user"],
        max_pending_orders_per_user=config.get("max_pending_orders_per_user", 200),
        idempotency_per_user=config.get("idempotency_per_user", DEFAULT_IDEMPOTENCY_PER_USER),
    )
    report = Report(path.name, engine.event_seq, len(engine.positions), len(engine.accounts))
    db = create_engine(sqlalchemy_url(database_url))
    try:
        with db.connect() as conn:
            _wait_for_events(conn, engine, wait_s)
            _check_events(conn, report)
            trades = _trades_as_of(conn, report)
            _check_open_trades(engine, trades, report)
            _check_balances(engine, trades, report)
            _check_accounts(conn, engine, report)
    finally:
        db.dispose()
    return report


def _wait_for_events(conn: Connection, engine: Engine, wait_s: float) -> None:
    """The ledger may still be writing what the engine published before its snapshot."""
    deadline = time.monotonic() + wait_s
    users = list(engine.accounts)
    while True:
        held = conn.scalar(
            text("SELECT count(*) FROM trade_events WHERE event_seq <= :s"),
            {"s": engine.event_seq},
        )
        accounts = _accounts_recorded(conn, users)
        conn.rollback()  # a fresh snapshot of the database on each look
        if (held == engine.event_seq and accounts == len(users)) or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def _accounts_recorded(conn: Connection, users: list[str]) -> int:
    return int(
        conn.scalar(
            text(
                "SELECT count(DISTINCT user_id) FROM orders WHERE command = 'CREATE_ACCOUNT' "
                "AND status = 'success' AND user_id = ANY(:users)"
            ),
            {"users": users},
        )
        or 0
    )


def _check_events(conn: Connection, report: Report, shown: int = 100) -> None:
    s = report.event_seq
    missing = conn.execute(
        text(
            "SELECT seq FROM generate_series(1, CAST(:s AS bigint)) AS seq "
            "WHERE NOT EXISTS (SELECT 1 FROM trade_events WHERE event_seq = seq) "
            "ORDER BY seq"
        ),
        {"s": s},
    ).all()
    for (seq,) in missing[:shown]:
        report.differ("event", seq, f"missing from trade_events (the snapshot is at {s})")
    if len(missing) > shown:
        report.differ("event", "...", f"{len(missing) - shown} more events missing")


def _trades_as_of(conn: Connection, report: Report) -> dict[str, dict[str, Any]]:
    """Every trade as Postgres knew it at the snapshot's event_seq, by trade id."""
    s = report.event_seq
    found = {
        row["trade_id"]: dict(row)
        for row in conn.execute(
            text("SELECT * FROM trades WHERE last_event_seq <= :s"), {"s": s}
        ).mappings()
    }
    newer = conn.execute(
        text(
            "SELECT DISTINCT ON (e.trade_id) e.trade_id, e.payload, t.trade_id AS row "
            "FROM trade_events AS e LEFT JOIN trades AS t USING (trade_id) "
            "WHERE e.event_seq <= :s AND (t.trade_id IS NULL OR t.last_event_seq > :s) "
            "ORDER BY e.trade_id, e.event_seq DESC"
        ),
        {"s": s},
    ).all()
    for trade_id, payload, row in newer:
        if row is None:
            report.differ("trade", trade_id, "in trade_events but has no trades row")
        found[trade_id] = trade_values(events_pb2.TradeEvent.FromString(payload))
    return found


def _engine_view(pos: Any) -> dict[str, Any]:
    return {
        "user_id": pos.account.user_id,
        "asset": pos.asset,
        "direction": "LONG" if pos.is_long else "SHORT",
        "margin": pos.margin,
        "leverage": pos.leverage,
        "entry_price": pos.entry,
        "liquidation_price": pos.liquidation,
        "stop_loss_price": pos.stop_loss,
        "take_profit_price": pos.take_profit,
        "opened_at_ms": pos.opened_at_ms,
    }


def _postgres_view(row: dict[str, Any], scale: int) -> dict[str, Any]:
    view = {name: row[name] for name in ("user_id", "asset", "direction", "margin", "leverage")}
    for name in _LEVELS:
        value = row[name]
        view[name] = None if value is None else rescale(value, row["price_scale"], scale, name)
    view["opened_at_ms"] = ts_to_ms(row["opened_at"])
    return view


def _check_open_trades(engine: Engine, trades: dict[str, dict[str, Any]], report: Report) -> None:
    # Pending orders live in the engine's trades too (SPEC 3a).
    open_rows = {tid: row for tid, row in trades.items() if row["status"] in _LIVE}
    for trade_id, pos in engine.trades.items():
        row = open_rows.pop(trade_id, None)
        if row is None:
            status = trades[trade_id]["status"] if trade_id in trades else "no row"
            report.differ("trade", trade_id, f"open in the engine, {status} in Postgres")
            continue
        want = _engine_view(pos)
        try:
            have = _postgres_view(row, engine.assets.get(pos.asset, row["price_scale"]))
        except ValueError as error:
            report.differ("trade", trade_id, f"unreadable in Postgres: {error}")
            continue
        if row.get("trailing_stop_distance") is not None:
            # A trailing stop moves without an event: Postgres has it where it last stood.
            del want["stop_loss_price"]
        for name, value in want.items():
            if have[name] != value:
                report.differ("trade", trade_id, f"{name}: engine {value}, Postgres {have[name]}")
    for trade_id in open_rows:
        report.differ("trade", trade_id, "open in Postgres, not in the engine")


def _check_balances(engine: Engine, trades: dict[str, dict[str, Any]], report: Report) -> None:
    implied: dict[str, int] = defaultdict(lambda: INITIAL_USD_BALANCE)
    for row in trades.values():
        if row["status"] in _LIVE:  # an open margin, or one a pending order reserves
            implied[row["user_id"]] -= row["margin"]
        elif row["status"] in _ENDED_ORDERS:  # reserved, then returned in full
            continue
        else:
            implied[row["user_id"]] += (row["total_return"] or 0) - row["margin"]
    for user_id, account in engine.accounts.items():
        balance = implied.pop(user_id, INITIAL_USD_BALANCE)
        if balance != account.balance:
            report.differ(
                "balance",
                user_id,
                f"engine {account.balance}, Postgres implies {balance} (USD units of 0.0001)",
            )
    for user_id in implied:
        report.differ("balance", user_id, "has trades in Postgres but no engine account")


def _check_accounts(conn: Connection, engine: Engine, report: Report) -> None:
    recorded = {
        user_id
        for (user_id,) in conn.execute(
            text(
                "SELECT DISTINCT user_id FROM orders "
                "WHERE command = 'CREATE_ACCOUNT' AND status = 'success'"
            )
        )
    }
    for user_id in engine.accounts:
        if user_id not in recorded:
            report.differ("account", user_id, "no successful CREATE_ACCOUNT row in orders")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange reconcile", description=__doc__.split("\n")[0])
    parser.add_argument("--snapshot-dir", type=Path, help="default: SNAPSHOT_DIR")
    parser.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the ledger to catch up"
    )
    args = parser.parse_args(argv)
    where = "DATABASE_URL"
    try:
        logs.setup("reconcile")
        settings = load_settings(need_secrets=False)
        if not settings.database_url:
            where = f"the embedded postgres in {settings.data_dir / EMBEDDED_POSTGRES}"
        report = reconcile(
            _database_url(settings), args.snapshot_dir or settings.snapshot_dir, args.wait
        )
    except (ConfigError, FileNotFoundError) as error:
        return _cannot_compare(str(error))
    except OperationalError as error:
        return _cannot_compare(f"cannot reach the database at {where}: {failure(error)}")
    except SQLAlchemyError as error:  # reached, but not an exchange's (not migrated, say)
        return _cannot_compare(f"the database at {where} failed: {failure(error)}")
    for difference in report.differences:
        print(difference)
    verdict = f"{len(report.differences)} differences" if report.differences else "no differences"
    print(
        f"reconcile: snapshot {report.snapshot} (events up to {report.event_seq}, "
        f"{report.open_trades} open trades, {report.accounts} accounts): {verdict}"
    )
    return 1 if report.differences else 0


def _database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded database of the `exchange up` running on this data dir."""
    if settings.database_url:
        return checked_url(settings.database_url)
    url = running_embedded_url(settings.data_dir)
    if url is None:
        raise ConfigError(
            f"DATABASE_URL is not set and no `exchange up` runs its embedded postgres in "
            f"{settings.data_dir / EMBEDDED_POSTGRES}: run reconcile with the EXCHANGE_DATA_DIR "
            "of a running `exchange up`, or set DATABASE_URL (`exchange up` logs its embedded "
            "one's URL in its line 'embedded postgres at ...')"
        )
    log.info("reconcile: using the embedded postgres of a running `exchange up`: %s", url)
    return url


def _cannot_compare(why: str) -> int:
    print(f"exchange reconcile: cannot compare: {why}", file=sys.stderr)
    return 2
