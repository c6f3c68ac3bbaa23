"""Dashboard sign-in through the OIDC provider (``security/_oidc_login.py``):
``GET /ui/login/oidc`` redirects to the provider, ``GET /ui/oidc/callback`` takes the code
back. The session is the same cookie the token sign-in sets (``_login.set_session``), here
holding the verified ID token, which the JWT verifier checks on every dashboard request; it
lasts until the ID token expires or ``session_max_age_s``, whichever comes first.
Both routes are PUBLIC: they are how a caller without credentials gets some."""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopml.errors import LoopmlError
from loopml.security import Permission, PermissionedRoute, route
from loopml.security._oidc_login import FLOW_COOKIE, FLOW_MAX_AGE_S, Flow, finish, start
from loopml.security.oidc import JWTVerifier
from loopml.server._login import client_key, is_tls, set_session
from loopml.server.services import Services
from loopml.ui._render import ENV, render

__all__ = ["CALLBACK", "jwt_verifier", "routes"]

CALLBACK = "/ui/oidc/callback"


def jwt_verifier(s: Services) -> JWTVerifier | None:
    """The server's OIDC verifier, when OIDC is configured."""
    return next((v for v in s.auth.verifiers if isinstance(v, JWTVerifier)), None)


def _redirect_uri(request: Request, trust_proxy: bool) -> str:
    scheme = "https" if is_tls(request, trust_proxy) else request.url.scheme
    return f"{scheme}://{request.url.netloc}{CALLBACK}"


def _offered(request: Request) -> bool:
    services = getattr(request.app.state, "services", None)
    return services is not None and jwt_verifier(services) is not None


# The sign-in page offers the provider's link only on a server that has one.
ENV.globals["oidc_sign_in"] = _offered


def routes(s: Services) -> list[PermissionedRoute]:
    def _record(request: Request, outcome: str, actor: str, detail: str) -> None:
        from loopml.security.audit import record_decision

        record_decision(request, "login.oidc", outcome, actor=actor, via="oidc",
                        target="dashboard", detail=detail)

    async def login(request: Request) -> Response:
        v = jwt_verifier(s)
        if v is None:
            return render(request, "error.html", 404, status=404,
                          message="OIDC sign-in is not configured on this server.")
        try:
            url, flow = await run_in_threadpool(
                start, v, _redirect_uri(request, s.trust_proxy), request.query_params.get("next"))
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        resp = RedirectResponse(url, 303)
        resp.set_cookie(FLOW_COOKIE, flow.cookie(), max_age=FLOW_MAX_AGE_S, path=CALLBACK,
                        httponly=True, samesite="lax", secure=is_tls(request, s.trust_proxy))
        return resp

    async def callback(request: Request) -> Response:
        v = jwt_verifier(s)
        if v is None:
            return render(request, "error.html", 404, status=404,
                          message="OIDC sign-in is not configured on this server.")
        who = client_key(request, s.trust_proxy)
        try:
            flow = Flow.from_cookie(request.cookies.get(FLOW_COOKIE))
            id_token, claims = await run_in_threadpool(
                finish, v, flow, dict(request.query_params), _redirect_uri(request, s.trust_proxy))
        except LoopmlError as e:
            _record(request, "deny", who, e.message)
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        principal = v.principal(claims)
        if not principal.roles:
            _record(request, "deny", principal.subject, "no role mapped")
            return render(request, "error.html", 403, status=403, message=(
                f"Signed in as {principal.subject}, but the claim mapping gives this "
                "identity no role on this server: ask an administrator."))
        _record(request, "allow", principal.subject, "")
        resp = RedirectResponse(flow.next, 303)
        max_age = max(1, min(s.session_max_age_s, int(claims["exp"] - time.time())))
        set_session(resp, request, id_token, max_age, s.trust_proxy)
        resp.delete_cookie(FLOW_COOKIE, path=CALLBACK, httponly=True, samesite="lax")
        return resp

    return [
        route("/ui/login/oidc", login, ["GET"], Permission.PUBLIC, s.auth),
        route(CALLBACK, callback, ["GET"], Permission.PUBLIC, s.auth),
    ]
