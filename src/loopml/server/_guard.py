"""``HttpGuard``: the DNS-rebinding and cross-site request checks in front of both servers.

A browser lets any page it shows send requests to ``127.0.0.1``: reads are stopped by the
same-origin policy, but (1) a page on ``attacker.example`` whose DNS name is rebound to
127.0.0.1 becomes same-origin with the server, and (2) "simple" cross-origin requests (a POST
with ``text/plain``, a form, or no content type) are sent without a CORS preflight. The
guard refuses both before any route runs, the way MLflow's security middleware does
(``mlflow/server/fastapi_security.py``, flags ``--allowed-hosts`` and
``--cors-allowed-origins``, same messages):

- **Host allow-list** (DNS rebinding, CVE-2023-43472 class): the ``Host`` header must name
  this server (localhost names, loopback addresses, the bound address, or what the operator
  allowed). A rebound page always sends its own DNS name, so it gets a 403.
- **Origin check** on POST/PUT/PATCH/DELETE (CSRF): a request whose ``Origin`` is neither
  this server's own origin nor allowed, or whose ``Sec-Fetch-Site`` is ``cross-site``, gets
  a 403.
- **No form content types** on POSTs outside the dashboard's form routes: ``text/plain``,
  ``application/x-www-form-urlencoded`` and ``multipart/form-data`` are what a page can send
  without a preflight, so the APIs refuse them (400). JSON routes check the rest
  (``_http.read_json``: a body must be ``application/json``). PUT, PATCH and DELETE always
  need a preflight, which is granted only to origins the operator allowed, so artifact
  uploads keep any type.
- **CORS for allowed origins** (``--cors-allowed-origins``): their preflights are answered
  and their responses carry ``Access-Control-Allow-Origin``, so a trusted web app can use
  the API with a bearer token. Nothing is added for anyone else.

Pure ASGI, one pass over the request headers and a few set/dict lookups per request (host
decisions are cached), so the hot paths do not pay a BaseHTTPMiddleware task or a regex.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("loopml.server")

INVALID_HOST_MSG = "Invalid Host header - possible DNS rebinding attack detected"
CORS_BLOCKED_MSG = "Cross-origin request blocked"
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_BINDS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - names of wildcard binds
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The content types a page may send cross-origin without a CORS preflight (Fetch standard,
# "CORS-safelisted request-header").
SIMPLE_TYPES = frozenset({b"text/plain", b"application/x-www-form-urlencoded",
                          b"multipart/form-data"})
# In an allow-list, any private address literal (RFC 1918, RFC 4193), as MLflow allows on a
# wildcard bind: an IP literal in Host cannot come from DNS rebinding, which always sends the
# attacker's DNS name. Matched as an address, not a pattern: "10.*" would let a rebinding
# name like 10.attacker.example through.
PRIVATE_IPS = "<private-ip>"
_CACHE_MAX = 512
# Response headers an allowed origin's scripts may read (request ids, model version, backoff).
_EXPOSED = b"x-request-id, x-model-version, x-loopml-route, retry-after"

# (path, error code, message) -> response body
ErrorBody = Callable[[str, str, str], bytes]


def mlflow_error_body(path: str, code: str, message: str) -> bytes:
    """MLflow's error shape: ``{"error_code", "message"}``."""
    return orjson.dumps({"error_code": code, "message": message})


def split_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a, b"`` or ``["a", "b,c"]`` -> ``("a", "b", "c")`` (flags and env vars alike)."""
    if value is None:
        return ()
    parts = [value] if isinstance(value, str) else list(value)
    return tuple(p.strip() for part in parts for p in part.split(",") if p.strip())


def _bracket(host: str) -> str:
    """An IPv6 address as it appears in a Host header: ``[::1]``."""
    if ":" in host and not host.startswith("["):
        try:
            ipaddress.IPv6Address(host)
            return f"[{host}]"
        except ValueError:
            pass
    return host


def default_allowed_hosts(bind_host: str = "127.0.0.1") -> tuple[str, ...]:
    """Localhost names, loopback addresses and the bound address; on a wildcard bind also
    this machine's names and private addresses (what a LAN client types)."""
    hosts = [*LOCAL_NAMES]
    if bind_host.strip("[]") in ("0.0.0.0", "::", ""):  # noqa: S104
        for name in {socket.gethostname(), socket.getfqdn()}:
            if name:
                hosts.append(name.lower())
        hosts.append(PRIVATE_IPS)
    else:
        hosts.append(_bracket(bind_host.lower()))
    return tuple(dict.fromkeys(hosts))


@dataclass(frozen=True)
class GuardPolicy:
    """What the guard lets through.

    ``allowed_hosts``: Host header values, each ``name`` (any port), ``name:port``, an
    fnmatch pattern (``*.corp.example``) or ``<private-ip>`` (any private address literal);
    ``"*"`` turns the check off. ``allowed_origins``:
    origins besides the server's own that may send state-changing requests
    (``https://app.example``, patterns allowed; ``"*"`` allows every origin).
    ``exempt_paths``: probes answered whatever the Host (a kubelet calls the pod IP).
    ``form_prefixes``: paths whose POSTs are HTML forms protected by a CSRF token.
    """

    allowed_hosts: tuple[str, ...] = field(default_factory=default_allowed_hosts)
    allowed_origins: tuple[str, ...] = ()
    exempt_paths: frozenset[str] = frozenset({"/health", "/version"})
    form_prefixes: tuple[str, ...] = ()
    error_body: ErrorBody = mlflow_error_body

    @classmethod
    def for_bind(cls, bind_host: str, allowed_hosts: Iterable[str] | str | None = None,
                 allowed_origins: Iterable[str] | str | None = None, **kw: object) -> GuardPolicy:
        """The policy of a server bound to ``bind_host``: the given hosts, or the defaults
        (``default_allowed_hosts``) when none are given."""
        hosts = split_list(allowed_hosts) or default_allowed_hosts(bind_host)
        return cls(hosts, split_list(allowed_origins), **kw)  # type: ignore[arg-type]


class _HostMatcher:
    """Host header -> allowed?, with exact names in a set and decisions cached per value."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.any = "*" in allowed
        self.private_ips = PRIVATE_IPS in allowed
        self.names = {a.lower() for a in allowed if "*" not in a and a != PRIVATE_IPS}
        self.patterns = [a.lower() for a in allowed if "*" in a]
        self.cache: dict[bytes, bool] = {}

    def __call__(self, raw: bytes) -> bool:
        ok = self.cache.get(raw)
        if ok is None:
            ok = self._decide(raw.decode("latin-1").strip().lower())
            if len(self.cache) < _CACHE_MAX:  # a flood of random names is not remembered
                self.cache[raw] = ok
        return ok

    def _decide(self, host: str) -> bool:
        if not host:
            return False
        if host in self.names:
            return True
        name = host.rsplit(":", 1)[0] if host.rfind(":") > host.rfind("]") else host
        if name in self.names:
            return True
        if self.private_ips and _is_private_ip(name):
            return True
        return any(fnmatch.fnmatchcase(host, p) or fnmatch.fnmatchcase(name, p)
                   for p in self.patterns)


def _is_private_ip(name: str) -> bool:
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return ip.is_private and not ip.is_unspecified


class HttpGuard:
    """ASGI middleware enforcing a ``GuardPolicy`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy
        self.host_ok = _HostMatcher(policy.allowed_hosts)
        self.any_origin = "*" in policy.allowed_origins
        self.origins = {o.lower().rstrip("/") for o in policy.allowed_origins if "*" not in o}
        self.origin_patterns = [o.lower() for o in policy.allowed_origins if "*" in o]
        self.cors = bool(policy.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # one C-speed pass; ASGI names are lower-case
        host = headers.get(b"host", b"")
        path: str = scope["path"]
        if not self.host_ok.any and not self.host_ok(host) and path not in \
                self.policy.exempt_paths:
            log.warning("Refused a request with Host %r (allowed: %s)", host.decode("latin-1"),
                        ", ".join(self.policy.allowed_hosts))
            await self._refuse(send, path, 403, "PERMISSION_DENIED",
                               f"{INVALID_HOST_MSG}: {host.decode('latin-1')!r} is not an "
                               "allowed host. Add it with --allowed-hosts (or "
                               "LOOPML_ALLOWED_HOSTS).")
            return
        if self.cors and b"origin" in headers:  # only when the operator allowed origins
            allowed = self._cors_origin(headers[b"origin"], host)
            if allowed and scope["method"] == "OPTIONS" and \
                    b"access-control-request-method" in headers:
                await self._preflight(send, allowed, headers)
                return
            if allowed:
                send = self._with_cors(send, allowed)
        if scope["method"] in STATE_CHANGING:
            origin = headers.get(b"origin", b"")
            ctype = headers.get(b"content-type", b"")
            problem = self._cross_site(host, origin, headers.get(b"sec-fetch-site", b""))
            if problem:
                log.warning("Blocked a cross-origin %s %s from %r", scope["method"], path,
                            origin.decode("latin-1"))
                await self._refuse(send, path, 403, "PERMISSION_DENIED",
                                   f"{CORS_BLOCKED_MSG}: {problem}. Allow a trusted origin with "
                                   "--cors-allowed-origins (or LOOPML_CORS_ALLOWED_ORIGINS).")
                return
            # Only POST can be a "simple" request: PUT/PATCH/DELETE are always preflighted, and
            # the mlflow client PUTs artifacts with their guessed type (text/plain for .txt).
            if scope["method"] == "POST" and ctype and \
                    ctype.split(b";", 1)[0].strip().lower() in SIMPLE_TYPES and \
                    not path.startswith(self.policy.form_prefixes):
                await self._refuse(send, path, 400, "INVALID_PARAMETER_VALUE",
                                   f"Content-Type {ctype.decode('latin-1')!r} is not accepted "
                                   f"on {scope['method']} {path}: send application/json.")
                return
        await self.app(scope, receive, send)

    def _cross_site(self, host: bytes, origin: bytes, site: bytes) -> str | None:
        """Why a state-changing request is cross-site, or None when it is not."""
        if self.any_origin:
            return None
        if origin:
            o = origin.decode("latin-1").strip().lower()
            if o.partition("://")[2] == host.decode("latin-1").strip().lower():
                return None  # same origin (scheme aside: a TLS proxy may sit in front)
            if self._allowed_origin(o):
                return None
            return f"origin {o!r} is not this server's origin nor an allowed one"
        if site == b"cross-site":
            return "the browser marked it Sec-Fetch-Site: cross-site"
        return None

    def _allowed_origin(self, origin: str) -> bool:
        return origin in self.origins or any(fnmatch.fnmatchcase(origin, p)
                                             for p in self.origin_patterns)

    def _cors_origin(self, origin: bytes, host: bytes) -> bytes | None:
        """``origin`` when it is an allowed foreign origin (it then gets CORS headers)."""
        o = origin.decode("latin-1").strip().lower()
        if o.partition("://")[2] == host.decode("latin-1").strip().lower():
            return None  # same origin: a browser needs no CORS headers
        return origin if self.any_origin or self._allowed_origin(o) else None

    async def _preflight(self, send: Send, origin: bytes, headers: dict[bytes, bytes]) -> None:
        """Answer a CORS preflight from an allowed origin. No credentials mode: API clients
        send a bearer token, and the dashboard's cookie is never accepted cross-origin."""
        await send({"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-origin", origin), (b"vary", b"Origin"),
            (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE"),
            (b"access-control-allow-headers",
             headers.get(b"access-control-request-headers", b"content-type, authorization")),
            (b"access-control-max-age", b"600")]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _with_cors(send: Send, origin: bytes) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"access-control-allow-origin", origin),
                                      (b"access-control-expose-headers", _EXPOSED),
                                      (b"vary", b"Origin")]
            await send(message)
        return wrapped

    async def _refuse(self, send: Send, path: str, status: int, code: str, message: str) -> None:
        body = self.policy.error_body(path, code, message)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
