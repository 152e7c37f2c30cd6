"""Hourly candles beside the minutes: the 1h, 4h and 1d intervals read them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

A public 1d request of 1,000 bars folded up to 1.44 million minute rows (about a second of
Postgres on two years of history, so a few dozen at once starved every other read); from the
hours it reads at most 24,000. The ledger writes both tables from the same ticks by the same
order-independent rules; this fills the hours from the minutes written before it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "candles_1h",
        sa.Column("asset", sa.Text, nullable=False),
        sa.Column("bucket_start", TS, nullable=False),
        sa.Column("open", sa.BigInteger, nullable=False),
        sa.Column("high", sa.BigInteger, nullable=False),
        sa.Column("low", sa.BigInteger, nullable=False),
        sa.Column("close", sa.BigInteger, nullable=False),
        sa.Column("scale", sa.SmallInteger, nullable=False),
        sa.Column("open_time_us", sa.BigInteger, nullable=False),
        sa.Column("close_time_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("asset", "bucket_start"),
    )
    # The open and close of an hour are those of its first and last tick: the minute rows'
    # own tick times order them exactly as the ledger's upsert would.
    op.execute(
        """
        INSERT INTO candles_1h
        SELECT asset,
               to_timestamp((extract(epoch FROM bucket_start)::bigint / 3600) * 3600),
               (array_agg(open ORDER BY open_time_us, bucket_start))[1],
               max(high),
               min(low),
               (array_agg(close ORDER BY close_time_us DESC, bucket_start DESC))[1],
               max(scale),
               min(open_time_us),
               max(close_time_us)
        FROM candles_1m
        GROUP BY asset, 2
        """
    )


def downgrade() -> None:
    op.drop_table("candles_1h")
