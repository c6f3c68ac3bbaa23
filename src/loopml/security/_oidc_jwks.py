"""The identity provider's metadata and signing keys: OpenID Connect Discovery 1.0
(``{issuer}/.well-known/openid-configuration``) and its JWKS (RFC 7517), parsed by PyJWT.

Keys are fetched once and kept. The fetches are blocking HTTP: servers call the verifier
off the event loop whenever ``may_fetch`` says a check could make one (``route()`` in
``security/_http.py``); cached tokens and kept keys are checked on the loop. A token signed by a key not in the set (an unknown ``kid``,
or a kid-less token no kept key verifies) makes the set be fetched again, so a provider that
rotates its keys is followed without a restart. Refetches are rate limited
(``min_refetch_s``): a flood of tokens naming made-up kids costs the provider at most one
request per interval, never one per token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from loopml.errors import ServiceUnavailable, Unauthenticated


@dataclass(frozen=True)
class ProviderMetadata:
    """The discovery document's fields loopml uses (OpenID Connect Discovery 1.0 §3)."""

    issuer: str
    jwks_uri: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    end_session_endpoint: str | None = None


def _get_json(client: httpx.Client, url: str, what: str) -> dict[str, Any]:
    try:
        resp = client.get(url)
        resp.raise_for_status()
        body = resp.json()
    except (httpx.HTTPError, ValueError) as e:
        # The provider being down is not the caller's fault: 503, and the next request retries.
        raise ServiceUnavailable(f"Could not read the OIDC provider's {what} at {url}: {e}. "
                                 "Check that the issuer is reachable from this server.") from None
    if not isinstance(body, dict):
        raise ServiceUnavailable(f"The OIDC provider's {what} at {url} is not a JSON object.")
    return body


def discover(client: httpx.Client, issuer: str) -> ProviderMetadata:
    """The provider's metadata. Raises ``ServiceUnavailable`` when it cannot be read or its
    ``issuer`` is not ``issuer`` (Discovery §4.3: they must be identical)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    doc = _get_json(client, url, "discovery document")
    if str(doc.get("issuer", "")).rstrip("/") != issuer.rstrip("/") or "jwks_uri" not in doc:
        raise ServiceUnavailable(f"The discovery document at {url} names issuer "
                                 f"{doc.get('issuer')!r} (expected {issuer!r}) or lacks jwks_uri.")
    return ProviderMetadata(
        issuer=str(doc["issuer"]), jwks_uri=str(doc["jwks_uri"]),
        authorization_endpoint=doc.get("authorization_endpoint"),
        token_endpoint=doc.get("token_endpoint"),
        end_session_endpoint=doc.get("end_session_endpoint"))


class JwksCache:
    """The provider's signing keys, fetched lazily and refetched (rate limited) when a token
    names a key not in the set. Thread-safe: workers' threads share one set."""

    FAIL_COOLDOWN_S = 2.0

    def __init__(self, issuer: str, min_refetch_s: float = 60.0, timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.min_refetch_s = min_refetch_s
        self.clock = clock
        self.fetches = 0  # JWKS requests made (tests and metrics read it)
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._meta: ProviderMetadata | None = None
        self._keys: list[jwt.PyJWK] = []
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    @property
    def metadata(self) -> ProviderMetadata:
        with self._lock:
            if self._meta is None:
                self._meta = discover(self._client, self.issuer)
            return self._meta

    def _fetch(self) -> None:
        """Fetch the key set now (caller holds the lock). After a failure, calls within
        ``FAIL_COOLDOWN_S`` fail at once: a provider that is down must not make every
        request wait for a connect timeout."""
        now = self.clock()
        if self._failed_at is not None and now - self._failed_at < self.FAIL_COOLDOWN_S:
            raise ServiceUnavailable("The OIDC provider could not be reached a moment ago; "
                                     "retry shortly.")
        try:
            if self._meta is None:
                self._meta = discover(self._client, self.issuer)
            doc = _get_json(self._client, self._meta.jwks_uri, "JWKS")
        except ServiceUnavailable:
            self._failed_at = now
            raise
        self._failed_at = None
        self.fetches += 1
        self._fetched_at = self.clock()
        try:
            # Keys of types or algorithms PyJWT cannot use are skipped, not fatal: a provider
            # may publish encryption keys next to its signing keys.
            self._keys = [k for k in jwt.PyJWKSet.from_dict(doc).keys
                          if k.public_key_use in (None, "sig")]
        except jwt.PyJWKSetError as e:
            raise ServiceUnavailable(f"The OIDC provider's JWKS has no usable key: {e}") from None

    def keys(self, kid: str | None) -> list[jwt.PyJWK]:
        """The kept keys that may have signed a token with header ``kid`` (all when the
        token has none). Fetches the set on first use."""
        with self._lock:
            if self._fetched_at is None:
                self._fetch()
            return [k for k in self._keys if kid is None or k.key_id == kid]

    def may_fetch(self) -> bool:
        """Whether a verification now could make an HTTP request: the set was never
        fetched, or a refetch is allowed (``min_refetch_s`` has passed) and not in the
        failure cool-down. Lock-free (a stale answer only moves one check to a thread)."""
        if self._fetched_at is None:
            return self._failed_at is None or \
                self.clock() - self._failed_at >= self.FAIL_COOLDOWN_S
        return self.clock() - self._fetched_at >= self.min_refetch_s

    def refresh(self) -> bool:
        """Fetch the set again unless it was fetched less than ``min_refetch_s`` ago.
        True when it was fetched."""
        with self._lock:
            last = self._fetched_at
            if last is not None and self.clock() - last < self.min_refetch_s:
                return False
            self._fetch()
            return True

    def signing_keys(self, token: str) -> list[jwt.PyJWK]:
        """Candidate keys for ``token``: by its ``kid``; an unknown kid refetches the set
        (rate limited) once. Raises ``Unauthenticated`` when no key can be found."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError as e:
            raise Unauthenticated(f"Malformed JWT: {e}.") from None
        found = self.keys(kid)
        if not found and self.refresh():
            found = self.keys(kid)
        if not found:
            raise Unauthenticated(f"The JWT's signing key {kid!r} is not one of the issuer's "
                                  "keys (JWKS); get a new token from the provider.")
        return found

    def close(self) -> None:
        self._client.close()
