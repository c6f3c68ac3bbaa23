"""Credential verifiers backed by the identity store: API tokens (``Bearer lml_...``) and
local passwords (``Basic``), each with a short TTL cache so that authentication stays off
the hot paths' cost (a token check is then a dict lookup; an argon2 check ~50 ms is paid
once per TTL per credential).

Revocation, role changes and deletion take effect within the TTL
(``TOKEN_CACHE_TTL_S``, default 30 s): that is the bound on how long a revoked token keeps
working in a process that verified it just before. ``Authenticator.invalidate()`` (called by
this server's own identity routes) clears the caches at once in that process.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence

from loopml.errors import PermissionDenied, ResourceDoesNotExist, Unauthenticated
from loopml.security._passwords import verify_password
from loopml.security._principal import (
    ALL_WORKSPACES,
    CredentialVerifier,
    IdentityKind,
    Principal,
    Role,
)
from loopml.security._tokens import parse_token, secret_matches
from loopml.store.identities_base import IdentityStore

TOKEN_CACHE_TTL_S = 30.0
_MAX_ENTRIES = 10_000


class _TTLCache:
    """key -> (principal, expires at) with a size bound (cleared whole when full: simple,
    and a flood of distinct valid credentials is not a realistic load)."""

    def __init__(self, ttl_s: float, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._d: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        hit = self._d.get(key)
        if hit is None or hit[1] <= self.clock():
            return None
        return hit[0]

    def put(self, key: str, p: Principal) -> None:
        with self._lock:
            if len(self._d) >= _MAX_ENTRIES:
                self._d.clear()
            self._d[key] = (p, self.clock() + self.ttl_s)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


class ApiTokenVerifier:
    """``Bearer lml_<id>_<secret>``: one primary-key read, a SHA-256 compare, then the owner's
    current roles (the token's role is capped by them at each verification)."""

    def __init__(self, store: IdentityStore, ttl_s: float = TOKEN_CACHE_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.cache = _TTLCache(ttl_s, clock)

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "bearer":
            return None
        parsed = parse_token(credentials)
        if parsed is None:
            return None
        key = hashlib.sha256(credentials.encode()).hexdigest()
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        p = self._check(parsed[0], credentials)
        self.cache.put(key, p)
        return p

    def _check(self, token_id: str, token: str) -> Principal:
        bad = Unauthenticated(f"API token {token_id} is unknown, revoked or expired; create a "
                              "new one with `loopml tokens create`.")
        try:
            rec = self.store.get_token(token_id)
            owner = self.store.get_identity(rec.owner)
        except ResourceDoesNotExist:
            raise bad from None
        if not secret_matches(token, rec.secret_hash) or not rec.active(int(time.time() * 1000)):
            raise bad
        has = Principal(owner.name, owner.kind, owner.roles).role_in(rec.workspace) \
            if rec.workspace != ALL_WORKSPACES else owner.roles.get(ALL_WORKSPACES)
        roles: dict[str, Role] = {} if has is None else {rec.workspace: min(rec.role, has)}
        return Principal(owner.name, owner.kind, roles, via="token", token_id=rec.token_id)

    def invalidate(self) -> None:
        self.cache.clear()


class PasswordVerifier:
    """``Basic user:password`` for local users (what ``MLFLOW_TRACKING_USERNAME/PASSWORD``
    send). An unknown user is not this verifier's (None: the legacy basic pair may know
    it); a known user with a wrong password is a 403, as MLflow's basic-auth app answers.
    Verified credentials are cached keyed by SHA-256 of the header value, never the
    password itself."""

    def __init__(self, store: IdentityStore, ttl_s: float = TOKEN_CACHE_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.cache = _TTLCache(ttl_s, clock)

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "basic":
            return None
        key = hashlib.sha256(credentials.encode()).hexdigest()
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        from loopml.security._http import decode_basic

        user, password = decode_basic(credentials)
        try:
            ident = self.store.get_identity(user)
        except ResourceDoesNotExist:
            return None
        if ident.kind is not IdentityKind.USER or ident.password_hash is None:
            return None
        if not verify_password(ident.password_hash, password):
            raise PermissionDenied("Wrong username or password.")
        p = Principal(ident.name, ident.kind, dict(ident.roles), via="password")
        self.cache.put(key, p)
        return p

    def invalidate(self) -> None:
        self.cache.clear()


class RemoteVerifier:
    """Verifies any credential by asking a loopml control plane who it is
    (``GET /api/loopml/v1/whoami``): what ``loopml serve`` does when its tracking URI is a
    server, so model servers accept the users and tokens the control plane knows without
    holding its database. Results are cached like the local verifiers' (one round trip
    per credential per TTL); a 401/403 answer is this verifier's verdict (Unauthenticated)."""

    def __init__(self, url: str, ttl_s: float = TOKEN_CACHE_TTL_S, timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import httpx

        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s)
        self.cache = _TTLCache(ttl_s, clock)

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        if scheme not in ("bearer", "basic"):
            return None
        key = hashlib.sha256(f"{scheme} {credentials}".encode()).hexdigest()
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        r = self.http.get("/api/loopml/v1/whoami",
                          headers={"Authorization": f"{scheme} {credentials}"})
        if r.status_code in (401, 403):
            raise Unauthenticated(r.json().get("message", "Invalid credentials."))
        r.raise_for_status()
        d = r.json()
        if d["kind"] == IdentityKind.ANONYMOUS.value:
            return None  # the control plane has auth off or did not know the credential
        roles = {w: Role.parse(x) for w, x in d["roles"].items()}
        p = Principal(d["subject"], IdentityKind(d["kind"]), roles, via=d["via"],
                      token_id=d.get("token_id"))
        self.cache.put(key, p)
        return p

    def invalidate(self) -> None:
        self.cache.clear()


def serving_verifiers(tracking_uri: str | None) -> list[CredentialVerifier]:
    """The identity verifiers of a model server whose tracking URI is ``tracking_uri``: the
    control plane's ``whoami`` for ``http(s)://``, the identity tables for a database URI,
    none without one."""
    if not tracking_uri:
        return []
    if tracking_uri.startswith(("http://", "https://")):
        return [RemoteVerifier(tracking_uri)]
    from loopml.store import get_identity_store, get_store

    return build_verifiers(get_identity_store(get_store(tracking_uri)))


def build_verifiers(store: IdentityStore | None,
                    jwt: Sequence[CredentialVerifier] = (),
                    ttl_s: float = TOKEN_CACHE_TTL_S) -> list[CredentialVerifier]:
    """The chain in its fixed order: API tokens, dashboard password sessions, OIDC JWTs
    (``jwt``), passwords. The legacy shared credential is appended by ``Authenticator``
    itself, last."""
    if store is None:
        return list(jwt)
    from loopml.security._sessions import SessionVerifier

    return [ApiTokenVerifier(store, ttl_s), SessionVerifier(store), *jwt,
            PasswordVerifier(store, ttl_s)]
