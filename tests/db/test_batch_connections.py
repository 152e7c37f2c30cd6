"""The ledger's own psycopg connections: reused while healthy, replaced when not, errors as
SQLAlchemy's classes, and no more transactions at once than asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import exc

from gateway_svc.db import is_transient
from gateway_svc.db.batch_connections import BatchConnections
from gateway_svc.db.urls import libpq_conninfo


@pytest.fixture
async def table(database_url: str) -> AsyncIterator[str]:
    name = "batch_connections_probe"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"CREATE TABLE {name} (n int PRIMARY KEY)")
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def rows(database_url: str, table: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        return [n for (n,) in conn.execute(f"SELECT n FROM {table} ORDER BY n")]


@pytest.fixture
async def batches(database_url: str) -> AsyncIterator[BatchConnections]:
    pool = BatchConnections(libpq_conninfo(database_url), size=3)
    yield pool
    await pool.close()


async def test_commits_reuses_and_rolls_back(
    database_url: str, table: str, batches: BatchConnections
) -> None:
    for n in (1, 2):
        async with batches.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} VALUES (%s)", (n,))
    with pytest.raises(RuntimeError):
        async with batches.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} VALUES (3)")
            raise RuntimeError("the caller changed its mind")
    assert rows(database_url, table) == [1, 2]
    assert batches.opened == 1


async def test_a_refused_statement_is_sqlalchemys_error_and_keeps_the_connection(
    database_url: str, table: str, batches: BatchConnections
) -> None:
    async with batches.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} VALUES (1)")
    with pytest.raises(exc.IntegrityError) as refused:
        async with batches.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} VALUES (2)")
            await conn.execute(f"INSERT INTO {table} VALUES (1)")
    assert not is_transient(refused.value)
    async with batches.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} VALUES (3)")
    assert rows(database_url, table) == [1, 3]
    assert batches.opened == 1


@pytest.mark.parametrize("idle", [1, 3])
async def test_a_postgres_restart_costs_one_failed_transaction_whatever_was_idle(
    database_url: str, table: str, batches: BatchConnections, idle: int
) -> None:
    """The failure is transient, and the next transaction gets a fresh connection rather than
    the next dead idle one."""
    held = asyncio.Event()

    async def hold() -> None:
        async with batches.transaction() as conn:
            await conn.execute("SELECT 1")
            await held.wait()

    holders = [asyncio.create_task(hold()) for _ in range(idle)]
    await asyncio.sleep(0.3)
    held.set()
    await asyncio.gather(*holders)
    assert batches.opened == idle
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(exc.OperationalError) as lost:
        async with batches.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} VALUES (1)")
    assert is_transient(lost.value)
    async with batches.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} VALUES (2)")
    assert rows(database_url, table) == [2]
    assert batches.opened == idle + 1


async def test_a_transaction_running_at_close_closes_its_connection_when_it_ends(
    database_url: str, table: str
) -> None:
    batches = BatchConnections(libpq_conninfo(database_url), size=2)
    async with batches.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} VALUES (1)")
        await batches.close()
    assert conn.closed
    assert rows(database_url, table) == [1]


async def test_a_cancelled_transaction_leaves_nothing_and_the_next_one_works(
    database_url: str, table: str, batches: BatchConnections
) -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        async with batches.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} VALUES (1)")
            started.set()
            await conn.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(stuck())
    await started.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # psycopg cancels the statement on the server; the connection is kept only if that
    # left it idle, else replaced. Either way the cancelled insert is gone.
    async with batches.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} VALUES (2)")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert rows(database_url, table) == [2]
    assert batches.opened in (1, 2)


async def test_no_more_transactions_at_once_than_its_size(database_url: str, table: str) -> None:
    batches = BatchConnections(libpq_conninfo(database_url), size=1)
    inside = 0
    most = 0

    async def one(n: int) -> None:
        nonlocal inside, most
        async with batches.transaction() as conn:
            inside += 1
            most = max(most, inside)
            await conn.execute(f"INSERT INTO {table} VALUES (%s)", (n,))
            await asyncio.sleep(0.05)
            inside -= 1

    try:
        await asyncio.gather(*(one(n) for n in range(4)))
        assert most == 1
        assert batches.opened == 1
        assert rows(database_url, table) == [0, 1, 2, 3]
    finally:
        await batches.close()
