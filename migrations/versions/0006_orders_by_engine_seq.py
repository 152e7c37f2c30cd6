"""An `orders` row per answered command, even when its order id was used before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

The engine remembers each user's last ENGINE_IDEMPOTENCY_PER_USER answers; an order id older
than that comes back as a new command, which the primary key (user_id, order_id) made the
ledger drop unseen. The key now also holds the command's place in the engine's journal
(`engine_seq`), which a redelivered audit record repeats and a new command never does. Rows
written before keep 0: they were unique by (user_id, order_id) already. (One edge stays: a
record whose row an older ledger wrote, delivered again to a newer one after a crash between
the write and its acknowledgement, would get a second row, under its real seq.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "orders", sa.Column("engine_seq", sa.BigInteger, nullable=False, server_default="0")
    )
    op.drop_constraint("orders_pkey", "orders", type_="primary")
    op.create_primary_key("orders_pkey", "orders", ["user_id", "order_id", "engine_seq"])


def downgrade() -> None:
    # Back to one row per order id: the newest answer of an order id used again is kept.
    op.execute(
        "DELETE FROM orders o USING orders n WHERE o.user_id = n.user_id"
        " AND o.order_id = n.order_id AND o.engine_seq < n.engine_seq"
    )
    op.drop_constraint("orders_pkey", "orders", type_="primary")
    op.create_primary_key("orders_pkey", "orders", ["user_id", "order_id"])
    op.drop_column("orders", "engine_seq")
