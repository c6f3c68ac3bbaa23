"""Model registry tables.

Revision ID: 0002
Revises: 0001

Creates ``loopml.store._schema.REGISTRY_TABLES`` as they stand at 0.2.0. The same freezing
rule as 0001 applies: the first change to one of these tables freezes its definition here.
"""

# Frozen DDL: this revision states its own tables and never reads loopml.store._schema,
# so a later change to the live schema (a new revision with ALTERs) cannot rewrite it.


from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registered_models',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_time', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('next_version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('workspace', sa.String(length=255), server_default='default', nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('model_versions',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('creation_time', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_time', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('user_id', sa.String(length=256), nullable=True),
    sa.Column('current_stage', sa.String(length=20), server_default='None', nullable=False),
    sa.Column('source', sa.String(length=2000), nullable=False),
    sa.Column('storage_location', sa.String(length=2000), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=True),
    sa.Column('run_link', sa.String(length=500), nullable=True),
    sa.Column('model_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='READY', nullable=False),
    sa.Column('status_message', sa.Text(), nullable=True),
    sa.Column('trusted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.ForeignKeyConstraint(['name'], ['registered_models.name'], onupdate='CASCADE', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('name', 'version')
    )
    op.create_index('ix_model_versions_run', 'model_versions', ['run_id'], unique=False)
    op.create_table('registered_model_aliases',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('alias', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['name'], ['registered_models.name'], onupdate='CASCADE', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('name', 'alias')
    )
    op.create_table('registered_model_tags',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['name'], ['registered_models.name'], onupdate='CASCADE', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('name', 'key')
    )
    op.create_table('model_version_tags',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['name', 'version'], ['model_versions.name', 'model_versions.version'], onupdate='CASCADE', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('name', 'version', 'key')
    )


def downgrade() -> None:
    op.drop_table('model_version_tags')
    op.drop_table('registered_model_tags')
    op.drop_table('registered_model_aliases')
    op.drop_index('ix_model_versions_run', table_name='model_versions')
    op.drop_table('model_versions')
    op.drop_table('registered_models')
