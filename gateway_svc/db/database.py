"""The audit trail's one entry point: async SQLAlchemy Core over psycopg 3.

Every method is one short transaction. Writes that can be retried (orders, events, ticks,
tokens) are idempotent, so a caller that is unsure whether a commit happened just calls again.
Connection failures surface as sqlalchemy.exc.OperationalError / InterfaceError (see
`is_transient`); the pool pings connections before use, so a restarted Postgres costs one error
at most, not a poisoned pool. The ledger's batch writes (orders, trade events) run on psycopg
connections of their own instead (`batch_connections`): the same errors, a fraction of the CPU.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from exchange.v1 import events_pb2, prices_pb2
from sqlalchemy import ColumnElement, Row, Select, and_, exc, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway_svc.db import candle_sql, trade_ledger
from gateway_svc.db.batch_connections import BatchConnections
from gateway_svc.db.multirow import UnnestInsert
from gateway_svc.db.pages import clamp_limit, decode_token, encode_token
from gateway_svc.db.rows import (
    CandleRow,
    OrderRow,
    TradeRow,
    UserRow,
    ms_to_ts,
    order_values,
    row_to_order,
    row_to_trade,
    ts_to_ms,
)
from gateway_svc.db.schema import (
    candles_1h,
    email_tokens_used,
    orders,
    revoked_sessions,
    session_cutoffs,
    trades,
    users,
)
from gateway_svc.db.urls import libpq_conninfo, sqlalchemy_url
from mesh import abandon

# Expired one-time tokens and revoked sessions are useless once the JWT itself has expired;
# a day of slack covers clock skew between gateways.
_PURGE_EVERY_S = 600.0
_PURGE_AFTER = timedelta(days=1)


_INSERT_ORDERS = UnnestInsert.of(
    orders,
    [c.name for c in orders.columns],
    "ON CONFLICT (user_id, order_id, engine_seq) DO NOTHING RETURNING order_id",
)


T = TypeVar("T")

READ_TIMEOUT_S = 3.0
"""How long a request's read may wait for the database: under the REST facade's deadline, so
a frozen database is a 503 naming it, not a 504 that blames the engine."""


class DatabaseTimeout(TimeoutError):
    """A read the database did not answer in time."""


async def answered_within(read: Awaitable[T], timeout_s: float | None = None) -> T:
    """`read`'s result, or DatabaseTimeout after `timeout_s` (READ_TIMEOUT_S), without waiting
    for the read's cancellation (mesh.abandon)."""
    try:
        return await abandon.within(read, READ_TIMEOUT_S if timeout_s is None else timeout_s)
    except TimeoutError as timeout:
        if isinstance(timeout, DatabaseTimeout):
            raise
        raise DatabaseTimeout(f"the database did not answer: {timeout}") from None


def unavailable(error: BaseException) -> bool:
    """True when a request failed because the database is away or too slow (not for a
    refused statement, and not for other I/O such as mail or Redis)."""
    if isinstance(error, DatabaseTimeout):
        return True
    # is_transient's, but the driver's alone: a bare OSError may be any other I/O.
    return is_transient(error) and not isinstance(error, OSError)


def is_transient(error: BaseException) -> bool:
    """True for "the database is unreachable or restarting": retry later, the data is fine."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError | OSError)


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if not normalized:
        raise ValueError("email is empty")
    return normalized


# Batch transactions at once per process: each ledger writer has two in flight.
BATCH_CONNECTIONS = 6


class Database:
    def __init__(self, engine: AsyncEngine, batches: BatchConnections) -> None:
        self._engine = engine
        self._batches = batches
        self._next_purge = 0.0

    @classmethod
    async def connect(cls, database_url: str) -> Database:
        """Open the pool and check the server answers (raises if it does not)."""
        engine = create_async_engine(
            sqlalchemy_url(database_url),
            pool_size=5,
            max_overflow=5,
            pool_pre_ping=True,
            pool_timeout=10,
            # A black-holed host would otherwise hang a connect (and the caller) for minutes.
            connect_args={"connect_timeout": 10},
        )
        db = cls(engine, BatchConnections(libpq_conninfo(database_url), BATCH_CONNECTIONS))
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except BaseException:
            await engine.dispose()
            raise
        return db

    async def close(self) -> None:
        await self._batches.close()
        await self._engine.dispose()

    async def check(self) -> None:
        """SELECT 1; raises the driver's error when the server does not answer."""
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # Users

    async def get_or_create_user(self, email: str) -> tuple[UserRow, bool]:
        """(row, created). Safe under races: the unique email decides who creates."""
        normalized = normalize_email(email)
        async with self._engine.begin() as conn:
            created = (
                await conn.execute(
                    insert(users)
                    .values(id=str(uuid.uuid4()), email=normalized)
                    .on_conflict_do_nothing(index_elements=[users.c.email])
                    .returning(users)
                )
            ).first()
            row = (
                created
                or (await conn.execute(select(users).where(users.c.email == normalized))).one()
            )
        return UserRow(row.id, row.email, ts_to_ms(row.created_at)), created is not None

    async def find_user_by_email(self, email: str) -> UserRow | None:
        """The user with this address (as stored: trimmed, lower-cased), if there is one."""
        normalized = normalize_email(email)
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.email == normalized))).first()
        return None if row is None else UserRow(row.id, row.email, ts_to_ms(row.created_at))

    async def get_user(self, user_id: str) -> UserRow | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        return None if row is None else UserRow(row.id, row.email, ts_to_ms(row.created_at))

    # Orders

    async def record_orders(self, rows: Sequence[OrderRow]) -> int:
        """One transaction, multi-row; returns how many rows were new. A (user_id, order_id,
        engine_seq) already recorded, or repeated within `rows`, keeps its first record."""
        # In key order (stable, so a repeat keeps its first record): two batches written at
        # once then wait for each other's rows instead of deadlocking.
        ordered = sorted(rows, key=lambda o: (o.user_id, o.order_id, o.engine_seq))
        values = [order_values(order) for order in ordered]
        if not values:
            return 0
        async with self._batches.transaction() as conn:
            return len(await _INSERT_ORDERS.execute(conn, values))

    async def list_orders(
        self, user_id: str, limit: int, page_token: str | None
    ) -> tuple[list[OrderRow], str | None]:
        """Newest first. Raises InvalidPageToken (a ValueError) for a token we did not issue.
        A TRADE_NOT_FOUND row carries the ledger's status of the trade it names (`ended_as`),
        if it has one: how it had ended (grpc_services.ended)."""
        named = orders.outerjoin(
            trades,
            and_(
                orders.c.error_code == "TRADE_NOT_FOUND",
                trades.c.trade_id == orders.c.trade_id,
                trades.c.user_id == orders.c.user_id,
            ),
        )
        query = (
            select(orders, trades.c.status.label("ended_as"))
            .select_from(named)
            .where(orders.c.user_id == user_id)
        )
        rows, next_token = await self._page(
            query, orders.c.created_at, orders.c.order_id, limit, page_token
        )
        return [row_to_order(r, r.ended_as) for r in rows], next_token

    # Trades

    async def record_trade_event(self, event: events_pb2.TradeEvent) -> bool:
        """True if the event is new (see `record_trade_events`)."""
        return await self.record_trade_events([event]) == 1

    async def record_trade_events(
        self, events: Sequence[events_pb2.TradeEvent] | trade_ledger.LedgerBatch
    ) -> int:
        """Write a batch in one transaction; returns how many events were new.

        Ledger rows go in first, multi-row, ON CONFLICT DO NOTHING: the event_seqs that come
        back are the new events, and only they are folded into `trades` (one row per trade,
        in event order), so a redelivered event changes nothing. ValueError before any write
        if an event cannot be a real engine event (a prepared `LedgerBatch` has none), and
        `ConflictingEvent` (nothing written) if an event_seq already holds a different event."""
        batch = (
            events
            if isinstance(events, trade_ledger.LedgerBatch)
            else trade_ledger.LedgerBatch.of(events)
        )
        if not batch.ledger:
            return 0
        async with self._batches.transaction() as conn:
            inserted = await trade_ledger.INSERT_LEDGER.execute(conn, batch.ledger)
            new_seqs = {event_seq for (event_seq,) in inserted}
            taken = [row for row in batch.ledger if row["event_seq"] not in new_seqs]
            if taken:  # redeliveries, as a rule: the same events again
                seqs = [row["event_seq"] for row in taken]
                stored = await conn.execute(trade_ledger.STORED_EVENTS, {"seqs": seqs})
                conflict = trade_ledger.conflicts(taken, dict(await stored.fetchall()))
                if conflict is not None:
                    raise conflict  # rolls the batch back: the persister sorts it out
            folded = batch.trades_for(new_seqs)
            if folded:
                await trade_ledger.UPSERT_TRADES.execute(conn, folded)
            for part in batch.parts_for(new_seqs):
                await conn.execute(trade_ledger.SHRINK_FOR_PART, part)
        return len(new_seqs)

    async def trade_status(self, user_id: str, trade_id: str) -> str | None:
        """The user's trade's status as the ledger last wrote it (None: no such trade of
        theirs in the ledger, or not yet)."""
        query = select(trades.c.status).where(
            trades.c.trade_id == trade_id, trades.c.user_id == user_id
        )
        async with self._engine.connect() as conn:
            return await conn.scalar(query)  # type: ignore[no-any-return]

    async def list_closed_trades(
        self, user_id: str, limit: int, page_token: str | None
    ) -> tuple[list[TradeRow], str | None]:
        """Newest close first. Raises InvalidPageToken (a ValueError) for a foreign token."""
        query = select(trades).where(trades.c.user_id == user_id, trades.c.closed_at.is_not(None))
        rows, next_token = await self._page(
            query, trades.c.closed_at, trades.c.trade_id, limit, page_token
        )
        return [row_to_trade(r) for r in rows], next_token

    async def _page(
        self,
        query: Select[Any],
        at: ColumnElement[Any],
        key: ColumnElement[Any],
        limit: int,
        page_token: str | None,
    ) -> tuple[Sequence[Row[Any]], str | None]:
        """One page of `query`, newest (`at`, `key`) first, after the page `page_token` ends.

        Keyset pagination: the token holds the last row's (at, key), so a page never skips or
        repeats rows that arrive meanwhile. Raises InvalidPageToken for a foreign token."""
        limit = clamp_limit(limit)
        if page_token:
            query = query.where(tuple_(at, key) < decode_token(page_token))
        query = query.order_by(at.desc(), key.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1]._mapping
        return rows, encode_token(last[at], last[key])

    # Candles

    async def record_ticks(self, ticks: Sequence[prices_pb2.PriceTick]) -> None:
        """The ticks into the minute and the hour candles, in one transaction."""
        minutes = candle_sql.minute_bars(ticks)
        if not minutes:
            return
        async with self._engine.begin() as conn:
            await conn.execute(candle_sql.upsert_bars(minutes))
            await conn.execute(candle_sql.upsert_bars(candle_sql.hour_bars(minutes), candles_1h))

    async def list_candles(
        self,
        asset: str,
        interval_s: int,
        start_ms: int | None,
        end_ms: int | None,
        limit: int = 1000,
    ) -> list[CandleRow]:
        """Oldest first. Without start_ms, the newest `limit` bars up to end_ms; with it, the
        first `limit` bars from the one holding start_ms. 0 means unbounded, as in the proto.
        The window of `limit` buckets starts at the first candle from start_ms (or ends at the
        last one up to end_ms), and the SQL reads only that window.
        ValueError for an interval not in candle_sql.INTERVALS_S."""
        if interval_s not in candle_sql.INTERVALS_S:
            raise ValueError(f"interval must be one of {candle_sql.INTERVALS_S}: {interval_s}")
        start_ms, end_ms = start_ms or None, end_ms or None
        limit = max(1, min(candle_sql.MAX_CANDLES, limit))
        newest = start_ms is None
        queries = candle_sql.queries_for(interval_s)
        query = queries.newest_first if newest else queries.oldest_first
        async with self._engine.connect() as conn:
            low, high = candle_sql.bucket_range(interval_s, start_ms, end_ms)
            seek = queries.last if newest else queries.first
            bounds = {"asset": asset, "low": ms_to_ts(low), "high": ms_to_ts(high)}
            edge = await conn.scalar(seek, bounds)
            if edge is None:
                return []  # no candle in the range at all
            if newest:
                end_ms = ts_to_ms(edge)
            else:
                start_ms = ts_to_ms(edge)
            low, high = candle_sql.bucket_range(interval_s, start_ms, end_ms, bars=limit)
            params = {
                "interval_s": interval_s,
                "asset": asset,
                "low": ms_to_ts(low),
                "high": ms_to_ts(high),
                "limit": limit,
            }
            rows = (await conn.execute(query, params)).all()
        candles = [
            CandleRow(r.bucket_s * 1000, r.open, r.high, r.low, r.close, r.scale) for r in rows
        ]
        return candles[::-1] if newest else candles

    # Auth: one-time e-mail links and logout

    async def use_email_token(self, jti: str, expires_at_ms: int) -> bool:
        """True the first time this token id is used, False on every later try."""
        async with self._engine.begin() as conn:
            await self._purge_expired(conn)
            first = await conn.execute(
                insert(email_tokens_used)
                .values(jti=jti, expires_at=ms_to_ts(expires_at_ms))
                .on_conflict_do_nothing(index_elements=[email_tokens_used.c.jti])
                .returning(email_tokens_used.c.jti)
            )
            return first.first() is not None

    async def revoke_session(self, jti: str, expires_at_ms: int) -> None:
        async with self._engine.begin() as conn:
            await self._purge_expired(conn)
            await conn.execute(
                insert(revoked_sessions)
                .values(jti=jti, expires_at=ms_to_ts(expires_at_ms))
                .on_conflict_do_nothing(index_elements=[revoked_sessions.c.jti])
            )

    async def revoke_sessions_before(
        self, user_id: str, issued_before_ms: int, expires_at_ms: int
    ) -> None:
        """Sign out everywhere: a cutoff only ever moves forward."""
        row = {
            "user_id": user_id,
            "issued_before": ms_to_ts(issued_before_ms),
            "expires_at": ms_to_ts(expires_at_ms),
        }
        stmt = insert(session_cutoffs).values(row)
        async with self._engine.begin() as conn:
            await self._purge_expired(conn)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[session_cutoffs.c.user_id],
                    set_={
                        "issued_before": func.greatest(
                            session_cutoffs.c.issued_before, stmt.excluded.issued_before
                        ),
                        "expires_at": func.greatest(
                            session_cutoffs.c.expires_at, stmt.excluded.expires_at
                        ),
                    },
                )
            )

    async def current_revocations(
        self,
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int, int]]]:
        """Every revocation not yet expired, for a starting gateway's memory:
        ([(jti, expires_at_ms)], [(user_id, issued_before_ms, expires_at_ms)])."""
        async with self._engine.connect() as conn:
            jtis = await conn.execute(
                select(revoked_sessions.c.jti, revoked_sessions.c.expires_at).where(
                    revoked_sessions.c.expires_at > func.now()
                )
            )
            sessions = [(jti, ts_to_ms(expires)) for jti, expires in jtis]
            cutoffs = await conn.execute(
                select(session_cutoffs).where(session_cutoffs.c.expires_at > func.now())
            )
            users = [
                (r.user_id, ts_to_ms(r.issued_before), ts_to_ms(r.expires_at)) for r in cutoffs
            ]
        return sessions, users

    async def _purge_expired(self, conn: AsyncConnection) -> None:
        """Now and then, drop token rows whose JWTs have long expired, so the tables stay small."""
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + _PURGE_EVERY_S
        for table in (email_tokens_used, revoked_sessions, session_cutoffs):
            await conn.execute(table.delete().where(table.c.expires_at < func.now() - _PURGE_AFTER))
