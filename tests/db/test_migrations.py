"""The migrations build the whole schema on a fresh database, idempotently and reversibly."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from gateway_svc.db import Database
from gateway_svc.db.migrate import alembic_config, downgrade_to_base, upgrade_to_head
from gateway_svc.db.schema import metadata
from gateway_svc.db.urls import libpq_conninfo, sqlalchemy_url
from tests.conftest import REPO_ROOT
from tests.db.factories import MINUTE_MS, T0_MS, tick

TABLES = {"alembic_version", *metadata.tables}
HEAD = [str(ScriptDirectory.from_config(alembic_config("postgresql:///x")).get_current_head())]


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def _version(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [v for (v,) in conn.execute("SELECT version_num FROM alembic_version")]


def test_upgrade_creates_every_table_and_twice_is_a_no_op(database_url: str) -> None:
    upgrade_to_head(database_url)
    assert _tables(database_url) == TABLES
    head = _version(database_url)
    assert head == HEAD

    upgrade_to_head(database_url)
    assert _tables(database_url) == TABLES
    assert _version(database_url) == head


def test_downgrade_base_drops_everything(database_url: str) -> None:
    upgrade_to_head(database_url)
    downgrade_to_base(database_url)
    assert _tables(database_url) == {"alembic_version"}
    assert _version(database_url) == []
    upgrade_to_head(database_url)
    assert _tables(database_url) == TABLES


def test_query_tables_match_the_migrated_schema(database_url: str) -> None:
    """gateway_svc/db/schema.py (used to build queries) and the migrations must agree."""
    upgrade_to_head(database_url)
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_sqlalchemy_and_libpq_urls_are_both_accepted(database_url: str) -> None:
    upgrade_to_head(sqlalchemy_url(database_url))
    assert _tables(database_url) == TABLES


def test_url_forms_normalize_to_the_psycopg_driver() -> None:
    assert (
        sqlalchemy_url("postgres://a:p%40ss@h:5433/db") == "postgresql+psycopg://a:p%40ss@h:5433/db"
    )
    assert (
        sqlalchemy_url("postgresql+asyncpg://a@h/db?sslmode=require")
        == "postgresql+psycopg://a@h/db?sslmode=require"
    )
    assert (
        sqlalchemy_url("host=/run/pg dbname=ex user=me port=5432")
        == "postgresql+psycopg://me@:5432/ex?host=%2Frun%2Fpg"
    )
    for bad in ("", "mysql://a@h/db"):
        with pytest.raises(ValueError):
            sqlalchemy_url(bad)


def test_the_libpq_form_keeps_what_a_url_encodes() -> None:
    """Spaces in an option, a socket directory and a password: libpq reads them as given."""
    url = "postgresql://me:p%20w@/ex?host=/run/my%20pg&options=-c%20statement_timeout%3D5000"
    assert conninfo_to_dict(libpq_conninfo(url)) == {
        "user": "me",
        "password": "p w",
        "dbname": "ex",
        "host": "/run/my pg",
        "options": "-c statement_timeout=5000",
    }
    assert conninfo_to_dict(libpq_conninfo("host=/run/pg dbname=ex user=me port=5432")) == {
        "user": "me", "dbname": "ex", "host": "/run/pg", "port": "5432",
    }  # fmt: skip


def test_a_libpq_connection_string_reaches_the_same_database(database_url: str) -> None:
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None and name[0] == make_url(database_url).database


def test_services_migrating_at_once_all_succeed(database_url: str) -> None:
    """Separate processes, as the services are (Alembic's context is not thread-safe)."""
    code = "import sys; from gateway_svc.db.migrate import upgrade_to_head as up; up(sys.argv[1])"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url], cwd=REPO_ROOT, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for run in runs:
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err.decode()
    assert _tables(database_url) == TABLES


def test_developer_alembic_ini_works(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    alembic = Path(sys.executable).parent / "alembic"
    done = subprocess.run(
        [str(alembic), "upgrade", "head"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert _version(database_url) == HEAD


def test_exchange_migrate_in_production_needs_only_the_database(
    database_url: str, tmp_path: Path
) -> None:
    """Migrating signs nothing and mails nothing: no secrets and no SMTP_HOST asked for."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SMTP_HOST", "AUTH_JWT_SECRET", "EMAIL_JWT_SECRET")
    }
    env.update(
        DATABASE_URL=database_url, EXCHANGE_ENV="production", EXCHANGE_DATA_DIR=str(tmp_path)
    )
    done = subprocess.run(
        [sys.executable, "-m", "launcher.cli", "migrate"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _version(database_url) == HEAD


async def test_hourly_candles_are_filled_from_the_minutes_written_before(
    database_url: str,
) -> None:
    """0005 adds the hourly candles; the history written before it reads the same by the hour
    as the ledger would have written it."""
    upgrade_to_head(database_url)
    rng = random.Random(5)
    ticks = [
        tick(T0_MS + ms, 100_000_000 + rng.randrange(1_000_000), asset=asset)
        for asset in ("SOL_USDC", "ETH_USDC")
        for ms in sorted(rng.sample(range(0, 30 * 60 * MINUTE_MS, 1000), 300))
    ]
    db = await Database.connect(database_url)
    try:
        await db.record_ticks(ticks)
    finally:
        await db.close()
    query = "SELECT * FROM candles_1h ORDER BY asset, bucket_start"
    with psycopg.connect(database_url) as conn:
        written = conn.execute(query).fetchall()
    assert len(written) > 2

    command.downgrade(alembic_config(database_url), "0004")  # as before 0005: minutes only
    assert "candles_1h" not in _tables(database_url)
    upgrade_to_head(database_url)
    with psycopg.connect(database_url) as conn:
        assert conn.execute(query).fetchall() == written
