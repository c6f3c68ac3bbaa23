"""Labeling records (who labelled or skipped which request, the pre-label, corrected or not).

Revision ID: 0015
Revises: 0014
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the labeling_records table."""
    op.create_table(
        "labeling_records",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("prelabel", sa.Text(), nullable=True),
        sa.Column("corrected", sa.Boolean(), nullable=True),
        sa.Column("labeler", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("strategy", sa.String(length=32), server_default="", nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("workspace", sa.String(length=255), server_default="default",
                  nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("request_id"),
    )
    op.create_index("ix_labeling_records_deployment", "labeling_records",
                    ["deployment", "seq"])


def downgrade() -> None:
    """Drop the labeling_records table."""
    op.drop_index("ix_labeling_records_deployment", table_name="labeling_records")
    op.drop_table("labeling_records")
