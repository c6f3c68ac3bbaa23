"""Every route declares a permission. ``route()`` is the only way routes are made, and a test
walks the app to prove none lacks one."""

from __future__ import annotations

import base64
import enum
import hmac
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.errors import PermissionDenied, Unauthenticated
from loopml.server._http import Handler, error_response, guarded


class Permission(enum.Enum):
    PUBLIC = "public"  # health and version probes: no credentials needed
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class Authenticator:
    """Bearer token and/or HTTP basic credentials. With neither configured, all requests pass
    (the server then refuses to bind a non-loopback address unless --insecure)."""

    def __init__(self, token: str | None = None, basic: tuple[str, str] | None = None) -> None:
        self.token = token
        self.basic = basic

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.basic)

    def check(self, request: Request, permission: Permission) -> None:
        if permission is Permission.PUBLIC or not self.enabled:
            return
        header = request.headers.get("authorization", "")
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
) -> PermissionedRoute:
    inner = guarded(endpoint)

    async def checked(request: Request) -> Response:
        try:
            auth.check(request, permission)
        except (Unauthenticated, PermissionDenied) as e:
            return error_response(e)
        return await inner(request)

    r = PermissionedRoute(path, checked, methods=list(methods))
    r.permission = permission
    return r
