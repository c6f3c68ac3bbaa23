"""The control plane's leader lease (fencing epoch) and declarative configuration objects.

Revision ID: 0018
Revises: 0015
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the leader_leases and config_objects tables."""
    op.create_table(
        "leader_leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=512), nullable=False),
        sa.Column("acquired_time", sa.BigInteger(), nullable=False),
        sa.Column("renewed_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "config_objects",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("workspace", sa.String(length=256), server_default="default",
                  nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name"),
    )


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_table("config_objects")
    op.drop_table("leader_leases")
