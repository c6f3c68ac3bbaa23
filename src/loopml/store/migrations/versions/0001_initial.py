"""Initial schema.

Revision ID: 0001
Revises:

The tracking tables and the event log, as they were at 0.1.0.
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.


from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('payload', sa.Text(), server_default='{}', nullable=False),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index('ix_events_type_seq', 'events', ['type', 'seq'], unique=False)
    op.create_table('experiments',
    sa.Column('experiment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('artifact_location', sa.String(length=2000), nullable=False),
    sa.Column('lifecycle_stage', sa.String(length=32), server_default='active', nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('last_update_time', sa.BigInteger(), nullable=False),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('experiment_id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('datasets',
    sa.Column('dataset_uuid', sa.String(length=32), nullable=False),
    sa.Column('experiment_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('source_type', sa.String(length=36), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('schema', sa.Text(), nullable=True),
    sa.Column('profile', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.experiment_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dataset_uuid'),
    sa.UniqueConstraint('experiment_id', 'name', 'digest', name='uq_datasets_exp_name_digest')
    )
    op.create_table('experiment_tags',
    sa.Column('experiment_id', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.experiment_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('experiment_id', 'key')
    )
    op.create_table('logged_models',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('experiment_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('artifact_location', sa.String(length=2000), nullable=False),
    sa.Column('creation_timestamp', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_timestamp', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('model_type', sa.String(length=500), nullable=True),
    sa.Column('source_run_id', sa.String(length=32), nullable=True),
    sa.Column('lifecycle_stage', sa.String(length=32), server_default='active', nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.experiment_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id')
    )
    op.create_index('ix_logged_models_experiment', 'logged_models', ['experiment_id', 'creation_timestamp'], unique=False)
    op.create_table('runs',
    sa.Column('run_uuid', sa.String(length=32), nullable=False),
    sa.Column('experiment_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=250), nullable=False),
    sa.Column('user_id', sa.String(length=256), server_default='', nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=True),
    sa.Column('end_time', sa.BigInteger(), nullable=True),
    sa.Column('deleted_time', sa.BigInteger(), nullable=True),
    sa.Column('lifecycle_stage', sa.String(length=32), server_default='active', nullable=False),
    sa.Column('artifact_uri', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.experiment_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_uuid')
    )
    op.create_index('ix_runs_experiment_start', 'runs', ['experiment_id', 'start_time'], unique=False)
    op.create_index('ix_runs_lifecycle_deleted', 'runs', ['lifecycle_stage', 'deleted_time'], unique=False)
    op.create_table('latest_metrics',
    sa.Column('run_uuid', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Float(precision=53), nullable=True),
    sa.Column('value_kind', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('step', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['run_uuid'], ['runs.run_uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_uuid', 'key')
    )
    op.create_index('ix_latest_metrics_key_value', 'latest_metrics', ['key', 'value'], unique=False)
    op.create_table('logged_model_params',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['logged_models.model_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'key')
    )
    op.create_table('logged_model_tags',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['logged_models.model_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'key')
    )
    op.create_table('metrics',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_uuid', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Float(precision=53), nullable=True),
    sa.Column('value_kind', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('step', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['run_uuid'], ['runs.run_uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ux_metrics_point', 'metrics', ['run_uuid', 'key', 'step', 'timestamp', 'value_kind', 'value'], unique=True)
    op.create_table('params',
    sa.Column('run_uuid', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_uuid'], ['runs.run_uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_uuid', 'key')
    )
    op.create_table('run_dataset_inputs',
    sa.Column('run_uuid', sa.String(length=32), nullable=False),
    sa.Column('dataset_uuid', sa.String(length=32), nullable=False),
    sa.Column('tags', sa.Text(), server_default='{}', nullable=False),
    sa.ForeignKeyConstraint(['dataset_uuid'], ['datasets.dataset_uuid'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_uuid'], ['runs.run_uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_uuid', 'dataset_uuid')
    )
    op.create_table('run_model_links',
    sa.Column('run_uuid', sa.String(length=32), nullable=False),
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('step', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['run_uuid'], ['runs.run_uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_uuid', 'model_id', 'direction')
    )
    op.create_table('tags',
    sa.Column('run_uuid', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_uuid'], ['runs.run_uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_uuid', 'key')
    )
    now = int(time.time() * 1000)
    # MLflow clients expect experiment "0" named "Default" to exist.
    experiments = sa.table(
        "experiments", sa.column("experiment_id", sa.BigInteger), sa.column("name", sa.String),
        sa.column("artifact_location", sa.String), sa.column("lifecycle_stage", sa.String),
        sa.column("creation_time", sa.BigInteger), sa.column("last_update_time", sa.BigInteger))
    op.bulk_insert(experiments, [{
        "experiment_id": 0, "name": "Default",
        "artifact_location": "",  # filled in by the store from its artifact root
        "lifecycle_stage": "active", "creation_time": now, "last_update_time": now}])


def downgrade() -> None:
    op.drop_table('tags')
    op.drop_table('run_model_links')
    op.drop_table('run_dataset_inputs')
    op.drop_table('params')
    op.drop_index('ux_metrics_point', table_name='metrics')
    op.drop_table('metrics')
    op.drop_table('logged_model_tags')
    op.drop_table('logged_model_params')
    op.drop_index('ix_latest_metrics_key_value', table_name='latest_metrics')
    op.drop_table('latest_metrics')
    op.drop_index('ix_runs_lifecycle_deleted', table_name='runs')
    op.drop_index('ix_runs_experiment_start', table_name='runs')
    op.drop_table('runs')
    op.drop_index('ix_logged_models_experiment', table_name='logged_models')
    op.drop_table('logged_models')
    op.drop_table('experiment_tags')
    op.drop_table('datasets')
    op.drop_table('experiments')
    op.drop_index('ix_events_type_seq', table_name='events')
    op.drop_table('events')
