"""The store's side of GitOps: what it holds now, as documents (``current``), and how one
change is written (``write``). SQL stores only (the CLI talks to the database, the REST
routes run in the server next to it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loopml.gitops.documents import Doc, canonical, to_trigger
from loopml.security.workspaces import ALL_WORKSPACES, use_workspace
from loopml.store import _schema as t

CONFIG_KINDS = ("Monitor", "LoopPolicy")  # kept in table config_objects


class State:
    """The stores beside one SQL tracking store."""

    def __init__(self, tracking: Any) -> None:
        from loopml.store import get_deployment_store, get_pipeline_store, get_registry_store
        from loopml.store.config_sql import ConfigObjectStore
        from loopml.store.sql import SqlStore

        if not isinstance(tracking, SqlStore):
            from loopml.errors import InvalidParameterValue

            raise InvalidParameterValue(
                "loopml export/apply work on the metadata database: give --tracking-uri as "
                "sqlite:///... or postgresql://... (or use the server's /api/loopml/v1/gitops "
                "routes).")
        self.tracking = tracking
        self.engine = tracking.engine
        self.deployments = get_deployment_store(tracking)
        self.pipelines = get_pipeline_store(tracking)
        self.registry = get_registry_store(tracking)
        self.config = ConfigObjectStore(tracking.engine)

    def _workspaces(self, table: sa.Table, key: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c[key], table.c.workspace)).all()
        return {r[0]: r[1] for r in rows}

    def current(self) -> list[Doc]:
        """Every managed object in the store, every workspace, as canonical documents."""
        docs: list[Doc] = []
        with use_workspace(ALL_WORKSPACES):
            deployments = self.deployments.list_deployments()
            triggers = self.pipelines.list_triggers()
        ws = self._workspaces(t.deployments, "name")
        for d in deployments:
            docs.append(Doc("Deployment", d.name, ws.get(d.name, "default"), d.spec()))
        ws = self._workspaces(t.pipeline_triggers, "name")
        for tr in triggers:
            kind = "Schedule" if tr.kind == "cron" else "Trigger"
            docs.append(Doc(kind, tr.name, ws.get(tr.name, "default"), trigger_spec(tr)))
        for kind in CONFIG_KINDS:
            for name, workspace, spec in self.config.list(kind):
                docs.append(Doc(kind, name, workspace, spec))
        return docs

    def trigger_marker(self, name: str) -> int:
        with self.engine.connect() as conn:
            v = conn.execute(sa.select(t.pipeline_triggers.c.marker).where(
                t.pipeline_triggers.c.name == name)).scalar()
        return int(v or 0)

    def check(self, doc: Doc) -> None:
        """What only the store can say before anything is written: deployments route to
        registered versions that exist. Raises ``LoopmlError``."""
        if doc.kind == "Deployment":
            from loopml.store.deployments_base import check_models_exist

            uris = [r["model_uri"] for r in doc.spec["routes"]] + list(doc.spec["shadow"])
            check_models_exist(self.registry, f"Deployment {doc.name!r}", uris)

    def write(self, action: str, doc: Doc, before: Doc | None) -> None:
        """Create, update or delete one object (``action``: create | update | delete)."""
        with use_workspace(doc.workspace):
            if doc.kind == "Deployment":
                self._deployment(action, doc, before)
            elif doc.kind in ("Schedule", "Trigger"):
                self._trigger(action, doc)
            elif action == "delete":
                self.config.delete(doc.kind, doc.name)
            else:
                self.config.put(doc.kind, doc.name, doc.spec, doc.workspace)

    def _deployment(self, action: str, doc: Doc, before: Doc | None) -> None:
        from loopml.entities import TrafficRoute

        routes = [TrafficRoute(r["model_uri"], float(r["weight"])) for r in doc.spec["routes"]]
        replace = before is not None and (before.workspace != doc.workspace or (
            doc.spec["sticky_header"] is None and before.spec["sticky_header"] is not None))
        if action == "delete" or replace:
            self.deployments.delete_deployment(doc.name)
            if action == "delete":
                return
        replicas = int(doc.spec.get("replicas", 1))
        env = {str(k): str(v) for k, v in (doc.spec.get("env") or {}).items()}
        if action == "create" or replace:
            self.deployments.create_deployment(doc.name, routes, doc.spec["shadow"],
                                               doc.spec["sticky_header"], replicas, env)
        else:
            self.deployments.update_deployment(doc.name, routes, doc.spec["shadow"],
                                               doc.spec["sticky_header"], replicas, env)

    def _trigger(self, action: str, doc: Doc) -> None:
        from loopml.pipelines.triggers import validate_trigger

        # An update keeps the marker: a changed schedule or trigger neither re-fires past
        # events nor skips the next run.
        marker = self.trigger_marker(doc.name) if action == "update" else 0
        if action in ("update", "delete"):
            self.pipelines.delete_trigger(doc.name)
        if action == "delete":
            return
        trig = to_trigger(doc.kind, doc.name, doc.spec, marker)
        if action == "create" and doc.kind == "Trigger":
            trig = _from_now(trig, self.tracking)
        self.pipelines.create_trigger(validate_trigger(trig))


def _from_now(trig: Any, tracking: Any) -> Any:
    """A new event trigger starts after the latest event (as ``loopml pipeline trigger``
    does): applying a repository must not replay the history."""
    from dataclasses import replace

    with tracking.engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(t.events.c.seq))).scalar()
    return replace(trig, marker=int(last or 0))


def trigger_spec(tr: Any) -> dict[str, Any]:
    """A stored trigger as the canonical spec of its Schedule/Trigger document."""
    if tr.kind == "cron":
        spec: dict[str, Any] = {"pipeline": tr.ref, "cron": tr.spec["cron"],
                                "params": dict(tr.params), "executor": tr.executor,
                                "enabled": bool(tr.enabled)}
        return canonical("Schedule", tr.name, spec)
    spec = {"pipeline": tr.ref, "events": list(tr.spec["types"]),
            "subject": tr.spec.get("subject"), "params": dict(tr.params),
            "executor": tr.executor, "enabled": bool(tr.enabled)}
    return canonical("Trigger", tr.name, spec)


__all__ = ["CONFIG_KINDS", "State", "trigger_spec"]
