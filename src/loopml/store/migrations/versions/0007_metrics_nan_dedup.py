"""NaN metric points de-duplicate like the others.

Revision ID: 0007
Revises: 0006

``ux_metrics_point`` keyed on ``value``, which is NULL for NaN, and a unique index never
finds two NULLs equal: a client retrying a ``log-batch`` with a NaN point stored it once per
try. ``ux_metrics_point_v2`` keys on ``COALESCE(value, 0.0)`` instead (``value_kind`` tells
NaN from zero). The duplicates already stored are removed first (the oldest row is kept).

The DDL is stated here, not derived from ``_schema``, so that this revision keeps meaning the
same thing whatever the live schema becomes. ``IF [NOT] EXISTS`` makes it a no-op on a
database whose 0001 already created the new index.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_DEDUP = (
    'DELETE FROM metrics WHERE value IS NULL AND id NOT IN ('
    'SELECT MIN(id) FROM metrics WHERE value IS NULL '
    'GROUP BY run_uuid, "key", step, "timestamp", value_kind)'
)
_NEW = (
    'CREATE UNIQUE INDEX IF NOT EXISTS ux_metrics_point_v2 ON metrics '
    '(run_uuid, "key", step, "timestamp", value_kind, COALESCE(value, 0.0))'
)
_OLD = (
    'CREATE UNIQUE INDEX IF NOT EXISTS ux_metrics_point ON metrics '
    '(run_uuid, "key", step, "timestamp", value_kind, value)'
)


def upgrade() -> None:
    """Drop the old unique index, delete stored NaN duplicates, create the new one."""
    op.execute("DROP INDEX IF EXISTS ux_metrics_point")
    op.execute(_DEDUP)
    op.execute(_NEW)


def downgrade() -> None:
    """Restore the old unique index (NaN points may duplicate again)."""
    op.execute("DROP INDEX IF EXISTS ux_metrics_point_v2")
    op.execute(_OLD)
