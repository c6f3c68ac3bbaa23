"""Authentication and permission checks for every HTTP route of both servers (the control
plane and ``loopml serve``). ``route()`` is the only way routes are made, and a test walks
both apps to prove none lacks a declared permission.

A request's credentials go through a chain of ``CredentialVerifier``s in a fixed order:
API tokens, OIDC JWTs, local passwords, then the legacy shared token / basic credentials
(``--auth-token-file``, ``LOOPML_AUTH_*``). The first that recognises the credential decides.
The chosen ``Principal`` and the request's workspace land in ``request.state`` (``principal``,
``workspace``) for handlers and the audit middleware.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.errors import PermissionDenied, Unauthenticated
from loopml.security._principal import (
    ALL_WORKSPACES,
    ANONYMOUS,
    CredentialVerifier,
    IdentityKind,
    Permission,
    Principal,
    Role,
)
from loopml.security.actor import _current as _ACTOR
from loopml.server._http import Handler, error_response, guarded

TOKEN_COOKIE = "loopml_token"  # noqa: S105 - the cookie's name, not a secret
# The header the mlflow client (3.10+) sends after ``mlflow.set_workspace(...)``
# (mlflow.utils.workspace_utils.WORKSPACE_HEADER_NAME); loopml reads the same one.
WORKSPACE_HEADER = "x-mlflow-workspace"
_WORKSPACE_HEADER_MIXED = "X-MLFLOW-WORKSPACE"  # plain dicts (gRPC metadata, tests) keep case
DEFAULT_WORKSPACE = "default"

SHARED_TOKEN_SUBJECT = "shared-token"  # noqa: S105 - a subject name, not a secret

# Who calls a public route (health, login) when credentials are required: not checked.
UNAUTHENTICATED = Principal("unauthenticated", IdentityKind.ANONYMOUS, {}, via="none")

_AUTH_HELP = ("Authentication required: send 'Authorization: Bearer <token>' "
              "(MLFLOW_TRACKING_TOKEN for the mlflow client) or basic credentials "
              "(MLFLOW_TRACKING_USERNAME/PASSWORD).")


def request_workspace(headers: Mapping[str, str], path: str = "") -> str:
    """The workspace a request addresses, by ``workspaces.workspace_for`` (the header,
    else the dashboard's cookie on ``/ui`` paths, else ``default``): the same rule
    ``WorkspaceMiddleware`` scopes the stores by. An invalid header name is returned as
    sent (no role is bound to it, so the check denies; the middleware has already
    answered 400 on HTTP)."""
    # The hot path (an API call without the header): no imports, no parsing. Measured
    # ~8 µs -> ~0.5 µs per request (bench/auth_overhead.py, docs/benchmarks.md).
    raw = headers.get(WORKSPACE_HEADER)  # Starlette's Headers ignore case; dicts do not
    if raw is None and isinstance(headers, dict):
        raw = headers.get(_WORKSPACE_HEADER_MIXED)
    if not raw and not (path == "/ui" or path.startswith("/ui/")):
        return DEFAULT_WORKSPACE
    from loopml.errors import InvalidParameterValue
    from loopml.security.workspaces import workspace_for

    try:
        return workspace_for(headers, path)
    except InvalidParameterValue:
        return headers.get(WORKSPACE_HEADER, "").strip() or DEFAULT_WORKSPACE


class SharedTokenVerifier:
    """The legacy single credential: one bearer token and/or one basic-auth pair. Whoever
    holds it is a service account with the admin role in every workspace (what the shared
    token always allowed), ``via="shared_token"``."""

    def __init__(self, token: str | None = None, basic: tuple[str, str] | None = None) -> None:
        self.token = token
        self.basic = basic
        subject = basic[0] if basic and not token else SHARED_TOKEN_SUBJECT
        self.principal = Principal(subject, IdentityKind.SERVICE_ACCOUNT,
                                   {ALL_WORKSPACES: Role.ADMIN}, via="shared_token")

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        if self.token and scheme == "bearer" and hmac.compare_digest(
                credentials.encode(), self.token.encode()):
            return self.principal
        if self.basic and scheme == "basic":
            user, pwd = decode_basic(credentials)
            ok_user = hmac.compare_digest(user.encode(), self.basic[0].encode())
            ok_pwd = hmac.compare_digest(pwd.encode(), self.basic[1].encode())
            if ok_user and ok_pwd:
                return Principal(self.basic[0], IdentityKind.SERVICE_ACCOUNT,
                                 {ALL_WORKSPACES: Role.ADMIN}, via="shared_token")
            if ok_user:
                raise PermissionDenied("Wrong username or password.")
        return None


def decode_basic(credentials: str) -> tuple[str, str]:
    """``base64(user:password)`` -> (user, password). Raises ``Unauthenticated`` when it is
    not valid base64 / UTF-8."""
    try:
        user, _, pwd = base64.b64decode(credentials, validate=True).decode().partition(":")
    except Exception:
        raise Unauthenticated("Malformed basic credentials.") from None
    return user, pwd


class Authenticator:
    """The verifier chain of one server process.

    ``token`` / ``basic``: the legacy shared credential (last in the chain). ``verifiers``:
    the others, in chain order (see ``security.build_verifiers``). ``required``: refuse
    requests without credentials (401); it is implied by a shared credential. Without it
    (the loopback default), a request without credentials is ``ANONYMOUS`` (every role), and
    one with credentials is still verified, so its roles apply."""

    def __init__(self, token: str | None = None, basic: tuple[str, str] | None = None,
                 verifiers: Sequence[CredentialVerifier] = (), required: bool = False) -> None:
        self.token = token
        self.basic = basic
        self.verifiers: list[CredentialVerifier] = list(verifiers)
        if token or basic:
            self.verifiers.append(SharedTokenVerifier(token, basic))
        self.required = required or bool(token or basic)
        self._index()

    @property
    def enabled(self) -> bool:
        """Credentials are required (a non-loopback bind needs this or --insecure)."""
        return self.required

    def add(self, verifier: CredentialVerifier, index: int | None = None) -> None:
        """Insert ``verifier`` into the chain (default: before the shared credential, which
        always stays last)."""
        if index is None:
            shared = [i for i, v in enumerate(self.verifiers)
                      if isinstance(v, SharedTokenVerifier)]
            index = shared[0] if shared else len(self.verifiers)
        self.verifiers.insert(index, verifier)
        self._index()

    def invalidate(self) -> None:
        """Drop every verifier's cache (after a revocation or role change in this process)."""
        for v in self.verifiers:
            clear = getattr(v, "invalidate", None)
            if clear is not None:
                clear()

    def may_block(self, headers: Mapping[str, str],
                  cookies: Mapping[str, str] | None = None) -> bool:
        """Whether authenticating these headers could do blocking network I/O (an OIDC
        verifier that must fetch its provider's keys): ``route()`` then runs the check in
        a worker thread so the event loop keeps serving. Verifiers opt in with a
        ``may_block(scheme, credentials)`` method."""
        if not self._blockers:
            return False
        header = headers.get("authorization", "")
        if not header and cookies and cookies.get(TOKEN_COOKIE):
            header = f"Bearer {cookies[TOKEN_COOKIE]}"
        scheme, _, cred = header.partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        return any(check(scheme, cred) for check in self._blockers)

    def _index(self) -> None:
        # The verifiers' may_block methods, looked up once (not per request).
        self._blockers = tuple(v.may_block for v in self.verifiers  # type: ignore[attr-defined]
                               if hasattr(v, "may_block"))

    def authenticate(self, headers: Mapping[str, str],
                     cookies: Mapping[str, str] | None = None) -> Principal:
        """The caller of a request with these headers (and, for dashboard routes, the
        login cookie). Raises ``Unauthenticated`` (401) for missing or invalid credentials,
        ``PermissionDenied`` (403) for a known user with a wrong password."""
        header = headers.get("authorization", "")
        if not header and cookies and cookies.get(TOKEN_COOKIE):
            header = f"Bearer {cookies[TOKEN_COOKIE]}"
        if not header:
            if self.required:
                raise Unauthenticated(_AUTH_HELP)
            return ANONYMOUS
        scheme, _, cred = header.partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        for v in self.verifiers:
            p = v.verify(scheme, cred)
            if p is not None:
                return p
        if not self.required:
            return ANONYMOUS  # credentials no verifier knows are ignored, as before
        raise Unauthenticated("Invalid, expired or revoked credentials. " + _AUTH_HELP)

    def check(self, request: Any, permission: Permission, cookie: bool = False) -> Principal:
        """Authenticate ``request`` and check ``permission`` in its workspace; the principal
        and workspace are stored on ``request.state`` when it has one (gRPC metadata has
        not). ``cookie``: also accept the dashboard's login cookie (only on dashboard
        routes, whose forms carry CSRF tokens; never on the JSON API). Raises
        ``Unauthenticated`` (401) or ``PermissionDenied`` (403, naming the role needed)."""
        scope = getattr(request, "scope", None)  # gRPC metadata has no scope
        # The path from the ASGI scope: request.url would build (and parse) a URL object.
        path = scope.get("path", "") if scope is not None else ""
        workspace = request_workspace(request.headers, path)
        if permission is Permission.PUBLIC:
            principal = ANONYMOUS if not self.required else UNAUTHENTICATED
        else:
            principal = self.authenticate(request.headers,
                                          request.cookies if cookie else None)
        state = getattr(request, "state", None)
        if state is not None:
            state.principal = principal
            state.workspace = workspace
        if not principal.allows(permission, workspace):
            raise PermissionDenied(denied_message(principal, permission, workspace))
        return principal


def denied_message(principal: Principal, permission: Permission, workspace: str) -> str:
    """'user ann has role viewer in workspace default; this needs deploy (role deployer or
    above). An admin can grant it: loopml users grant ...'"""
    from loopml.security._principal import REQUIRED_ROLE

    need = REQUIRED_ROLE[permission].name.lower()
    role = principal.role_in(workspace)
    has = f"role {role.name.lower()}" if role else "no role"
    return (f"{principal.kind.value} {principal.subject!r} has {has} in workspace "
            f"{workspace!r}; this needs the {permission.value} permission (role {need} or "
            f"above). An admin can grant it: loopml users grant {principal.subject} "
            f"--workspace {workspace} --role {need}.")


def principal_of(request: Request) -> Principal:
    """The principal ``route()`` stored on the request (ANONYMOUS if none was)."""
    return getattr(request.state, "principal", ANONYMOUS)


class PermissionedRoute(Route):
    permission: Permission
    # The entities the route addresses by id or name (security/entity_scope.Addresses),
    # checked in their own workspace; () for routes that address none.
    entity: tuple[Any, ...] = ()


def route(
    path: str,
    endpoint: Handler,
    methods: Sequence[str],
    permission: Permission,
    auth: Authenticator,
    cookie_auth: bool = False,
    on_denied: Callable[[Request, Exception], Response] | None = None,
) -> PermissionedRoute:
    """A Starlette route that authenticates, checks ``permission`` in the request's
    workspace, then runs ``endpoint`` (loopml errors become JSON error bodies)."""
    inner = guarded(endpoint)

    async def checked(request: Request) -> Response:
        try:
            if permission is not Permission.PUBLIC and auth.may_block(
                    request.headers, request.cookies if cookie_auth else None):
                # A JWKS fetch is blocking HTTP: never on the event loop (one thread hop,
                # only for a JWT not seen before while a key fetch is due).
                principal = await run_in_threadpool(auth.check, request, permission,
                                                    cookie_auth)
            else:
                principal = auth.check(request, permission, cookie=cookie_auth)
        except (Unauthenticated, PermissionDenied) as e:
            return on_denied(request, e) if on_denied else error_response(e)
        # Events and loop audit entries the handler writes carry the caller (actor.py).
        token = _ACTOR.set((principal.subject, principal.kind.value))
        try:
            return await inner(request)
        finally:
            _ACTOR.reset(token)

    r = PermissionedRoute(path, checked, methods=list(methods))
    r.permission = permission
    return r
