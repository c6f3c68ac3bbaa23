"""Quotas per workspace: how many runs, registered models, deployments (and their replicas)
and concurrent pipeline runs (and the CPU cores and GPUs they ask for) a workspace may hold, and how many artifact bytes it may upload, set by admins (``loopml workspaces quota set``, ``PUT
/api/loopml/v1/workspaces/{name}/quotas``) and stored in ``workspace_quotas``.

The SQL stores call ``enforce(conn, workspace, quota)`` in the transaction that inserts the
row that counts, before the insert, so a refused request writes nothing. On PostgreSQL the
quota row is read ``FOR UPDATE``, so two concurrent inserts in one workspace are counted one
after the other; SQLite's write transactions are serialised already (BEGIN IMMEDIATE).

Exceeding a quota raises ``QuotaExceeded``: HTTP 403 with error code
``RESOURCE_EXHAUSTED`` and details ``{quota, workspace, limit, usage, raised_by}``. 403, not
429: a quota is a hard limit that waiting does not lift, and HTTP clients (the mlflow client
among them) retry a 429 with backoff for minutes before giving up.

Artifact bytes are metered (``charge``): each upload through the server adds its size to a
counter in ``workspace_usage``, in the transaction that checks the limit and before the
bytes are stored; deleting artifacts does not give bytes back.

Enforcing needs a row only where a limit is set: a workspace without quotas costs one
primary-key lookup per insert that counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.errors import InvalidParameterValue, QuotaExceeded, ResourceDoesNotExist
from loopml.store import _schema as t
from loopml.store._sql_util import Prepared

DEFAULT_WORKSPACE = "default"
RAISED_BY = ("an admin of the workspace (role admin): `loopml workspaces quota set {ws} "
             "--{flag} N` or PUT /api/loopml/v1/workspaces/{ws}/quotas")
_Q = t.workspace_quotas.c


def _count(table: sa.Table, *where: Any) -> Callable[[Connection, str], int]:
    def usage(conn: Connection, ws: str) -> int:
        q = sa.select(sa.func.count()).select_from(table).where(table.c.workspace == ws, *where)
        return int(conn.execute(q).scalar() or 0)
    return usage


def _sum(column: sa.Column, *where: Any) -> Callable[[Connection, str], int]:  # type: ignore[type-arg]
    """Usage as the sum of ``column`` (rounded up: 0.5 of a GPU still takes one)."""
    table = column.table

    def usage(conn: Connection, ws: str) -> int:
        v = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(column), 0)).where(
            table.c.workspace == ws, *where)).scalar()
        return math.ceil(float(v or 0))
    return usage


def _runs(conn: Connection, ws: str) -> int:
    row = _RUNS.first(conn, {"ws": ws})
    return int(row[0] or 0) if row else 0


# quota -> how its usage is counted. Runs count until purged (a deleted run still holds
# its rows and artifacts); pipeline runs count while PENDING or RUNNING.
USAGE: dict[str, Callable[[Connection, str], int]] = {
    "runs": _runs,
    "registered_models": _count(t.registered_models),
    "deployments": _count(t.deployments),
    "concurrent_pipeline_runs": _count(
        t.pipeline_runs, t.pipeline_runs.c.status.in_(("PENDING", "RUNNING"))),
    # Replicas of every deployment; cores and GPUs asked for by pipeline runs that are
    # PENDING or RUNNING (each run asks for its largest step's ``resources``).
    "replicas": _sum(t.deployments.c.replicas),
    "cpus": _sum(t.pipeline_runs.c.cpus, t.pipeline_runs.c.status.in_(("PENDING", "RUNNING"))),
    "gpus": _sum(t.pipeline_runs.c.gpus, t.pipeline_runs.c.status.in_(("PENDING", "RUNNING"))),
}
# Metered quotas: usage is a counter in ``workspace_usage``, added to by ``charge``.
METERED = ("artifact_bytes",)
_U = t.workspace_usage.c


def _metered(quota: str) -> Callable[[Connection, str], int]:
    def usage(conn: Connection, ws: str) -> int:
        v = conn.execute(sa.select(_U.used).where(_U.workspace == ws, _U.quota == quota)).scalar()
        return int(v or 0)
    return usage


for _m in METERED:
    USAGE[_m] = _metered(_m)
QUOTAS = tuple(USAGE)


_RUNS = Prepared(sa.select(sa.func.count()).select_from(t.runs.join(
    t.experiments, t.runs.c.experiment_id == t.experiments.c.experiment_id))
    .where(t.experiments.c.workspace == sa.bindparam("ws")))


def _check_quota(quota: str) -> str:
    if quota not in USAGE:
        raise InvalidParameterValue(f"Unknown quota {quota!r}; quotas: {', '.join(QUOTAS)}.")
    return quota


# Built once and run on the driver's cursor: these run in every insert that counts (each
# run created), where building and executing a Core statement cost more than SQLite's own
# lookup. FOR UPDATE is rendered on PostgreSQL and dropped by SQLite's compiler.
_LIMIT = Prepared(sa.select(_Q.limit_value).where(
    _Q.workspace == sa.bindparam("ws"), _Q.quota == sa.bindparam("quota")).with_for_update())
_WORKSPACE = Prepared(sa.select(t.workspaces.c.name).where(
    t.workspaces.c.name == sa.bindparam("ws")))


def _limit(conn: Connection, ws: str, quota: str) -> int | None:
    row = _LIMIT.first(conn, {"ws": ws, "quota": quota})
    return None if row is None else int(row[0])


def require_workspace(conn: Connection, ws: str) -> None:
    """``ResourceDoesNotExist`` when ``ws`` is neither ``default`` nor created: things are
    created only in workspaces that exist."""
    if ws == DEFAULT_WORKSPACE:
        return
    if _WORKSPACE.first(conn, {"ws": ws}) is None:
        raise ResourceDoesNotExist(
            f"Workspace {ws!r} does not exist; an admin creates it with `loopml workspaces "
            f"create {ws}` (or mlflow.create_workspace).")


def enforce(conn: Connection, ws: str, quota: str, adding: float = 1) -> None:
    """Refuse (``QuotaExceeded``) when ``adding`` more of ``quota`` would exceed the limit of
    workspace ``ws``; also refuses an unknown workspace. Call it in the inserting
    transaction, before the insert. ``adding`` <= 0 (nothing more asked for) always
    passes; a fraction (half a GPU) counts as a whole one."""
    require_workspace(conn, ws)
    if adding <= 0:
        return
    adding = math.ceil(adding)
    limit = _limit(conn, ws, quota)
    if limit is None:
        return
    used = USAGE[quota](conn, ws)
    if used + adding > limit:
        flag = quota.replace("_", "-")
        raise QuotaExceeded(
            f"Workspace {ws!r} has used {used} of its quota of {limit} {quota.replace('_', ' ')}"
            f"; this request needs {adding} more. Delete some, or ask an admin of the "
            f"workspace to raise it (`loopml workspaces quota set {ws} --{flag} N`).",
            quota=quota, workspace=ws, limit=limit, usage=used,
            raised_by=RAISED_BY.format(ws=ws, flag=flag))


def charge(engine: Engine, ws: str, quota: str, amount: int) -> None:
    """Add ``amount`` to metered ``quota`` of ``ws`` (artifact bytes at an upload), refused
    with ``QuotaExceeded`` before anything is counted when it would pass the limit. Call it
    before the bytes are stored: a refused upload stores nothing."""
    with engine.begin() as conn:
        enforce(conn, ws, quota, amount)
        n = conn.execute(sa.update(t.workspace_usage).where(
            _U.workspace == ws, _U.quota == quota).values(used=_U.used + amount)).rowcount
        if not n:
            conn.execute(sa.insert(t.workspace_usage).values(workspace=ws, quota=quota,
                                                             used=amount))


def workspace_of_experiment(conn: Connection, experiment_id: str) -> str | None:
    """The workspace of experiment ``experiment_id`` (a decimal string), None if unknown."""
    if not experiment_id.isdigit() or len(experiment_id) > 18:
        return None
    ws = conn.execute(sa.select(t.experiments.c.workspace).where(
        t.experiments.c.experiment_id == int(experiment_id))).scalar()
    return None if ws is None else str(ws)


def report(conn: Connection, ws: str) -> dict[str, dict[str, int | None]]:
    """``{quota: {"limit": int or None (unlimited), "usage": int}}`` for every quota."""
    limits = {q: int(v) for q, v in conn.execute(
        sa.select(_Q.quota, _Q.limit_value).where(_Q.workspace == ws))}
    return {q: {"limit": limits.get(q), "usage": USAGE[q](conn, ws)} for q in QUOTAS}


def set_limits(engine: Engine, ws: str, limits: Mapping[str, Any]) -> None:
    """Set each ``{quota: limit}`` of ``ws`` (a non-negative int; None removes the limit).
    Lowering a limit below the usage refuses only new inserts; nothing is deleted."""
    checked: dict[str, int | None] = {}
    for quota, v in limits.items():
        _check_quota(quota)
        if v is not None and (type(v) is not int or not 0 <= v < 2**63):
            raise InvalidParameterValue(
                f"The limit of quota {quota!r} must be a non-negative integer or null (no "
                f"limit). Got {v!r}.")
        checked[quota] = v
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        for quota, v in checked.items():
            conn.execute(sa.delete(t.workspace_quotas).where(
                _Q.workspace == ws, _Q.quota == quota))
            if v is not None:
                conn.execute(sa.insert(t.workspace_quotas).values(
                    workspace=ws, quota=quota, limit_value=v, updated_time=now))


__all__ = ["METERED", "QUOTAS", "USAGE", "charge", "enforce", "report", "require_workspace",
           "set_limits", "workspace_of_experiment"]
