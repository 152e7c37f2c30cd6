"""The trader's toolset in the trades table (SPEC 3a): pending orders and their end states,
order type, pending price, expiry, trailing distance, the reason an order was rejected, and
partial closes as rows of their own.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

A partial close's part is a row keyed `<trade id>/<event_seq>` with `part_of` = the trade id, so
the part shows in the closed history beside its trade (the trade's own row stays open).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD_STATUSES = "'OPEN', 'CLOSED', 'LIQUIDATED', 'STOP_LOSS', 'TAKE_PROFIT'"
_NEW_STATUSES = _OLD_STATUSES + ", 'PENDING', 'CANCELLED', 'EXPIRED', 'REJECTED'"


def upgrade() -> None:
    op.add_column("trades", sa.Column("order_type", sa.Text))
    op.add_column("trades", sa.Column("order_price", sa.BigInteger))
    op.add_column("trades", sa.Column("expires_at_ms", sa.BigInteger))
    op.add_column("trades", sa.Column("trailing_stop_distance", sa.BigInteger))
    op.add_column("trades", sa.Column("reason_code", sa.Text))
    op.add_column("trades", sa.Column("reason", sa.Text))
    op.add_column("trades", sa.Column("part_of", sa.Text))
    op.drop_constraint("trades_status", "trades", type_="check")
    op.create_check_constraint("trades_status", "trades", f"status IN ({_NEW_STATUSES})")
    op.create_check_constraint(
        "trades_order_type", "trades", "order_type IS NULL OR order_type IN ('LIMIT', 'STOP')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM trades WHERE part_of IS NOT NULL")
    op.execute("DELETE FROM trades WHERE status IN ('PENDING', 'CANCELLED', 'EXPIRED', 'REJECTED')")
    op.drop_constraint("trades_order_type", "trades", type_="check")
    op.drop_constraint("trades_status", "trades", type_="check")
    op.create_check_constraint("trades_status", "trades", f"status IN ({_OLD_STATUSES})")
    for column in (
        "part_of",
        "reason",
        "reason_code",
        "trailing_stop_distance",
        "expires_at_ms",
        "order_price",
        "order_type",
    ):
        op.drop_column("trades", column)
