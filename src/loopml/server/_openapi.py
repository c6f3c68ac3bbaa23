"""OpenAPI 3.1 description of a loopml app, generated from its route table.

``openapi_document(routes, ...)`` walks the Starlette routes a server actually mounts (the
route table is the single source: nothing here lists paths by hand) and describes each
operation: its path parameters, the permission it declares (as an OpenAPI security
requirement plus ``x-loopml-permission``), a summary from the handler's docstring and,
where a route declares one, a request body schema (``route.openapi_body``, set by
``server/_api.py`` for JSON routes and by the data plane for its V2 routes).

``openapi_routes(...)`` adds ``GET /openapi.json`` and ``GET /docs`` (a static HTML list
of the operations; no scripts, nothing loaded from elsewhere) to a route list. Both are
public: they describe routes, never data.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-z]+))?}")
ERROR_SCHEMA: dict[str, Any] = {"type": "object", "description": "The error, named: V2 "
                                "routes answer {error}, the others {error_code, message}."}
JSON_OBJECT: dict[str, Any] = {"type": "object"}
_V2_TYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES"]
# The Open Inference Protocol's inference request (KServe V2), for the data plane's routes.
V2_INFER_REQUEST: dict[str, Any] = {
    "type": "object", "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "shape", "datatype", "data"],
            "properties": {"name": {"type": "string"},
                           "shape": {"type": "array", "items": {"type": "integer",
                                                                "minimum": 0}},
                           "datatype": {"type": "string", "enum": _V2_TYPES},
                           "parameters": {"type": "object"},
                           "data": {"type": "array"}}}},
        "outputs": {"type": "array", "items": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}}}},
    },
}
# MLflow's scoring protocol (/invocations, and KServe V1 :explain).
SCORING_REQUEST: dict[str, Any] = {
    "type": "object", "description": "Exactly one of dataframe_split, dataframe_records, "
    "instances, inputs (MLflow's scoring protocol).",
    "properties": {"dataframe_split": {"type": "object"},
                   "dataframe_records": {"type": "array", "items": {"type": "object"}},
                   "instances": {"type": "array"}, "inputs": {}},
}


def _walk(routes: Sequence[BaseRoute], prefix: str = "") -> list[tuple[str, Route]]:
    out: list[tuple[str, Route]] = []
    for r in routes:
        if isinstance(r, Mount):
            out += _walk(r.routes, prefix + r.path)
        elif isinstance(r, Route):
            out.append((prefix + r.path, r))
    return out


def _summary(route: Route) -> str:
    doc = getattr(route, "openapi_summary", None) or (route.endpoint.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ").strip() or route.name.replace("_", " ")


def _operation(path: str, method: str, route: Route) -> dict[str, Any]:
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "string", "minLength": 1}
               | ({} if conv == "path" else {"pattern": "^[^/]+$"})}
              for name, conv in _PARAM.findall(path)]
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}{re.sub(r'[^a-zA-Z0-9]+', '_', path)}".rstrip("_"),
        "summary": _summary(route),
        "tags": [_tag(path)],
        "responses": {
            "200": {"description": "Success."},
            "4XX": {"description": "Bad input, unknown resource, or not allowed; the JSON "
                                   "body names the problem.",
                    "content": {"application/json": {"schema": ERROR_SCHEMA}}},
        },
    }
    if params:
        op["parameters"] = params
    perm = getattr(route, "permission", None)
    if perm is not None:
        op["x-loopml-permission"] = perm.value
        if perm.value != "public":
            op["security"] = [{"bearer": []}, {"basic": []}]
    body = getattr(route, "openapi_body", None)
    if body is not None and method in ("POST", "PUT", "PATCH", "DELETE"):
        op["requestBody"] = {"required": False,
                             "content": {"application/json": {"schema": body}}}
    return op


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    if parts[:2] in (["api", "2.0"], ["ajax-api", "2.0"]):
        return "mlflow " + (parts[3] if len(parts) > 3 else parts[-1])
    if parts[:3] == ["api", "loopml", "v1"]:
        return "loopml " + (parts[3] if len(parts) > 3 else "api")
    return parts[0] if parts else "root"


def openapi_document(routes: Sequence[BaseRoute], title: str, version: str,
                     description: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (HEAD, implied by GET, is left out)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, route in _walk(routes):
        clean = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(clean, {})[method.lower()] = _operation(path, method, route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic"}}},
    }


def docs_html(doc: dict[str, Any]) -> str:
    """A static page listing every operation (method, path, permission, summary)."""
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}"
                f"</code></td><td>{html.escape(op.get('x-loopml-permission', ''))}</td>"
                f"<td>{html.escape(op['summary'])}</td></tr>")
    info = doc["info"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(info['title'])} API</title><style>body{{font-family:sans-serif;"
        "margin:2em}td,th{padding:2px 8px;text-align:left;vertical-align:top}"
        "tr:nth-child(even){background:#f4f4f4}</style></head><body>"
        f"<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>"
        f"<p>{html.escape(info['description'])} Machine-readable: "
        "<a href='openapi.json'>openapi.json</a> (OpenAPI 3.1).</p>"
        f"<p>{len(rows)} operations.</p><table><tr><th>Method</th><th>Path</th>"
        "<th>Permission</th><th>Summary</th></tr>" + "".join(rows) + "</table></body></html>")


def openapi_handlers(get_routes: Callable[[], Sequence[BaseRoute]], title: str, version: str,
                     description: str = "") -> tuple[Any, Any]:
    """(openapi.json handler, /docs handler). The document is built on the first request
    (the route table is complete by then) and kept."""
    cache: dict[str, Any] = {}

    def document() -> dict[str, Any]:
        if "doc" not in cache:
            cache["doc"] = openapi_document(get_routes(), title, version, description)
        return cache["doc"]  # type: ignore[no-any-return]

    async def openapi_json(_: Request) -> Response:
        """The OpenAPI 3.1 description of this server's API."""
        return Response(orjson.dumps(document()), media_type="application/json")

    async def docs(_: Request) -> Response:
        """A readable list of this server's operations (static HTML, no scripts)."""
        return HTMLResponse(docs_html(document()))

    return openapi_json, docs
