"""Initial schema.

Revision ID: 0001
Revises:

This first revision creates the tables of ``loopml.store._schema`` that existed at 0.1.0
(``TABLES_0001``); later revisions add theirs. Those definitions have not changed since. The
first change to one of them must (1) freeze a copy of its 0.1.0 definition into this file and
(2) add a revision with the ALTERs, so that 0001 keeps meaning the same thing forever.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

from loopml.store import _schema as t
from loopml.store._schema import experiments, metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


TABLES_0001 = [
    t.experiments, t.experiment_tags, t.runs, t.metrics, t.latest_metrics, t.params, t.tags,
    t.datasets, t.run_dataset_inputs, t.logged_models, t.logged_model_tags,
    t.logged_model_params, t.run_model_links, t.events,
]


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, tables=TABLES_0001)
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
    metadata.drop_all(op.get_bind(), tables=TABLES_0001)
