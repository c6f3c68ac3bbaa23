"""``/api/loopml/v1/pipelines``: pipeline runs and their steps, the step cache, triggers, and
starting or resuming runs inside the server.

Starting, resuming and triggering run code in the server process, so those routes need
DEPLOY (the deployer role: deployments and loop policies; an editor's training-job token
cannot), and they run only pipelines the operator registered at start-up
(``Services.runnable``, ``loopml server --pipelines``): a request naming anything else is a
403 and imports nothing. Reading needs READ, and the record-keeping calls a remote engine
makes need WRITE.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from loopml.errors import invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.security.entity_scope import PIPELINE_RUN, TRIGGER, Addresses
from loopml.server._api import api
from loopml.server._http import Body, entity, entity_fields
from loopml.server.services import Services
from loopml.store.pipelines_base import PipelineRun, StepRun, Trigger

_PREFIX = ("/api/loopml/v1",)
# module:attribute, both dotted identifiers (a relative module "..x" names nothing), or a
# registered pipeline's short name.
_REF = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?")


def pipeline_ref(b: Body) -> str:
    """The ``pipeline`` field: a ``module:attribute`` reference or a short name, checked for
    form (400) before the registry lookup (403 unless registered)."""
    ref = b.req_text("pipeline")
    if not _REF.fullmatch(ref):
        raise invalid_param("pipeline", b.where, "module:attribute (dotted names), e.g. "
                            "mypackage.flows:training", ref)
    return ref


# What the routes address (security/entity_scope.py): checked in the entity's workspace.
_PRUN = (Addresses(PIPELINE_RUN, "run_id"),)
_TRIGGER = (Addresses(TRIGGER, "name"),)


def routes(s: Services) -> list[PermissionedRoute]:
    store = s.pipelines

    def _client() -> Any:
        from loopml.tracking._client import TrackingClient

        return TrackingClient(store=s.store, proxy_root=s.blobs.root_uri)

    # ---- records ---------------------------------------------------------------------------
    def create_run(b: Body) -> dict[str, Any]:
        return {"run": store.create_run(entity(PipelineRun, b.data, b.where)).to_dict()}

    def update_run(b: Body) -> dict[str, Any]:
        fields = b.data.get("fields")
        if not isinstance(fields, dict) or not fields:
            raise invalid_param("fields", b.where, "a non-empty object of fields to change",
                                fields)
        checked = entity_fields(PipelineRun, fields, f"{b.where} (fields)")
        unknown = sorted(set(fields) - set(checked))
        if unknown:
            raise invalid_param("fields", b.where, "fields of a pipeline run", unknown)
        return {"run": store.update_run(b.req_text("run_id"), **checked).to_dict()}

    def get_run(b: Body) -> dict[str, Any]:
        rid = b.req_text("run_id")
        return {"run": store.get_run(rid).to_dict(),
                "steps": [x.to_dict() for x in store.get_steps(rid)]}

    def list_runs(b: Body) -> dict[str, Any]:
        runs = store.list_runs(b.text("pipeline"), b.text("status"), b.int_or("limit", 100))
        return {"runs": [r.to_dict() for r in runs]}

    def put_step(b: Body) -> dict[str, Any]:
        data = {k: v for k, v in b.data.items() if k != "duration_ms"}
        store.put_step(entity(StepRun, data, b.where))
        return {}

    def cache_get(b: Body) -> dict[str, Any]:
        hit = store.cache_get(b.req_text("key"))
        return {"run_id": hit[0], "outputs": hit[1]} if hit else {}

    def cache_put(b: Body) -> dict[str, Any]:
        outputs = b.data.get("outputs")
        if not isinstance(outputs, dict):
            raise invalid_param("outputs", b.where, "an object", outputs)
        store.cache_put(b.req_text("key"), b.req_text("run_id"), b.req_text("step"), outputs)
        return {}

    def cache_delete(b: Body) -> dict[str, Any]:
        store.cache_delete(b.req_text("key"))
        return {}

    # ---- triggers --------------------------------------------------------------------------
    def create_trigger(b: Body) -> dict[str, Any]:
        from loopml.pipelines.triggers import validate_trigger

        t = entity(Trigger, b.data, b.where)
        # Registered or 403, before anything else; a short name is stored as its reference.
        p = s.runnable.resolve(t.ref, f"Trigger {t.name!r}: pipeline")
        t = validate_trigger(dataclasses.replace(t, ref=p.ref or t.ref))
        return {"trigger": store.create_trigger(t).to_dict()}

    def list_triggers(b: Body) -> dict[str, Any]:
        return {"triggers": [t.to_dict() for t in store.list_triggers()]}

    def delete_trigger(b: Body) -> dict[str, Any]:
        store.delete_trigger(b.req_text("name"))
        return {}

    def fire_trigger(b: Body) -> dict[str, Any]:
        raw = b.data.get("run")
        run = entity(PipelineRun, raw, b.where) if isinstance(raw, dict) else None
        fired = store.fire_trigger(b.req_text("name"), b.int_or("expected_marker", 0),
                                   b.int_or("new_marker", 0), run)
        return {"fired": fired}

    # ---- execution -------------------------------------------------------------------------
    def start_run(b: Body) -> dict[str, Any]:
        p = s.runnable.resolve(pipeline_ref(b))  # 403 unless registered; no import
        from loopml.pipelines import start

        params = b.data.get("params") or {}
        if not isinstance(params, dict):
            raise invalid_param("params", b.where, "an object {name: value}", params)
        h = start(p, params, executor=b.text("executor"), cache=b.flag("cache", True),
                  client=_client())
        return {"run_id": h.run_id}

    def resume_run(b: Body) -> dict[str, Any]:
        import threading

        from loopml.pipelines import resume

        rid = b.req_text("run_id")
        rec = store.get_run(rid)  # 404 now rather than in the background
        # The record's ref may have been written by any WRITE caller: look it up, never import.
        p = s.runnable.resolve(rec.ref or "(none)", f"Pipeline of run {rid}")
        threading.Thread(target=resume, args=(rid,), kwargs={
            "client": _client(), "executor": b.text("executor"), "pipeline": p}, daemon=True,
            name=f"resume-{rid[:8]}").start()
        return {"run_id": rec.run_id}

    return [
        *api(s, "/pipelines/runs", "GET", P.READ, list_runs, _PREFIX),
        *api(s, "/pipelines/runs/create", "POST", P.WRITE, create_run, _PREFIX),
        *api(s, "/pipelines/runs/start", "POST", P.DEPLOY, start_run, _PREFIX),
        *api(s, "/pipelines/runs/{run_id}", "GET", P.READ, get_run, _PREFIX,
             entity=_PRUN),
        *api(s, "/pipelines/runs/{run_id}", "PATCH", P.WRITE, update_run, _PREFIX,
             entity=_PRUN),
        *api(s, "/pipelines/runs/{run_id}/steps", "POST", P.WRITE, put_step, _PREFIX,
             entity=_PRUN),
        *api(s, "/pipelines/runs/{run_id}/resume", "POST", P.DEPLOY, resume_run, _PREFIX,
             entity=_PRUN),
        *api(s, "/pipelines/cache/{key}", "GET", P.READ, cache_get, _PREFIX),
        *api(s, "/pipelines/cache/{key}", "POST", P.WRITE, cache_put, _PREFIX),
        *api(s, "/pipelines/cache/{key}", "DELETE", P.WRITE, cache_delete, _PREFIX),
        *api(s, "/pipelines/triggers", "GET", P.READ, list_triggers, _PREFIX),
        *api(s, "/pipelines/triggers", "POST", P.DEPLOY, create_trigger, _PREFIX),
        *api(s, "/pipelines/triggers/{name}", "DELETE", P.DEPLOY, delete_trigger, _PREFIX,
             entity=_TRIGGER),
        *api(s, "/pipelines/triggers/{name}/fire", "POST", P.DEPLOY, fire_trigger, _PREFIX,
             entity=_TRIGGER),
    ]
