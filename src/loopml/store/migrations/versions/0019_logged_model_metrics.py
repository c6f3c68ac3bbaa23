"""MLflow 3 logged-model metrics: metrics logged with a model_id, kept per model.

Revision ID: 0019
Revises: 0018
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the logged_model_metrics table."""
    op.create_table(
        "logged_model_metrics",
        sa.Column("model_id", sa.String(length=64), sa.ForeignKey(
            "logged_models.model_id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("dataset_name", sa.String(length=500), nullable=True),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("model_id", "key", "timestamp", "step", "run_id"),
    )


def downgrade() -> None:
    op.drop_table("logged_model_metrics")
