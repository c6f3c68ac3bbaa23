"""``api()`` makes JSON routes from plain sync functions ``fn(body) -> dict``.

Store calls are synchronous (SQLAlchemy). They run in the thread pool, so one slow query
never stalls the event loop, except when ``Services.inline_store_calls`` is set (SQLite):
see services.py for why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.security import Permission, PermissionedRoute, route
from loopml.security.entity_scope import Addresses
from loopml.server._http import Body, JSONResponse, read_json
from loopml.server.services import Services

MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")

SyncFn = Callable[[Body], dict[str, Any]]


def api(
    s: Services,
    path: str,
    method: str,
    permission: Permission,
    fn: SyncFn,
    prefixes: tuple[str, ...] = MLFLOW_PREFIXES,
    max_objects: int | None = None,
    entity: Sequence[Addresses] = (),
) -> list[PermissionedRoute]:
    """``max_objects``: refuse a body with more JSON objects than this before parsing it
    (``_http.read_json``), for routes whose items are counted, like log-batch. ``entity``:
    the existing entities the route addresses by id or name; the caller's role is checked
    in each one's own workspace too (``security/entity_scope.py``), not only in the
    request's."""
    where = path.strip("/")
    call = fn if not entity else scoped_call(s, permission, fn, entity)

    async def handler(request: Request) -> Response:
        body = await read_json(request, s.max_body_bytes, where, max_objects)
        # Path parameters (e.g. /logged-models/{model_id}) join the body fields.
        body.data.update(request.path_params)
        body.principal = request.state.principal
        body.workspace = request.state.workspace
        if s.inline_store_calls:
            return JSONResponse(call(body))
        return JSONResponse(await run_in_threadpool(call, body))

    made = [route(p + path, handler, [method], permission, s.auth) for p in prefixes]
    for r in made:  # what the OpenAPI description (server/_openapi.py) says of the route
        r.openapi_summary = (fn.__doc__ or "").strip() or f"{method} {where}"  # type: ignore[attr-defined]
        if method != "GET":
            r.openapi_body = {"type": "object"}  # type: ignore[attr-defined]
        r.entity = tuple(entity)
    return made


def scoped_call(s: Services, permission: Permission, fn: Callable[[Body], Any],
                entity: Sequence[Addresses]) -> Callable[[Body], Any]:
    """``fn`` preceded by the entity-workspace check (run where ``fn`` runs: in the thread
    pool or inline, since it may query the database)."""
    addresses = tuple(entity)

    def call(body: Body) -> Any:
        check_entities(s, addresses, body, permission)
        return fn(body)

    return call


def check_entities(s: Services, addresses: Sequence[Addresses], body: Body,
                   permission: Permission) -> None:
    """The entity-workspace check for routes made with ``route()`` directly: raises
    ``ResourceDoesNotExist`` / ``PermissionDenied`` (``EntityScope.check``). ``body`` must
    carry the request's principal and workspace."""
    if s.entity_scope is not None:
        s.entity_scope.check(addresses, body.data, body.caller, permission, body.workspace)
