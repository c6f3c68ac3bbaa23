"""Dashboard sign-in: attempts limited per client with exponential backoff, the session
cookie's attributes (HttpOnly, SameSite=Strict, Max-Age, Secure over TLS), password
sessions, and the workspace switcher's cookie.

The limiter is in memory, per process: with ``--workers N`` each worker counts on its own,
so a client gets at most N times the attempts. That still turns guessing a token into years;
a shared limit would need a shared store, which the dashboard does not otherwise need.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import InvalidParameterValue, LoopmlError, PermissionDenied
from loopml.security import TOKEN_COOKIE, IdentityKind


@dataclass
class _Client:
    failures: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


class LoginLimiter:
    """``free_after`` failed attempts are free; each further failure doubles the wait before
    the next attempt (1 s, 2 s, 4 s ... up to ``max_wait_s``). A success, or ``forget_s``
    without attempts, clears the client. At most ``max_clients`` are remembered (oldest
    dropped), so a flood of addresses cannot grow memory without bound."""

    def __init__(self, free_after: int = 5, max_wait_s: float = 900.0, forget_s: float = 3600.0,
                 max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_after = free_after
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.max_clients = max_clients
        self.clock = clock
        self.clients: OrderedDict[str, _Client] = OrderedDict()

    def wait_s(self, client: str) -> float:
        """Seconds this client must wait before its next attempt (0: it may try now)."""
        c = self.clients.get(client)
        if c is None:
            return 0.0
        now = self.clock()
        if now - c.last > self.forget_s:
            del self.clients[client]
            return 0.0
        return max(0.0, c.blocked_until - now)

    def failed(self, client: str) -> None:
        now = self.clock()
        c = self.clients.pop(client, None) or _Client()
        c.failures += 1
        c.last = now
        over = c.failures - self.free_after
        if over >= 0:
            c.blocked_until = now + min(self.max_wait_s, 2.0 ** over)
        self.clients[client] = c
        while len(self.clients) > self.max_clients:
            self.clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self.clients.pop(client, None)


def client_key(request: Request, trust_proxy: bool) -> str:
    """The address attempts are counted against: behind a trusted proxy the last
    X-Forwarded-For hop (the one the proxy appended; earlier ones the client may have
    written), else the peer address."""
    if trust_proxy:
        fwd = request.headers.get("x-forwarded-for", "")
        if fwd.strip():
            return fwd.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client else "unknown"


def is_tls(request: Request, trust_proxy: bool) -> bool:
    """Served over HTTPS: by uvicorn itself, or by a trusted proxy that says so."""
    if request.url.scheme == "https":
        return True
    return trust_proxy and request.headers.get("x-forwarded-proto", "").lower() == "https"


def set_session(resp: Response, request: Request, token: str, max_age_s: int,
                trust_proxy: bool) -> None:
    resp.set_cookie(TOKEN_COOKIE, token, max_age=max_age_s, httponly=True, samesite="strict",
                    secure=is_tls(request, trust_proxy))


def clear_session(resp: Response, request: Request, trust_proxy: bool) -> None:
    """Sign out: the session cookie and the workspace choice go (the next person at this
    browser starts in ``default``)."""
    from loopml.security.workspaces import WORKSPACE_COOKIE

    resp.delete_cookie(TOKEN_COOKIE, httponly=True, samesite="strict",
                       secure=is_tls(request, trust_proxy))
    resp.delete_cookie(WORKSPACE_COOKIE, httponly=True, samesite="lax",
                       secure=is_tls(request, trust_proxy))


def password_session(s: Any, username: str, password: str) -> str | None:
    """A signed session cookie value (``security._sessions``) when ``username`` is a local
    user and ``password`` theirs, else None (unknown user, no password, wrong password or
    no identity store: the caller counts it as a failed attempt)."""
    from loopml.security._passwords import verify_password
    from loopml.security._sessions import new_session

    if s.identities is None:
        return None
    try:
        ident = s.identities.get_identity(username)
    except LoopmlError:
        return None
    if (ident.kind is not IdentityKind.USER or ident.password_hash is None
            or not verify_password(ident.password_hash, password)):
        return None
    return new_session(ident, s.session_max_age_s)


def switchable(s: Any, request: Request, workspace: str) -> str:
    """``workspace`` when the caller may switch to it: a valid name, in the registry, and one
    the caller holds a role in. Raises ``InvalidParameterValue`` (400),
    ``Unauthenticated`` (401) or ``PermissionDenied`` (403) naming the problem."""
    from loopml.security.workspaces import check_workspace_name
    from loopml.ui._identity import all_workspaces

    name = check_workspace_name(workspace.strip())
    caller = s.auth.authenticate(request.headers, request.cookies)
    if name not in all_workspaces(s):
        raise InvalidParameterValue(
            f"Workspace {name!r} does not exist; an admin can create it with `loopml "
            f"workspaces create {name}`.")
    if caller.role_in(name) is None:
        raise PermissionDenied(
            f"{caller.kind.value} {caller.subject!r} has no role in workspace {name!r}; an "
            f"admin can grant one: loopml users grant {caller.subject} --workspace {name} "
            "--role viewer.")
    return name


def set_workspace_cookie(resp: Response, request: Request, workspace: str,
                         trust_proxy: bool) -> None:
    """The switcher's choice, read by ``workspaces.workspace_for`` on ``/ui`` paths. Lax
    rather than Strict so that a link into the dashboard keeps the workspace; it grants
    nothing by itself (the role check still applies in that workspace)."""
    from loopml.security.workspaces import WORKSPACE_COOKIE

    resp.set_cookie(WORKSPACE_COOKIE, workspace, httponly=True, samesite="lax",
                    secure=is_tls(request, trust_proxy))
