"""Events and loop audit entries name their actor: the request's principal (subject and
identity kind) or the loopml service that wrote them (security/actor.py).

Revision ID: 0014
Revises: 0013
"""

# Frozen DDL: this revision states its own columns and never reads loopml.store._schema.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TABLES = ("events", "loop_audit")


def upgrade() -> None:
    """Add nullable actor and actor_kind to events and loop_audit (old rows: NULL, shown
    as unknown)."""
    for table in _TABLES:  # nullable: a plain ADD COLUMN on SQLite and PostgreSQL
        op.add_column(table, sa.Column("actor", sa.String(length=255), nullable=True))
        op.add_column(table, sa.Column("actor_kind", sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("actor_kind")
            batch.drop_column("actor")
