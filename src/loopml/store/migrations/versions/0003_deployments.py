"""Deployments (traffic specs that serving applies live).

Revision ID: 0003
Revises: 0002
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.


from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deployments',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), server_default='1', nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_time', sa.BigInteger(), nullable=False),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('deployments')
