"""Ground-truth feedback and monitor results.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from loopml.store._schema import MONITORING_TABLES, metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=MONITORING_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=MONITORING_TABLES)
