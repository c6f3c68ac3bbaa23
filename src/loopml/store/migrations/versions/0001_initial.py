"""Initial schema.

Revision ID: 0001
Revises:

This first revision creates the tables of ``loopml.store._schema`` as they stood at 0.1.0.
The next schema change must (1) freeze a copy of those table definitions into this file and
(2) add revision 0002 with the ALTERs, so that 0001 keeps meaning the same thing forever.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

from loopml.store._schema import experiments, metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind)
    now = int(time.time() * 1000)
    # MLflow clients expect experiment "0" named "Default" to exist.
    bind.execute(
        sa.insert(experiments).values(
            experiment_id=0,
            name="Default",
            artifact_location="",  # filled in by the store from its artifact root
            lifecycle_stage="active",
            creation_time=now,
            last_update_time=now,
        )
    )


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
