"""Deployments (traffic specs that serving applies live).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from loopml.store._schema import DEPLOYMENT_TABLES, metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=DEPLOYMENT_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=DEPLOYMENT_TABLES)
