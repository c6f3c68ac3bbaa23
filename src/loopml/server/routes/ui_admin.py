"""The dashboard's identity pages: ``/ui/admin/users`` (users, service accounts, role
bindings), ``/ui/admin/tokens`` (every API token) and ``/ui/me/tokens`` (the signed-in
user's own tokens).

Admin pages need ADMIN in the current workspace; what each action may touch is then
decided by ``IdentityService`` exactly as for the REST routes in ``identities.py`` (managing
identities needs admin on ``*``, granting a role needs admin in that workspace, a user
signed in with a password or OIDC manages their own tokens). Every form carries the CSRF
token. A new token's secret is shown once, on the page that answers its creation (which,
like every dashboard page, is ``Cache-Control: no-store``); only its hash is kept. The
store records no last-use time, so the token lists show none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopml.errors import InvalidParameterValue, LoopmlError
from loopml.security import IdentityKind, PermissionedRoute, Role, principal_of, route
from loopml.security import Permission as P
from loopml.security._identities import IssuedToken
from loopml.server.routes.identities import identity_service
from loopml.server.routes.ui import _denied
from loopml.server.services import Services
from loopml.ui._render import check_csrf, render

__all__ = ["routes"]

ROLES = [r.name.lower() for r in Role]
Action = Callable[[Services, Request, dict[str, str]], Any]


def _role(raw: str, optional: bool = False) -> Role | None:
    if optional and not raw.strip():
        return None
    try:
        return Role.parse(raw)
    except ValueError as e:
        raise InvalidParameterValue(str(e)) from None


def _days(raw: str) -> int | None:
    """A token lifetime in days from the form (blank: no expiry) as seconds."""
    if not raw.strip():
        return None
    try:
        days = float(raw)
    except ValueError:
        raise InvalidParameterValue(
            f"Expiry {raw!r} is not a number of days; leave it blank for no expiry.") from None
    return max(1, int(days * 86400))


def _users(s: Services, request: Request, f: dict[str, str]) -> dict[str, Any]:
    store = identity_service(s).store
    return {"users": store.list_identities(IdentityKind.USER),
            "service_accounts": store.list_identities(IdentityKind.SERVICE_ACCOUNT),
            "roles": ROLES}


def _tokens(owner: str | None) -> Action:
    def view(s: Services, request: Request, f: dict[str, str]) -> dict[str, Any]:
        caller = principal_of(request)
        who = caller.subject if owner == "me" else None
        tokens = identity_service(s).list_tokens(who, caller=caller)
        return {"tokens": sorted(tokens, key=lambda t: -t.created_time), "roles": ROLES,
                "mine": owner == "me", "me": caller.subject}
    return view


def _create_identity(s: Services, request: Request, f: dict[str, str]) -> None:
    svc, caller = identity_service(s), principal_of(request)
    if f.get("kind") == IdentityKind.SERVICE_ACCOUNT.value:
        svc.create_service_account(f.get("name", ""), f.get("description", ""), caller=caller)
    else:
        svc.create_user(f.get("name", ""), f.get("password") or None,
                        f.get("description", ""), caller=caller)


def _grant(s: Services, request: Request, f: dict[str, str]) -> None:
    identity_service(s).grant(request.path_params["name"], f.get("workspace", ""),
                              _role(f.get("role", "")) or Role.VIEWER,
                              caller=principal_of(request))


def _revoke(s: Services, request: Request, f: dict[str, str]) -> None:
    identity_service(s).revoke(request.path_params["name"], f.get("workspace", ""),
                               caller=principal_of(request))


def _delete(s: Services, request: Request, f: dict[str, str]) -> None:
    svc, name = identity_service(s), request.path_params["name"]
    svc.delete(name, svc.store.get_identity(name).kind, caller=principal_of(request))


def _issue(s: Services, request: Request, f: dict[str, str]) -> IssuedToken:
    caller = principal_of(request)
    owner = f.get("owner", "").strip() or caller.subject
    ws = f.get("workspace", "").strip() or getattr(request.state, "workspace", "default")
    return identity_service(s).issue_token(owner, ws, _role(f.get("role", ""), optional=True),
                                           _days(f.get("expires_days", "")),
                                           f.get("name", "").strip(), caller=caller)


def _revoke_token(s: Services, request: Request, f: dict[str, str]) -> None:
    identity_service(s).revoke_token(request.path_params["token_id"],
                                     caller=principal_of(request))


def routes(s: Services) -> list[PermissionedRoute]:
    def error(request: Request, e: LoopmlError) -> Response:
        return render(request, "error.html", e.http_status, status=e.http_status,
                      message=e.message)

    def page(template: str, view: Action) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            try:
                ctx = await run_in_threadpool(view, s, request, {})
            except LoopmlError as e:
                return error(request, e)
            return render(request, template, **ctx)
        return handler

    def action(fn: Action, back: str) -> Callable[[Request], Any]:
        """A CSRF-checked form post that runs ``fn`` then redirects to ``back``."""
        async def handler(request: Request) -> Response:
            form = await request.form()
            try:
                check_csrf(request, form)
                await run_in_threadpool(fn, s, request, {k: str(v) for k, v in form.items()})
            except LoopmlError as e:
                return error(request, e)
            s.auth.invalidate()  # a revocation or role change applies at once here
            return RedirectResponse(back, 303)
        return handler

    def create_token(template: str, owner: str | None) -> Callable[[Request], Any]:
        """Issue a token and answer with its list page showing the secret, this once."""
        async def handler(request: Request) -> Response:
            form = await request.form()
            f = {k: str(v) for k, v in form.items()}
            if owner == "me":
                f["owner"] = principal_of(request).subject
            try:
                check_csrf(request, form)
                issued = await run_in_threadpool(_issue, s, request, f)
                ctx = await run_in_threadpool(_tokens(owner), s, request, f)
            except LoopmlError as e:
                return error(request, e)
            return render(request, template, 201, issued=issued, **ctx)
        return handler

    def ui(path: str, handler: Callable[[Request], Any], perm: P,
           method: str = "POST") -> PermissionedRoute:
        return route(path, handler, [method], perm, s.auth, cookie_auth=True,
                     on_denied=_denied)

    users, tokens, mine = "/ui/admin/users", "/ui/admin/tokens", "/ui/me/tokens"
    return [
        ui(users, page("admin_users.html", _users), P.ADMIN, "GET"),
        ui(users + "/create", action(_create_identity, users), P.ADMIN),
        ui(users + "/{name}/grant", action(_grant, users), P.ADMIN),
        ui(users + "/{name}/revoke", action(_revoke, users), P.ADMIN),
        ui(users + "/{name}/delete", action(_delete, users), P.ADMIN),
        ui(tokens, page("tokens.html", _tokens(None)), P.ADMIN, "GET"),
        ui(tokens + "/create", create_token("tokens.html", None), P.ADMIN),
        ui(tokens + "/{token_id}/revoke", action(_revoke_token, tokens), P.ADMIN),
        # READ: IdentityService allows a user signed in with a password or OIDC to manage
        # their own tokens, and nobody else's.
        ui(mine, page("tokens.html", _tokens("me")), P.READ, "GET"),
        ui(mine + "/create", create_token("tokens.html", "me"), P.READ),
        ui(mine + "/{token_id}/revoke", action(_revoke_token, mine), P.READ),
    ]
