"""Dashboard sign-in: attempts limited per client with exponential backoff, and the session
cookie's attributes (HttpOnly, SameSite=Strict, Max-Age, Secure over TLS).

The limiter is in memory, per process: with ``--workers N`` each worker counts on its own,
so a client gets at most N times the attempts. That still turns guessing a token into years;
a shared limit would need a shared store, which the dashboard does not otherwise need.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from loopml.security import TOKEN_COOKIE


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
    resp.delete_cookie(TOKEN_COOKIE, httponly=True, samesite="strict",
                       secure=is_tls(request, trust_proxy))
