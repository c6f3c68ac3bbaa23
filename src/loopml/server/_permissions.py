"""Every route declares a permission. ``route()`` is the only way routes are made, and a test
walks the app to prove none lacks one."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.errors import PermissionDenied, ServiceUnavailable, Unauthenticated
from loopml.security import CredentialVerifier, Permission
from loopml.server._http import Handler, error_response, guarded

TOKEN_COOKIE = "loopml_token"  # noqa: S105 - the cookie's name, not a secret


class Authenticator:
    """Bearer token and/or HTTP basic credentials. With neither configured, all requests pass
    (the server then refuses to bind a non-loopback address unless --insecure)."""

    def __init__(self, token: str | None = None, basic: tuple[str, str] | None = None,
                 verifiers: Sequence[CredentialVerifier] = ()) -> None:
        self.token = token
        self.basic = basic
        # Extra credential kinds (the OIDC JWT verifier), tried before the shared token.
        self.verifiers = list(verifiers)

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.basic or self.verifiers)

    def _verified(self, request: Request, permission: Permission, header: str) -> bool:
        """OIDC hook (issue 16 part B): the first verifier that recognises the credential
        decides; its principal lands on ``request.state.principal`` for the audit trail.
        Until role enforcement lands in security/, a principal needs its role in the
        ``default`` workspace."""
        scheme, _, cred = header.partition(" ")
        for v in self.verifiers:
            principal = v.verify(scheme.lower(), cred.strip())
            if principal is None:
                continue
            request.state.principal = principal
            if not principal.allows(permission, "default"):
                raise PermissionDenied(f"{principal.subject!r} ({principal.via}) has no role "
                                       f"granting {permission.value} in workspace 'default'.")
            return True
        return False

    def check(self, request: Request, permission: Permission, cookie: bool = False) -> None:
        """``cookie``: also accept the token from the dashboard's login cookie (only on
        dashboard routes, whose forms carry CSRF tokens; never on the JSON API)."""
        if permission is Permission.PUBLIC or not self.enabled:
            return
        header = request.headers.get("authorization", "")
        if not header and cookie and request.cookies.get(TOKEN_COOKIE):
            header = f"Bearer {request.cookies[TOKEN_COOKIE]}"
        if self.verifiers and header and self._verified(request, permission, header):
            return
        scheme, _, cred = header.partition(" ")
        if self.token and scheme.lower() == "bearer" and hmac.compare_digest(
            cred.strip().encode(), self.token.encode()
        ):
            return
        if self.basic and scheme.lower() == "basic":
            try:
                user, _, pwd = base64.b64decode(cred.strip()).decode().partition(":")
            except Exception:
                raise Unauthenticated("Malformed basic credentials.") from None
            ok_user = hmac.compare_digest(user.encode(), self.basic[0].encode())
            ok_pwd = hmac.compare_digest(pwd.encode(), self.basic[1].encode())
            if ok_user and ok_pwd:
                return
            raise PermissionDenied("Wrong username or password.")
        raise Unauthenticated(
            "Authentication required: send 'Authorization: Bearer <token>' (MLFLOW_TRACKING_TOKEN"
            " for the mlflow client) or basic credentials (MLFLOW_TRACKING_USERNAME/PASSWORD)."
        )


class PermissionedRoute(Route):
    permission: Permission


def route(
    path: str,
    endpoint: Handler,
    methods: Sequence[str],
    permission: Permission,
    auth: Authenticator,
    cookie_auth: bool = False,
    on_denied: Callable[[Request, Exception], Response] | None = None,
) -> PermissionedRoute:
    inner = guarded(endpoint)

    async def checked(request: Request) -> Response:
        try:
            auth.check(request, permission, cookie=cookie_auth)
        except (Unauthenticated, PermissionDenied, ServiceUnavailable) as e:
            return on_denied(request, e) if on_denied else error_response(e)
        return await inner(request)

    r = PermissionedRoute(path, checked, methods=list(methods))
    r.permission = permission
    return r
