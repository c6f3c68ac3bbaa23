"""The dataset registry: named, versioned datasets, their tags, aliases and lineage.

Revision ID: 0012
Revises: 0008
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _name_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("name", sa.String(length=256), sa.ForeignKey(
        "dataset_names.name", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    """Create the dataset_names, dataset_versions, dataset_tags, dataset_aliases and
    dataset_lineage tables."""
    op.create_table(
        "dataset_names",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("workspace", sa.String(length=256), server_default="default", nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "dataset_versions",
        _name_fk(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), server_default="", nullable=False),
        sa.Column("source_type", sa.String(length=36), server_default="", nullable=False),
        sa.Column("schema", sa.Text(), server_default="{}", nullable=False),
        sa.Column("profile", sa.Text(), server_default="{}", nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=True),
        sa.Column("artifact_uri", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
        sa.UniqueConstraint("name", "digest", name="uq_dataset_versions_name_digest"),
    )
    op.create_table(
        "dataset_tags",
        _name_fk(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", "key"),
    )
    op.create_table(
        "dataset_aliases",
        _name_fk(),
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", "alias"),
    )
    op.create_table(
        "dataset_lineage",
        _name_fk(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=500), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", "kind", "ref", "role"),
    )


def downgrade() -> None:
    """Drop the dataset registry tables."""
    for table in ("dataset_lineage", "dataset_aliases", "dataset_tags", "dataset_versions",
                  "dataset_names"):
        op.drop_table(table)
