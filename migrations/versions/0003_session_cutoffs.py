"""Sign out everywhere: per user, the time before which every session token is revoked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

One row per user (a later "sign out everywhere" moves the cutoff forward). `expires_at` is the
cutoff plus the longest session lifetime: past it no token the row refuses can still be valid,
so the row may be purged like the single-session revocations beside it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "session_cutoffs",
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("issued_before", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("session_cutoffs_expires", "session_cutoffs", ["expires_at"])


def downgrade() -> None:
    op.drop_index("session_cutoffs_expires", table_name="session_cutoffs")
    op.drop_table("session_cutoffs")
