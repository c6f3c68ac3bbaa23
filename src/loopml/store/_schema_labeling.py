"""The labeling record (``loopml.labeling``; migration 0015): who labelled (or skipped) which
request, the model's pre-label shown, and whether the person confirmed or corrected it. The
label itself also goes to ``feedback`` (in the same transaction), which is what live quality
and retraining read. Re-exported by ``store._schema``."""

from __future__ import annotations

import sqlalchemy as sa

from loopml.store._schema_base import BigIntPK, metadata

# One row per request id (a later label replaces an earlier one); ``seq`` orders the rows
# so that "undo" takes back the newest one of a labeler.
labeling_records = sa.Table(
    "labeling_records",
    metadata,
    sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False, unique=True),
    sa.Column("deployment", sa.String(256), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # "label" | "skip"
    sa.Column("label", sa.Text, nullable=True),  # JSON; NULL for a skip
    sa.Column("prelabel", sa.Text, nullable=True),  # JSON; NULL: no pre-label was shown
    # NULL when no pre-label was shown (nothing to confirm or correct) or for a skip.
    sa.Column("corrected", sa.Boolean, nullable=True),
    sa.Column("labeler", sa.String(255), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),  # dashboard | api | cli | import
    sa.Column("strategy", sa.String(32), nullable=False, server_default=""),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Column("workspace", sa.String(255), nullable=False, server_default="default"),
    sa.Index("ix_labeling_records_deployment", "deployment", "seq"),
)

LABELING_TABLES = [labeling_records]

__all__ = ["LABELING_TABLES", "labeling_records"]
