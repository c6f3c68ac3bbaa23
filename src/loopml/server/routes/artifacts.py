"""Artifact listing for runs and the ``mlflow-artifacts`` proxy (upload, download, list,
delete), so clients on other machines read and write artifacts through the server.

Every path is confined (``loopml.artifacts._paths``) before any I/O. Artifact URIs outside the
server's own root are refused: a client-chosen location must never make the server read or
list arbitrary folders.
"""

from __future__ import annotations

import tempfile
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from loopml.artifacts import BlobStore, confine
from loopml.artifacts._paths import join
from loopml.errors import InvalidParameterValue, LoopmlError, RequestTooLarge
from loopml.security import Permission as P
from loopml.security import PermissionedRoute, route
from loopml.security.entity_scope import ARTIFACT_PATH, LOGGED_MODEL, RUN, Addresses
from loopml.server._api import api, check_entities
from loopml.server._http import Body, JSONResponse, content_disposition
from loopml.server.routes.runs import run_id
from loopml.server.services import PROXY_SCHEME, Services

PROXY_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
# A proxy path starts with the experiment id (``<experiment>/<run>/artifacts/...``): the
# caller's role is checked in that experiment's workspace (security/entity_scope.py).
_PATH = (Addresses(ARTIFACT_PATH, "path"),)


def resolve(s: Services, uri: str) -> tuple[BlobStore, str]:
    """Map an artifact URI to (the server's blob store, a confined path inside it)."""
    if uri.startswith(PROXY_SCHEME):
        path = urlsplit(uri).path if uri.startswith(PROXY_SCHEME + "//") else uri[len(PROXY_SCHEME):]
        return s.blobs, confine(path.lstrip("/"))
    root = s.blobs.root_uri.rstrip("/")
    if uri == root or uri.startswith(root + "/"):
        return s.blobs, confine(uri[len(root):].lstrip("/"))
    raise InvalidParameterValue(
        f"Artifact URI {uri!r} is outside this server's artifact root {root!r}; the server only "
        "serves artifacts it stores."
    )


def _file_entries(blobs: BlobStore, base: str, rel: str) -> list[dict[str, Any]]:
    out = []
    for f in blobs.list(join(base, rel)):
        entry: dict[str, Any] = {"path": join(rel, f.path), "is_dir": f.is_dir}
        if f.file_size is not None:
            entry["file_size"] = f.file_size
        out.append(entry)
    return out


def routes(s: Services) -> list[PermissionedRoute]:
    def list_run_artifacts(b: Body) -> dict[str, Any]:
        run = s.store.get_run(run_id(b))
        rel = confine(b.text("path") or "")
        blobs, base = resolve(s, run.info.artifact_uri)
        return {"root_uri": run.info.artifact_uri, "files": _file_entries(blobs, base, rel)}

    def list_model_artifacts(b: Body) -> dict[str, Any]:
        model = s.store.get_logged_model(b.req_text("model_id"))
        rel = confine(b.text("artifact_directory_path") or "")
        blobs, base = resolve(s, model.artifact_location)
        return {"root_uri": model.artifact_location, "files": _file_entries(blobs, base, rel)}

    def visible(b: Body, top: str) -> bool:
        """At the proxy root, each entry is an experiment's folder: list it only for a
        caller who may read that experiment (its workspace is the request's, or the caller
        has a role there), so the root does not enumerate other workspaces' experiments."""
        scope = s.entity_scope
        if scope is None:
            return True
        try:
            scope.check(_PATH, {"path": top}, b.caller, P.READ, b.workspace)
        except LoopmlError:
            return False
        return True

    def proxy_list(b: Body) -> dict[str, Any]:
        path = confine(b.text("path") or "")
        files = []
        for f in s.blobs.list(path):
            if not path and not visible(b, f.path):
                continue
            entry: dict[str, Any] = {"path": f.path, "is_dir": f.is_dir}
            if f.file_size is not None:
                entry["file_size"] = f.file_size
            files.append(entry)
        return {"files": files}

    def _charge(path: str, size: int) -> None:
        """Count ``size`` against the artifact_bytes quota of the workspace of the
        experiment the path starts with (``<experiment>/<run>/artifacts/...``), else the
        request's workspace."""
        engine = getattr(s.store, "engine", None)
        if engine is None:
            return
        from loopml.security import quotas
        from loopml.security.workspaces import creating_workspace

        with engine.connect() as conn:
            ws = quotas.workspace_of_experiment(conn, path.split("/", 1)[0])
        quotas.charge(engine, ws or creating_workspace(), "artifact_bytes", size)

    async def check_path(request: Request, path: str, permission: P) -> None:
        body = Body({"path": path}, "mlflow-artifacts")
        body.principal, body.workspace = request.state.principal, request.state.workspace
        if s.inline_store_calls:
            check_entities(s, _PATH, body, permission)
        else:
            await run_in_threadpool(check_entities, s, _PATH, body, permission)

    async def upload(request: Request) -> Response:
        path = confine(request.path_params["path"])
        await check_path(request, path, P.WRITE)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > s.max_artifact_bytes:
            raise RequestTooLarge(f"Artifact of {length} bytes exceeds the server's limit.")
        # Spool to memory (small) or disk (large): the upload is streamed, never held whole,
        # and the blob store only sees a complete file.
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        try:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > s.max_artifact_bytes:
                    raise RequestTooLarge("Artifact exceeds the server's size limit.")
                spool.write(chunk)
            spool.seek(0)
            await run_in_threadpool(_charge, path, size)  # quota: before anything is stored
            await run_in_threadpool(s.blobs.put_stream, path, spool)  # type: ignore[arg-type]
        finally:
            spool.close()
        return JSONResponse({})

    async def download(request: Request) -> Response:
        path = confine(request.path_params["path"])
        await check_path(request, path, P.READ)
        chunks = await run_in_threadpool(s.blobs.open_stream, path)
        name = path.rsplit("/", 1)[-1]
        return StreamingResponse(
            chunks,
            media_type="application/octet-stream",
            headers={
                # Served as a download, never rendered: artifacts are user-controlled content.
                "Content-Disposition": content_disposition(name),
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def delete(request: Request) -> Response:
        path = confine(request.path_params["path"])
        if not path:
            raise InvalidParameterValue("Refusing to delete the artifact root.")
        await check_path(request, path, P.WRITE)
        await run_in_threadpool(s.blobs.delete, path)
        return JSONResponse({})

    out = [
        *api(s, "/artifacts/list", "GET", P.READ, list_run_artifacts,
             entity=(Addresses(RUN, "run_id", "run_uuid"),)),
        *api(s, "/logged-models/{model_id}/artifacts/directories", "GET", P.READ,
             list_model_artifacts, entity=(Addresses(LOGGED_MODEL, "model_id"),)),
        *api(s, "/artifacts", "GET", P.READ, proxy_list, prefixes=PROXY_PREFIXES,
             entity=_PATH),
    ]
    for p in PROXY_PREFIXES:
        proxied = [
            route(p + "/artifacts/{path:path}", upload, ["PUT"], P.WRITE, s.auth),
            route(p + "/artifacts/{path:path}", download, ["GET"], P.READ, s.auth),
            route(p + "/artifacts/{path:path}", delete, ["DELETE"], P.WRITE, s.auth),
        ]
        for r in proxied:
            r.entity = _PATH  # checked in the handlers (check_path)
        out += proxied
    return out
