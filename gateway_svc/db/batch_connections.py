"""psycopg connections of their own for the ledger's batch writes, beside SQLAlchemy's pool.

A ledger batch is one short transaction of a few fixed statements. Through SQLAlchemy's async
engine each also paid a pre-ping round trip on checkout and a greenlet hand-off around every
call. On a plain psycopg connection the same 15-row audit batch took less than half the CPU
(BENCHMARKS.md, session 9), and the ledger was a fifth of the exchange's CPU under load.

- A connection is opened on first need (a gateway, which writes no batches, opens none) and
  kept for the next transaction while it is healthy and idle. One a cancellation left inside a
  statement is closed. One found broken is closed together with every idle one (a Postgres
  restart took them all), so a restart costs the batches in flight at that moment, which the
  ledger retries, not one more per idle connection.
- At most `size` transactions run at once; more wait for a connection.
- Errors leave as SQLAlchemy's exception classes (`DBAPIError.instance`), as from the rest of
  `Database`, so callers tell refused rows from outages in one way (`is_transient`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import exc

CONNECT_TIMEOUT_S = 10


class BatchConnections:
    def __init__(self, url: str, size: int) -> None:
        """`url`: a libpq connection string (gateway_svc.db.urls.libpq_conninfo)."""
        self._url = url
        self._idle: list[psycopg.AsyncConnection] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False
        self.opened = 0  # connections opened so far: tests read it

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection inside a transaction: committed when the block ends, rolled back if it
        raises."""
        async with self._slots:
            conn: psycopg.AsyncConnection | None = None
            try:
                conn = self._idle.pop() if self._idle else await self._open()
                async with conn.transaction():
                    yield conn
            except psycopg.Error as error:
                raise exc.DBAPIError.instance(
                    "", None, error, psycopg.Error, hide_parameters=True,
                    connection_invalidated=conn is not None and conn.broken,
                ) from error  # fmt: skip
            except exc.DBAPIError as error:  # a statement's, mapped already (UnnestInsert)
                # Whatever its class, an error that cost the connection is an outage.
                if conn is not None and conn.broken:
                    error.connection_invalidated = True
                raise
            finally:
                if conn is not None:
                    await self._give_back(conn)

    async def _open(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(self._url, connect_timeout=CONNECT_TIMEOUT_S)
        self.opened += 1
        return conn

    async def _give_back(self, conn: psycopg.AsyncConnection) -> None:
        if conn.broken:
            await self._close_idle()
        reusable = (
            not self._closed
            and not conn.closed
            and not conn.broken
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        if reusable:
            self._idle.append(conn)
        else:
            # Closing drops the socket: the server rolls back whatever it left unfinished.
            await conn.close()

    async def _close_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    async def close(self) -> None:
        """Close the idle connections now, and any still in a transaction when it ends."""
        self._closed = True
        await self._close_idle()
