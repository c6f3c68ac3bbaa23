"""Tables of the highly available control plane and of declarative (GitOps) configuration
(``loopml.ha``, ``loopml.gitops``; migration 0018). Re-exported by ``store._schema``."""

from __future__ import annotations

import sqlalchemy as sa

from loopml.store._schema_base import metadata

# The leader of the control plane's background work (scheduler, monitors, triggers, loop
# controller). ``epoch`` is the fencing token: every new leader raises it, and the leader's
# writes check it (``loopml.ha.fence``), so a deposed leader's in-flight work never commits
# after the next leader started. ``holder`` names the replica (host:pid:nonce).
leader_leases = sa.Table(
    "leader_leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("holder", sa.String(512), nullable=False),
    sa.Column("acquired_time", sa.BigInteger, nullable=False),
    sa.Column("renewed_time", sa.BigInteger, nullable=False),
)

# Declarative configuration documents that have no table of their own (monitor specs and
# loop policies), as `loopml apply` wrote them: one row per (kind, name), the spec as JSON.
config_objects = sa.Table(
    "config_objects",
    metadata,
    sa.Column("kind", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("workspace", sa.String(256), nullable=False, server_default="default"),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("updated_time", sa.BigInteger, nullable=False),
)

HA_TABLES = ("leader_leases", "config_objects")
