"""Workspaces, per-workspace quotas and metered usage, and the built-in secrets backend's
tables.

Revision ID: 0011
Revises: 0008
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create workspaces, workspace_quotas, workspace_usage, secrets and secret_grants."""
    op.create_table(
        "workspaces",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("artifact_root", sa.String(length=2000), nullable=True),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "workspace_quotas",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("quota", sa.String(length=64), nullable=False),
        sa.Column("limit_value", sa.BigInteger(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "quota"),
    )
    op.create_table(
        "workspace_usage",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("quota", sa.String(length=64), nullable=False),
        sa.Column("used", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("workspace", "quota"),
    )
    op.create_table(
        "secrets",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "name", "version"),
    )
    op.create_table(
        "secret_grants",
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "name", "subject"),
    )


def downgrade() -> None:
    """Drop the four tables."""
    for name in ("secret_grants", "secrets", "workspace_usage", "workspace_quotas", "workspaces"):
        op.drop_table(name)
