"""Pipeline runs, step runs, the step cache and triggers.

Revision ID: 0005
Revises: 0004
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.


from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pipeline_runs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('pipeline', sa.String(length=256), nullable=False),
    sa.Column('ref', sa.String(length=1000), nullable=False),
    sa.Column('params', sa.Text(), server_default='{}', nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('executor', sa.String(length=256), server_default='inprocess', nullable=False),
    sa.Column('trigger', sa.Text(), server_default='{}', nullable=False),
    sa.Column('tracking_run_id', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempt', sa.Integer(), server_default='1', nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=True),
    sa.Column('end_time', sa.BigInteger(), nullable=True),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('run_id')
    )
    op.create_index('ix_pipeline_runs_pipeline_time', 'pipeline_runs', ['pipeline', 'creation_time'], unique=False)
    op.create_index('ix_pipeline_runs_status', 'pipeline_runs', ['status'], unique=False)
    op.create_table('pipeline_triggers',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('ref', sa.String(length=1000), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('params', sa.Text(), server_default='{}', nullable=False),
    sa.Column('executor', sa.String(length=256), server_default='inprocess', nullable=False),
    sa.Column('marker', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('step_cache',
    sa.Column('cache_key', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('step', sa.String(length=256), nullable=False),
    sa.Column('outputs', sa.Text(), nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('cache_key')
    )
    op.create_table('step_runs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('step', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cache_key', sa.String(length=64), nullable=True),
    sa.Column('cached_from', sa.String(length=32), nullable=True),
    sa.Column('inputs', sa.Text(), server_default='{}', nullable=False),
    sa.Column('outputs', sa.Text(), server_default='{}', nullable=False),
    sa.Column('tracking_run_id', sa.String(length=32), nullable=True),
    sa.Column('log_uri', sa.String(length=2000), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('start_time', sa.BigInteger(), nullable=True),
    sa.Column('end_time', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['pipeline_runs.run_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'step')
    )


def downgrade() -> None:
    op.drop_table('step_runs')
    op.drop_table('step_cache')
    op.drop_table('pipeline_triggers')
    op.drop_index('ix_pipeline_runs_status', table_name='pipeline_runs')
    op.drop_index('ix_pipeline_runs_pipeline_time', table_name='pipeline_runs')
    op.drop_table('pipeline_runs')
