"""Alert state per monitor, rule and subject, so alerts survive a restart.

Revision ID: 0008
Revises: 0007
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the alert_states table."""
    op.create_table(
        "alert_states",
        sa.Column("monitor", sa.String(length=256), nullable=False),
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("streak", sa.Integer(), server_default="0", nullable=False),
        sa.Column("firing", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_window", sa.BigInteger(), nullable=True),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("monitor", "rule", "subject"),
    )


def downgrade() -> None:
    """Drop the alert_states table."""
    op.drop_table("alert_states")
