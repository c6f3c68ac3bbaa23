"""Closed-loop cycles, the one-active-loop-per-model guard, the audit log and consumer cursors.

Revision ID: 0006
Revises: 0005
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.


from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consumer_cursors',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('loop_active',
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('loop_id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('model')
    )
    op.create_table('loop_audit',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('loop_id', sa.String(length=32), nullable=True),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), server_default='', nullable=False),
    sa.Column('inputs', sa.Text(), server_default='{}', nullable=False),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index('ix_loop_audit_model_seq', 'loop_audit', ['model', 'seq'], unique=False)
    op.create_table('loops',
    sa.Column('loop_id', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('policy', sa.String(length=256), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('trigger', sa.Text(), server_default='{}', nullable=False),
    sa.Column('champion_version', sa.Integer(), nullable=True),
    sa.Column('challenger_version', sa.Integer(), nullable=True),
    sa.Column('pipeline_run_id', sa.String(length=32), nullable=True),
    sa.Column('evaluation', sa.Text(), server_default='{}', nullable=False),
    sa.Column('gate', sa.Text(), server_default='{}', nullable=False),
    sa.Column('canary', sa.Text(), server_default='{}', nullable=False),
    sa.Column('decision', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('dry_run', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('approved_by', sa.String(length=256), nullable=True),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.Column('updated_time', sa.BigInteger(), nullable=False),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('loop_id')
    )
    op.create_index('ix_loops_model_created', 'loops', ['model', 'created_time'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_loops_model_created', table_name='loops')
    op.drop_table('loops')
    op.drop_index('ix_loop_audit_model_seq', table_name='loop_audit')
    op.drop_table('loop_audit')
    op.drop_table('loop_active')
    op.drop_table('consumer_cursors')
