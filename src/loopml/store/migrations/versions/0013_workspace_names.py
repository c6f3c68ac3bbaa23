"""Names unique per workspace, workspace columns on the tables that lacked one, and what
the replica and CPU/GPU quotas count.

Experiments, registered models (and their versions, tags and aliases), deployments, pipeline
triggers and datasets (and their versions, tags, aliases and lineage) are unique per
``(workspace, name)`` instead of per name; monitor results, alert states, the step cache,
loop bookkeeping (active loops, audit, consumer cursors) gain a ``workspace`` column
(``default`` for existing rows; a child row takes its parent's).

PostgreSQL changes the keys in place (ALTER TABLE). SQLite cannot alter a key, so each table
is rebuilt (the procedure of https://sqlite.org/lang_altertable.html#otheralter: foreign
keys off outside the transaction, rename, create, copy, drop), keeping every row.

Revision ID: 0013
Revises: 0012
"""

# Frozen DDL: this revision states its own keys and never reads loopml.store._schema.

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_RM = "(SELECT p.workspace FROM registered_models p WHERE p.name = c.name)"
_DS = "(SELECT p.workspace FROM dataset_names p WHERE p.name = c.name)"
_LOOP = "(SELECT p.workspace FROM loops p WHERE p.loop_id = c.loop_id)"
_PIPE = "(SELECT p.workspace FROM pipeline_runs p WHERE p.run_id = c.run_id)"

# table: (new primary key or None to keep it, where an existing row's workspace comes from
# (None: it has the column already, or 'default'), foreign key (parent, columns), uniques to
# drop (their columns), uniques to add (name, columns), workspace column length).
_Spec = tuple[list[str] | None, str | None, tuple[str, list[str]] | None, list[list[str]],
              list[tuple[str, list[str]]], int]
_FK_RM = ("registered_models", ["workspace", "name"])
_FK_DS = ("dataset_names", ["workspace", "name"])
TABLES: dict[str, _Spec] = {
    "experiments": (None, None, None, [["name"]],
                    [("uq_experiments_workspace_name", ["workspace", "name"])], 255),
    "registered_models": (["workspace", "name"], None, None, [], [], 255),
    "registered_model_tags": (["workspace", "name", "key"], _RM, _FK_RM, [], [], 255),
    "model_versions": (["workspace", "name", "version"], _RM, _FK_RM, [], [], 255),
    "model_version_tags": (["workspace", "name", "version", "key"], _RM,
                           ("model_versions", ["workspace", "name", "version"]), [], [], 255),
    "registered_model_aliases": (["workspace", "name", "alias"], _RM, _FK_RM, [], [], 255),
    "deployments": (["workspace", "name"], None, None, [], [], 255),
    "pipeline_triggers": (["workspace", "name"], None, None, [], [], 255),
    "step_cache": (["workspace", "cache_key"], _PIPE, None, [], [], 255),
    "monitor_results": (["workspace", "monitor", "window_start"], None, None, [], [], 255),
    "alert_states": (["workspace", "monitor", "rule", "subject"], None, None, [], [], 255),
    "loop_active": (["workspace", "model"], _LOOP, None, [], [], 255),
    "loop_audit": (None, _LOOP, None, [], [], 255),
    "consumer_cursors": (["workspace", "name"], None, None, [], [], 255),
    "dataset_names": (["workspace", "name"], None, None, [], [], 256),
    "dataset_versions": (["workspace", "name", "version"], _DS, _FK_DS, [["name", "digest"]],
                         [("uq_dataset_versions_ws_name_digest",
                           ["workspace", "name", "digest"])], 256),
    "dataset_tags": (["workspace", "name", "version", "key"], _DS, _FK_DS, [], [], 256),
    "dataset_aliases": (["workspace", "name", "alias"], _DS, _FK_DS, [], [], 256),
    "dataset_lineage": (["workspace", "name", "version", "kind", "ref", "role"], _DS, _FK_DS,
                        [], [], 256),
}


def _ws_column(length: int) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("workspace", sa.String(length=length), server_default="default",
                     nullable=False)


def _fill(table: str, source: str | None) -> str:
    return (f"UPDATE {table} AS c SET workspace = COALESCE({source}, 'default')"
            if source else "")


def upgrade() -> None:
    """Add the workspace columns, then re-key the tables (see the module docstring)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite(bind)
    else:
        _postgres(bind)
    # What the replica and CPU/GPU quotas count (a deployment's replicas; the cores and GPUs
    # a pipeline run asked for, its largest step's).
    op.add_column("deployments", sa.Column("replicas", sa.Integer(), server_default="1",
                                           nullable=False))
    op.add_column("pipeline_runs", sa.Column("cpus", sa.Float(), server_default="0",
                                             nullable=False))
    op.add_column("pipeline_runs", sa.Column("gpus", sa.Float(), server_default="0",
                                             nullable=False))


def _postgres(bind: Any) -> None:
    insp = sa.inspect(bind)
    for table, (_pk, source, _fk, _drop, _add, length) in TABLES.items():
        if "workspace" not in {c["name"] for c in insp.get_columns(table)}:
            op.add_column(table, _ws_column(length))
            if source:
                op.execute(_fill(table, source))
    for table in TABLES:  # children first: their keys reference the parents'
        for fk in insp.get_foreign_keys(table):
            if fk["referred_table"] in TABLES:
                op.drop_constraint(fk["name"], table, type_="foreignkey")
    for table, (pk, _source, _fk, drop, add, _len) in TABLES.items():
        for uq in insp.get_unique_constraints(table):
            if uq["column_names"] in drop:
                op.drop_constraint(uq["name"], table, type_="unique")
        for name, cols in add:
            op.create_unique_constraint(name, table, cols)
        if pk is not None:
            old = insp.get_pk_constraint(table)["name"]
            op.drop_constraint(old, table, type_="primary")
            op.create_primary_key(f"{table}_pkey", table, pk)
    for table, (_pk, _source, fk, _drop, _add, _len) in TABLES.items():
        if fk is not None:
            op.create_foreign_key(f"fk_{table}_{fk[0]}", table, fk[0], fk[1], fk[1],
                                  ondelete="CASCADE", onupdate="CASCADE")


def _sqlite(bind: Any) -> None:
    # Foreign keys must be off while a parent is dropped (or its children's rows would be
    # deleted by ON DELETE CASCADE), and the pragma only takes effect outside a transaction.
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("PRAGMA legacy_alter_table=ON")  # leave children's references alone
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    for table, spec in TABLES.items():
        _rebuild(bind, table, spec)
    for table in TABLES:
        bind.exec_driver_sql(f"DROP TABLE {table}__old")
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"Migration 0013 left dangling references: {problems[:5]}")
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA legacy_alter_table=OFF")
    bind.exec_driver_sql("PRAGMA foreign_keys=ON")
    bind.exec_driver_sql("BEGIN IMMEDIATE")  # alembic records the revision in it


def _rebuild(bind: Any, table: str, spec: _Spec) -> None:
    pk, source, fk, drop, add, length = spec
    old = sa.Table(table, sa.MetaData(), autoload_with=bind)
    indexes = [(str(ix.name), [c.name for c in ix.columns], ix.unique) for ix in old.indexes
               if ix.name]
    for name, _cols, _unique in indexes:
        bind.exec_driver_sql(f"DROP INDEX {name}")
    bind.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}__old")
    keep = pk if pk is not None else [c.name for c in old.primary_key.columns]
    cols = [sa.Column(c.name, c.type, nullable=c.nullable, primary_key=c.name in keep,
                      server_default=None if c.server_default is None
                      else sa.DefaultClause(c.server_default.arg))  # type: ignore[attr-defined]
            for c in old.columns]
    had_ws = "workspace" in old.columns
    if not had_ws:
        cols.insert(0, sa.Column("workspace", sa.String(length), server_default="default",
                                 nullable=False, primary_key="workspace" in keep))
    order = {n: i for i, n in enumerate(keep)}  # the key's columns in the key's order
    cols.sort(key=lambda c: order.get(c.name, len(order)))
    extra: list[Any] = [sa.UniqueConstraint(*u.columns.keys(), name=u.name)
                        for u in old.constraints if isinstance(u, sa.UniqueConstraint)
                        and list(u.columns.keys()) not in drop]
    extra += [sa.UniqueConstraint(*c, name=n) for n, c in add]
    if fk is not None:
        extra.append(sa.ForeignKeyConstraint(fk[1], [f"{fk[0]}.{c}" for c in fk[1]],
                                             ondelete="CASCADE", onupdate="CASCADE"))
    for f in old.foreign_key_constraints:  # references to tables this revision keeps
        if f.referred_table.name not in TABLES:
            extra.append(sa.ForeignKeyConstraint(
                [c.name for c in f.columns], [e.target_fullname for e in f.elements],
                ondelete=f.ondelete, onupdate=f.onupdate))
    md = sa.MetaData()
    new = sa.Table(table, md, *cols, *extra)
    _stub_parents(md, new)
    new.create(bind)
    names = [c.name for c in old.columns]
    ws = ("workspace" if had_ws else f"COALESCE({source}, 'default')" if source
          else "'default'")
    select = ", ".join(f"c.{n}" for n in names)
    bind.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(names)}{'' if had_ws else ', workspace'}) "
        f"SELECT {select}{'' if had_ws else ', ' + ws} FROM {table}__old AS c")
    for name, icols, unique in indexes:
        if not name.startswith("sqlite_autoindex"):
            sa.Index(name, *[new.c[c] for c in icols], unique=unique).create(bind)


def _stub_parents(md: sa.MetaData, table: sa.Table) -> None:
    """Foreign keys need their referred tables in the same MetaData to render; the stubs
    are never created."""
    for f in table.foreign_key_constraints:
        for e in f.elements:
            parent, col = e.target_fullname.split(".")
            stub = md.tables[parent] if parent in md.tables else sa.Table(parent, md)
            if col not in stub.c:
                stub.append_column(sa.Column(col, sa.Integer))


def downgrade() -> None:
    """Not supported: names that are now taken in two workspaces could not be made unique
    again without renaming someone's entity. Restore a backup taken before upgrading."""
    raise NotImplementedError(
        "Revision 0013 cannot be downgraded: two workspaces may now hold the same name. "
        "Restore the database backup taken before the upgrade.")
