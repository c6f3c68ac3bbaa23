"""Closed-loop cycles, the one-active-loop-per-model guard, the audit log and consumer cursors.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from loopml.store._schema import LOOP_TABLES, metadata

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=LOOP_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=LOOP_TABLES)
