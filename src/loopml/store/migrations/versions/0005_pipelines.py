"""Pipeline runs, step runs, the step cache and triggers.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from loopml.store._schema import PIPELINE_TABLES, metadata

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=PIPELINE_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=PIPELINE_TABLES)
