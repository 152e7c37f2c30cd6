"""Orders keyed by (user_id, order_id): an order id is the client's, so only unique per user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

The audit writer (the ledger process) inserts each answered command once per (user_id,
order_id), exactly the key the engine's idempotency uses: a second user's command with the same
order id is a different command and gets its own row.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("orders_pkey", "orders", type_="primary")
    op.create_primary_key("orders_pkey", "orders", ["user_id", "order_id"])


def downgrade() -> None:
    # The old key cannot hold two users' rows with one order id: keep the earliest of each.
    op.execute(
        """
        DELETE FROM orders AS o USING orders AS keep
        WHERE o.order_id = keep.order_id
          AND (o.created_at, o.user_id) > (keep.created_at, keep.user_id)
        """
    )
    op.drop_constraint("orders_pkey", "orders", type_="primary")
    op.create_primary_key("orders_pkey", "orders", ["order_id"])
