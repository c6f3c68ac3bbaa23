"""Liveness, version and loopml-only admin endpoints (events, garbage collection)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from loopml._version import __version__
from loopml.errors import PermissionDenied
from loopml.security import IdentityKind, PermissionedRoute, route
from loopml.security import Permission as P
from loopml.security.entity_scope import RUN, Addresses
from loopml.server._api import api
from loopml.server._http import Body, JSONResponse
from loopml.server.services import Services

LOOPML_PREFIX = ("/api/loopml/v1",)
# Alerts start retrains and canaries (the loop controller consumes alert.firing): only
# monitors and the controller, service accounts with the deployer role, may emit them over
# the API, so a training job's editor token cannot.
SERVICE_ONLY_EVENTS = ("alert.",)
SERVICE_KINDS = frozenset({IdentityKind.SERVICE_ACCOUNT, IdentityKind.ANONYMOUS})


def _may_alert(b: Body) -> bool:
    c = b.caller
    return c.kind in SERVICE_KINDS and c.allows(P.DEPLOY, b.workspace)


def routes(s: Services) -> list[PermissionedRoute]:
    async def health(_: Request) -> Response:
        return PlainTextResponse("OK")

    async def version(_: Request) -> Response:
        return PlainTextResponse(__version__)

    async def server_info(_: Request) -> Response:
        # Capabilities the mlflow client asks for before choosing upload strategies: loopml
        # proxies artifacts in single streamed requests (no multipart, no presigned URLs).
        return JSONResponse({
            "store_type": "SqlStore",
            "workspaces_enabled": True,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        })

    async def leader(_: Request) -> Response:
        # Which replica runs the background work (loopml.ha): this one when the lease names
        # it and, on PostgreSQL, the election lock is held.
        import os

        from loopml.ha.leader_info import leader_info

        engine = getattr(s.store, "engine", None)
        from starlette.concurrency import run_in_threadpool

        info = await run_in_threadpool(leader_info, engine, os.environ.get(
            "LOOPML_REPLICA_ID")) if engine is not None else {}
        return JSONResponse(info)

    def read_events(b: Body) -> dict[str, Any]:
        events = s.store.read_events(
            after_seq=b.int_or("after_seq", 0), types=b.str_list("types") or None,
            limit=b.int_or("limit", 1000),
        )
        return {"events": [
            {"seq": e.seq, "type": e.type, "subject": e.subject, "payload": e.payload,
             "time": e.time, "workspace": e.workspace, "actor": e.actor,
             "actor_kind": e.actor_kind}
            for e in events
        ]}

    def append_event(b: Body) -> dict[str, Any]:
        payload = b.data.get("payload") or {}
        if not isinstance(payload, dict):
            from loopml.errors import invalid_param

            raise invalid_param("payload", b.where, "a JSON object", payload)
        etype = b.req_text("type")
        if etype.startswith(SERVICE_ONLY_EVENTS) and not _may_alert(b):
            raise PermissionDenied(
                f"Only service identities with the deployer role (monitors, the loop "
                f"controller) may emit {etype!r} events; {b.caller.kind.value} "
                f"{b.caller.subject!r} is not one in workspace {b.workspace!r}. Use such a "
                "service account's token (loopml service-accounts create NAME --role "
                "deployer).")
        seq = s.store.append_event(etype, b.req_text("subject"), payload)
        return {"seq": seq}

    def deleted_runs(b: Body) -> dict[str, Any]:
        return {"run_ids": s.store.list_deleted_run_ids(b.integer("older_than_ms"))}

    def purge_run(b: Body) -> dict[str, Any]:
        return {"artifact_uri": s.store.permanently_delete_run(b.req_text("run_id"))}

    return [
        route("/health", health, ["GET"], P.PUBLIC, s.auth),
        route("/health/leader", leader, ["GET"], P.PUBLIC, s.auth),
        route("/version", version, ["GET"], P.PUBLIC, s.auth),
        route("/api/3.0/mlflow/server-info", server_info, ["GET"], P.PUBLIC, s.auth),
        *api(s, "/events", "GET", P.READ, read_events, prefixes=LOOPML_PREFIX),
        *api(s, "/events", "POST", P.WRITE, append_event, prefixes=LOOPML_PREFIX),
        *api(s, "/gc/deleted-runs", "GET", P.ADMIN, deleted_runs, prefixes=LOOPML_PREFIX),
        *api(s, "/gc/purge-run", "POST", P.ADMIN, purge_run, prefixes=LOOPML_PREFIX,
             entity=(Addresses(RUN, "run_id"),)),
    ]
