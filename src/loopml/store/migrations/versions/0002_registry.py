"""Model registry tables.

Revision ID: 0002
Revises: 0001

Creates ``loopml.store._schema.REGISTRY_TABLES`` as they stand at 0.2.0. The same freezing
rule as 0001 applies: the first change to one of these tables freezes its definition here.
"""

from __future__ import annotations

from alembic import op

from loopml.store._schema import REGISTRY_TABLES, metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=REGISTRY_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=REGISTRY_TABLES)
