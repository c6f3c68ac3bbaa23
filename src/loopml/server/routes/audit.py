"""The audit trail over HTTP (ADMIN): ``GET /api/loopml/v1/audit`` lists records (filters:
``actor``, ``action`` (``x*`` a prefix), ``outcome``, ``since_ms``, ``until_ms``,
``after_seq``, ``limit`` up to 1000), ``GET /api/loopml/v1/audit/verify`` checks the hash
chain, and the dashboard page ``/ui/audit`` shows the newest records."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import LoopmlError, ServiceUnavailable, invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute, route
from loopml.security.audit import OUTCOMES, AuditLog
from loopml.server._api import api
from loopml.server._http import Body, JSONResponse
from loopml.server.routes.ui import _denied
from loopml.server.services import Services
from loopml.ui._render import render

__all__ = ["MAX_LIMIT", "filters", "routes"]

_PREFIX = ("/api/loopml/v1",)
MAX_LIMIT = 1000


def filters(get: Any, where: str) -> dict[str, Any]:
    """Query filters from ``get(name) -> str | None`` (a Body's or the query string's),
    validated: an unknown outcome or a bad number is a 400 naming it."""
    out: dict[str, Any] = {}
    for name in ("actor", "action"):
        if get(name):
            out[name] = get(name)
    outcome = get("outcome")
    if outcome:
        if outcome not in OUTCOMES:
            raise invalid_param("outcome", where, f"one of {', '.join(OUTCOMES)}", outcome)
        out["outcome"] = outcome
    for name in ("since_ms", "until_ms", "after_seq", "limit"):
        raw = get(name)
        if raw in (None, ""):
            continue
        try:
            value = int(raw)
        except ValueError:
            raise invalid_param(name, where, "an integer", raw) from None
        top = MAX_LIMIT if name == "limit" else 2**63 - 1  # a BIGINT column's range
        bottom = 1 if name == "limit" else 0
        if not bottom <= value <= top:
            raise invalid_param(name, where, f"an int in [{bottom}, {top}]", raw)
        out[name] = value
    return out


def _log(s: Services) -> AuditLog:
    if s.audit is None:
        raise ServiceUnavailable("This server keeps no audit trail (its store is not SQL).")
    return s.audit


def routes(s: Services) -> list[PermissionedRoute]:
    def list_(b: Body) -> dict[str, Any]:
        audit = _log(s)
        audit.flush()  # what was recorded a moment ago is listed too
        found = audit.query(**filters(lambda n: b.text(n), b.where))
        return {"records": [asdict(r) for r in found]}

    def verify() -> dict[str, Any]:
        audit = _log(s)
        audit.flush()
        n, broken = audit.verify()
        head = audit.head()
        return {"checked": n, "ok": broken is None,
                "first_broken": asdict(broken) if broken else None,
                "head": {"seq": head.seq, "hash": head.hash} if head else None}

    async def verify_route(request: Request) -> Response:
        # Always in the thread pool (also on SQLite): it reads the whole trail.
        return JSONResponse(await run_in_threadpool(verify))

    async def page(request: Request) -> Response:
        q = request.query_params
        try:
            f = filters(q.get, "/ui/audit")
            audit = _log(s)
            records = await run_in_threadpool(lambda: (audit.flush(), audit.query(**f))[1])
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        return render(request, "audit.html", records=records, actor=q.get("actor", ""),
                      action=q.get("action", ""), outcome=q.get("outcome", ""),
                      outcomes=OUTCOMES)

    return [
        *api(s, "/audit", "GET", P.ADMIN, list_, _PREFIX),
        route(_PREFIX[0] + "/audit/verify", verify_route, ["GET"], P.ADMIN, s.auth),
        route("/ui/audit", page, ["GET"], P.ADMIN, s.auth, cookie_auth=True,
              on_denied=_denied),
    ]
