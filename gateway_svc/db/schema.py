"""The audit-trail tables as SQLAlchemy Core objects, for building queries.

The migrations in `migrations/versions/` create the real schema; they are written out by hand
so that an old migration never changes when this file does. A test compares the two.

Money and prices are BIGINT units: USD at scale 4, prices at their asset's decimals, which
`price_scale` / `scale` record beside them. Timestamps are timestamptz written from integer
milliseconds, so they convert back exactly.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

TS = DateTime(timezone=True)

users = Table(
    "users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    # Lookups compare the stored form, so it must be the normalized one.
    CheckConstraint("email = lower(email)", name="users_email_lowercase"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("command", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("message", Text, nullable=False, server_default=""),
    Column("latency_us", BigInteger, nullable=False),
    Column("trade_id", Text),
    Column("request", JSONB),
    Column("created_at", TS, nullable=False),
    Column("engine_seq", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("status IN ('success', 'error')", name="orders_status"),
    # One row per answered command: the client's order id (the engine's idempotency key while
    # it remembers it) and the command's place in the engine's journal, which tells a
    # redelivered record (skipped) from an order id used again (a row of its own).
    PrimaryKeyConstraint("user_id", "order_id", "engine_seq", name="orders_pkey"),
    # Keyset pagination for "my orders, newest first".
    Index("orders_user_time", "user_id", text("created_at DESC"), text("order_id DESC")),
)

trades = Table(
    "trades",
    metadata,
    Column("trade_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("email", Text, nullable=False, server_default=""),
    Column("asset", Text, nullable=False),
    Column("direction", Text, nullable=False),
    Column("margin", BigInteger, nullable=False),
    Column("leverage", Integer, nullable=False),
    Column("entry_price", BigInteger, nullable=False),
    Column("liquidation_price", BigInteger),
    Column("stop_loss_price", BigInteger),
    Column("take_profit_price", BigInteger),
    Column("price_scale", SmallInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("exit_price", BigInteger),
    Column("pnl", BigInteger),
    Column("total_return", BigInteger),
    Column("opened_at", TS, nullable=False),
    Column("closed_at", TS),
    Column("open_order_id", Text),
    Column("close_order_id", Text),
    # The newest event folded into this row: an older event arriving late never rolls it back.
    Column("last_event_seq", BigInteger, nullable=False),
    # The trader's toolset (migration 0004): a pending order's type, price and expiry (kept by
    # the trade it becomes), a trailing stop's distance, why an order was REJECTED, and for the
    # part of a partial close (keyed `<trade id>/<event_seq>`) the trade it was part of.
    Column("order_type", Text),
    Column("order_price", BigInteger),
    Column("expires_at_ms", BigInteger),
    Column("trailing_stop_distance", BigInteger),
    Column("reason_code", Text),
    Column("reason", Text),
    Column("part_of", Text),
    CheckConstraint("direction IN ('LONG', 'SHORT')", name="trades_direction"),
    CheckConstraint(
        "status IN ('OPEN', 'CLOSED', 'LIQUIDATED', 'STOP_LOSS', 'TAKE_PROFIT', "
        "'PENDING', 'CANCELLED', 'EXPIRED', 'REJECTED')",
        name="trades_status",
    ),
    CheckConstraint(
        "order_type IS NULL OR order_type IN ('LIMIT', 'STOP')", name="trades_order_type"
    ),
    Index("trades_user_closed", "user_id", text("closed_at DESC"), text("trade_id DESC")),
)

# The exactly-once ledger: one row per engine event, keyed by the engine's sequence number.
trade_events = Table(
    "trade_events",
    metadata,
    Column("event_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("trade_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("order_id", Text),
    Column("payload", LargeBinary, nullable=False),
    Column("ts", TS, nullable=False),
    Index("trade_events_trade", "trade_id"),
)


def _candles(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("asset", Text, nullable=False),
        Column("bucket_start", TS, nullable=False),
        Column("open", BigInteger, nullable=False),
        Column("high", BigInteger, nullable=False),
        Column("low", BigInteger, nullable=False),
        Column("close", BigInteger, nullable=False),
        Column("scale", SmallInteger, nullable=False),
        # Source times of the open and close ticks: batches may be replayed or arrive out of
        # order (a claimed batch from a dead consumer), and these keep open/close right anyway.
        Column("open_time_us", BigInteger, nullable=False),
        Column("close_time_us", BigInteger, nullable=False),
        PrimaryKeyConstraint("asset", "bucket_start"),
    )


candles_1m = _candles("candles_1m")
# The same candles by the hour, written from the same ticks: the 1h, 4h and 1d intervals read
# these, 60 times fewer rows than the minutes (a public 1d request of 1,000 bars reads 24,000).
candles_1h = _candles("candles_1h")

email_tokens_used = Table(
    "email_tokens_used",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("expires_at", TS, nullable=False),
    Index("email_tokens_used_expires", "expires_at"),
)

revoked_sessions = Table(
    "revoked_sessions",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("expires_at", TS, nullable=False),
    Index("revoked_sessions_expires", "expires_at"),
)

session_cutoffs = Table(
    "session_cutoffs",
    metadata,
    # "Sign out everywhere": every session of the user issued at or before `issued_before`.
    Column("user_id", Text, primary_key=True),
    Column("issued_before", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Index("session_cutoffs_expires", "expires_at"),
)
