"""ASGI middleware recording every mutating request (POST, PUT, PATCH, DELETE), every
artifact download and every refused read (401/403/429) in the audit trail, after the
response status is known.

The caller is ``request.state.principal`` when authentication set one (Starlette keeps
``request.state`` in ``scope["state"]``), else anonymous. The action is the method and the
route template (``POST /api/2.0/mlflow/runs/log-metric``), so the action set stays small
and queryable; the target is the concrete path. Downloads are recorded too, because reading
every artifact of a workspace is how data leaves (the anomaly monitor watches for it).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.security.audit import AuditLog, outcome_for_status

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# GET routes whose every call is recorded (as action "artifact.download").
DOWNLOAD_ROUTES = ("/api/2.0/mlflow-artifacts/artifacts/", "/ui/artifact/",
                   "/get-artifact", "/model-versions/get-artifact")
DOWNLOAD_ACTION = "artifact.download"


def _is_download(route_path: str) -> bool:
    return any(route_path.startswith(p) or route_path.endswith(p) for p in DOWNLOAD_ROUTES)


class AuditMiddleware:
    """Records requests into ``audit`` (see the module docstring). Costs a dict and a
    queue put per recorded request; reads other than downloads cost one set lookup."""

    def __init__(self, app: ASGIApp, audit: AuditLog | None) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.audit is None:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        if method not in MUTATING and method != "GET":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, method, status)

    def _record(self, scope: Scope, method: str, status: int) -> None:
        route_path = getattr(scope.get("route"), "path", "unmatched")
        if method == "GET":
            if _is_download(route_path):
                action = DOWNLOAD_ACTION
            elif status in (401, 403, 429):  # a refused read is a security decision too
                action = f"GET {route_path}"
            else:
                return
        else:
            action = f"{method} {route_path}"
        assert self.audit is not None
        state = scope.get("state") or {}
        headers = dict(scope.get("headers") or ())
        client = scope.get("client")
        self.audit.record(
            action, outcome_for_status(status), principal=state.get("principal"),
            workspace=str(state.get("workspace", "default")), target=scope["path"][:1000],
            request_id=headers.get(b"x-request-id", b"").decode("latin-1")[:64],
            client=client[0] if client else "", detail=str(status))
