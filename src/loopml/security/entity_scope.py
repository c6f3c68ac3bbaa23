"""The workspace of the entity a request addresses decides, not the request's header.

``route()`` checks the caller's role in the request's workspace (``X-MLFLOW-WORKSPACE``).
A route that names an existing entity by id or name (a run, an experiment, a registered
model and its versions, a deployment, a loop, a pipeline run or trigger, a dataset, a
logged model, a run's artifacts) must also be checked in the workspace that entity lives
in, or an editor of ``team-a`` sending ``X-MLFLOW-WORKSPACE: team-a`` could write to a run of
``team-b`` by its id. Each such route declares what it addresses next to its permission
(``api(..., entity=(Addresses(RUN, "run_id", "run_uuid"),))``); ``EntityScope.check``
resolves each named entity's workspace and, when it differs from the request's, checks the
caller's role there:

- no role at all in that workspace: ``ResourceDoesNotExist`` (404), so ids of other
  workspaces do not reveal that they exist;
- a role too low for the route's permission: ``PermissionDenied`` (403);
- an entity that does not exist, or a value of the wrong type: no decision here (the handler
  answers its own 404 / 400).

Entities known by name (experiments by name, registered models, deployments, triggers,
datasets) are unique per workspace (migration 0013): a name means the entity of that name in
the request's workspace, so it resolves there or not at all (the handler answers 404), and
another workspace's entity of the same name is never reached through it.

Runs are the hot path (log-metric, log-batch, get-history): their workspace is cached per
process for ``CACHE_TTL_S`` (a run only changes workspace when its workspace is deleted with
``SET_DEFAULT``; the workspace routes call ``invalidate()``, other processes catch up within
the TTL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from loopml.errors import PermissionDenied, ResourceDoesNotExist
from loopml.security._principal import ALL_WORKSPACES, Permission, Principal

EXPERIMENT = "experiment"
EXPERIMENT_NAME = "experiment_name"
RUN = "run"
LOGGED_MODEL = "logged_model"
REGISTERED_MODEL = "registered_model"
DEPLOYMENT = "deployment"
LOOP = "loop"
PIPELINE_RUN = "pipeline_run"
TRIGGER = "trigger"
DATASET = "dataset"
# A path under the mlflow-artifacts proxy root: ``<experiment_id>/<run_id>/artifacts/...``.
ARTIFACT_PATH = "artifact_path"
# A model URI: ``models:/NAME/...`` (its registered model) or ``runs:/RUN_ID/...`` (its run).
MODEL_URI = "model_uri"

CACHE_TTL_S = 60.0
_CACHE_MAX = 100_000

_LABEL = {
    EXPERIMENT: "Experiment", EXPERIMENT_NAME: "Experiment", RUN: "Run",
    LOGGED_MODEL: "Logged model", REGISTERED_MODEL: "Registered model",
    DEPLOYMENT: "Deployment", LOOP: "Loop", PIPELINE_RUN: "Pipeline run",
    TRIGGER: "Trigger", DATASET: "Dataset", ARTIFACT_PATH: "Artifact path",
    MODEL_URI: "Model",
}


@dataclass(frozen=True)
class Addresses:
    """What a route addresses: an entity ``kind`` (one of this module's constants) named by
    the first of ``fields`` present in the request (body fields, query parameters and path
    parameters together). A list value (``experiment_ids``, ``run_ids``) names several;
    ``"routes[].model_uri"`` reads that field of each object of the ``routes`` list.
    ``default``: the key the handler uses when no field is given (``runs/create`` without an
    ``experiment_id`` creates in experiment ``0``). ``need``: the permission needed in the
    entity's workspace when it is not the route's (a deployment, which needs DEPLOY, only
    reads the models it routes to)."""

    kind: str
    fields: tuple[str, ...]
    default: str | None
    need: Permission | None

    def __init__(self, kind: str, *fields: str, default: str | None = None,
                 need: Permission | None = None) -> None:
        if kind not in _LABEL:
            raise ValueError(f"Unknown entity kind {kind!r}; known: {', '.join(_LABEL)}.")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "need", need)

    def keys(self, data: Mapping[str, Any]) -> list[str]:
        """The entity keys ``data`` names (strings and ints; other values are left to the
        handler's own validation)."""
        for f in self.fields:
            outer, _, inner = f.partition("[].")
            v = data.get(outer)
            if inner and isinstance(v, list):
                v = [x.get(inner) for x in v if isinstance(x, dict)]
            if v is None or v == "":
                continue
            values = v if isinstance(v, list) else [v]
            return [str(x) for x in values if isinstance(x, (str, int)) and x != ""]
        return [] if self.default is None else [self.default]


def _int_key(key: str) -> int | None:
    try:
        return int(key)
    except ValueError:
        return None


class EntityScope:
    """Resolves entities' workspaces in one SQL metadata database (``engine``) and checks a
    caller's role there. Thread-safe enough for the server: the cache is a plain dict whose
    worst race is a duplicate lookup."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self._runs: dict[str, tuple[str | None, float]] = {}
        from loopml.store import _schema as t

        e, r = t.experiments.c, t.runs.c
        lm = t.logged_models.c
        exp_of_run = sa.select(e.workspace).select_from(
            t.runs.join(t.experiments, r.experiment_id == e.experiment_id))
        exp_of_model = sa.select(e.workspace).select_from(
            t.logged_models.join(t.experiments, lm.experiment_id == e.experiment_id))
        self._queries: dict[str, Callable[[str], Any]] = {
            RUN: lambda k: exp_of_run.where(r.run_uuid == k),
            LOGGED_MODEL: lambda k: exp_of_model.where(lm.model_id == k),
            LOOP: _by(t.loops, "loop_id"),
            PIPELINE_RUN: _by(t.pipeline_runs, "run_id"),
        }
        # Unique per workspace: looked up in the request's workspace only.
        self._named: dict[str, tuple[sa.Table, str]] = {
            EXPERIMENT_NAME: (t.experiments, "name"),
            REGISTERED_MODEL: (t.registered_models, "name"),
            DEPLOYMENT: (t.deployments, "name"), TRIGGER: (t.pipeline_triggers, "name"),
            DATASET: (t.dataset_names, "name"),
        }

    def invalidate(self) -> None:
        """Forget cached run workspaces (after a workspace was deleted with SET_DEFAULT)."""
        self._runs.clear()

    def workspace(self, kind: str, key: str, request_ws: str | None = None) -> str | None:
        """The workspace of the entity ``kind``/``key``; None when it does not exist (or the
        key cannot name one, e.g. a non-numeric experiment id). An entity known by name is
        looked up in ``request_ws`` (None or ``*``: in any workspace)."""
        if kind in self._named:
            table, column = self._named[kind]
            q = sa.select(table.c.workspace).where(table.c[column] == key)
            if request_ws not in (None, ALL_WORKSPACES):
                q = q.where(table.c.workspace == request_ws)
            return self._query(q.limit(1))
        if kind == RUN:
            hit = self._runs.get(key)
            now = time.monotonic()
            if hit is not None and hit[1] > now:
                return hit[0]
            ws = self._query(self._queries[RUN](key))
            if ws is not None:  # a run created later must not be shadowed by a miss
                if len(self._runs) >= _CACHE_MAX:
                    self._runs.clear()
                self._runs[key] = (ws, now + CACHE_TTL_S)
            return ws
        if kind == ARTIFACT_PATH:
            key = key.lstrip("/").split("/", 1)[0]
            kind = EXPERIMENT
        if kind == MODEL_URI:
            scheme, sep, rest = key.partition(":/")
            name = rest.lstrip("/").split("/", 1)[0].split("@", 1)[0]
            if not sep or not name or scheme not in ("models", "runs"):
                return None
            return self.workspace(REGISTERED_MODEL if scheme == "models" else RUN, name,
                                  request_ws)
        if kind == EXPERIMENT:
            eid = _int_key(key)
            if eid is None:
                return None
            from loopml.store import _schema as t

            return self._query(sa.select(t.experiments.c.workspace).where(
                t.experiments.c.experiment_id == eid))
        return self._query(self._queries[kind](key))

    def _query(self, q: Any) -> str | None:
        with self.engine.connect() as conn:
            ws = conn.execute(q).scalar()
        return None if ws is None else str(ws)

    def check(self, addresses: Sequence[Addresses], data: Mapping[str, Any],
              principal: Principal, permission: Permission, request_ws: str) -> None:
        """Raise unless ``principal`` holds ``permission`` in the workspace of every entity
        ``data`` names through ``addresses``. Entities of ``request_ws`` pass at once:
        ``route()`` already checked the caller there. Raises ``ResourceDoesNotExist`` (no
        role in the entity's workspace) or ``PermissionDenied`` (a role too low)."""
        wild = principal.roles.get(ALL_WORKSPACES, 0)
        for a in addresses:
            need = a.need or permission
            if wild >= _needed(need):
                continue  # a role on "*" holds wherever the entity lives: skip the lookups
            for key in a.keys(data):
                ws = self.workspace(a.kind, key, request_ws)
                if ws is None or ws == request_ws or principal.allows(need, ws):
                    continue
                if principal.role_in(ws) is None:
                    raise ResourceDoesNotExist(
                        f"{_LABEL[a.kind]} {key!r} does not exist in workspace "
                        f"{request_ws!r}.")
                from loopml.security._http import denied_message

                raise PermissionDenied(denied_message(principal, need, ws))


def _needed(permission: Permission) -> int:
    from loopml.security._principal import REQUIRED_ROLE

    return 0 if permission is Permission.PUBLIC else int(REQUIRED_ROLE[permission])


def _by(table: sa.Table, column: str) -> Callable[[str], Any]:
    col = table.c[column]
    ws = table.c.workspace
    return lambda k: sa.select(ws).where(col == k)


__all__ = ["ARTIFACT_PATH", "CACHE_TTL_S", "DATASET", "DEPLOYMENT", "EXPERIMENT",
           "EXPERIMENT_NAME", "LOGGED_MODEL", "LOOP", "MODEL_URI", "PIPELINE_RUN", "REGISTERED_MODEL",
           "RUN", "TRIGGER", "Addresses", "EntityScope"]
