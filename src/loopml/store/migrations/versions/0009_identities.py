"""Identities (users, service accounts), role bindings and API tokens (issue 16).

Revision ID: 0009
Revises: 0008
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create identities, role_bindings and api_tokens."""
    op.create_table(
        "identities",
        sa.Column("identity_id", _BigIntPK, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=True),
        sa.Column("description", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("identity_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "role_bindings",
        sa.Column("identity_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("identity_id", "workspace"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("identity_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("expires_time", sa.BigInteger(), nullable=True),
        sa.Column("revoked_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("token_id"),
    )
    op.create_index("ix_api_tokens_identity", "api_tokens", ["identity_id"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_index("ix_api_tokens_identity", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("role_bindings")
    op.drop_table("identities")
