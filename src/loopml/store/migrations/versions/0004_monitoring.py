"""Ground-truth feedback and monitor results.

Revision ID: 0004
Revises: 0003
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.


from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback',
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_table('monitor_results',
    sa.Column('monitor', sa.String(length=256), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=False),
    sa.Column('window_end', sa.BigInteger(), nullable=False),
    sa.Column('metrics', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), server_default='{}', nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('monitor', 'window_start')
    )


def downgrade() -> None:
    op.drop_table('monitor_results')
    op.drop_table('feedback')
