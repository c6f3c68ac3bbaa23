"""OpenID Connect: JWT bearer tokens issued by an OIDC provider (Keycloak, Entra ID, Okta,
Dex, ...) accepted by loopml's APIs, and the claim -> role/workspace mapping.

``JWTVerifier`` is a ``CredentialVerifier`` (see ``security/_principal.py``). It takes an
``Authorization: Bearer <JWT>`` header, recognises a JWT by its shape (three base64url
segments, the first a JSON header) and returns ``None`` for any other bearer token, so
loopml's own API tokens are tried next. A JWT is verified with PyJWT (RFC 7519) against
the issuer's JWKS (``_oidc_jwks.py``): signature with an allow-listed algorithm (RS256 and
ES256 by default; ``none`` and HMAC are never accepted, so a public key can never be used
as an HMAC secret), issuer, audience, expiry and not-before with a small leeway. Verified
tokens are cached until they expire (bounded), so the hot paths pay one dict lookup.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from pydantic import field_validator

from loopml._config import config_model, load_file
from loopml.errors import InvalidConfig, Unauthenticated
from loopml.security._oidc_jwks import JwksCache
from loopml.security._principal import IdentityKind, Principal, Role

__all__ = ["DEFAULT_ALGORITHMS", "SAFE_ALGORITHMS", "ClaimMapping", "ClaimRule", "JWTVerifier",
           "OidcConfig", "config_from_settings", "is_service_account", "load_claim_mapping",
           "looks_like_jwt"]

# Asymmetric algorithms only: accepting HS* would let anyone holding the (public) JWKS
# forge tokens, and "none" is no signature at all.
SAFE_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "ES256", "ES384", "ES512", "EdDSA"})
DEFAULT_ALGORITHMS = ("RS256", "ES256")


@config_model(frozen=True)
class ClaimRule:
    """Tokens whose mapping claim holds ``value`` get ``role`` in ``workspace`` (``"*"``:
    every workspace)."""

    value: str
    role: str
    workspace: str = "default"

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        Role.parse(v)  # raises ValueError naming the valid roles
        return v


@config_model(frozen=True)
class ClaimMapping:
    """How a token's claims become roles. ``claim``: the claim read (a string or a list of
    strings; a dotted path such as ``realm_access.roles`` reaches into Keycloak's nested
    claims). Every matching rule grants its role (the highest wins per workspace).
    ``default_role``/``default_workspace``: granted when no rule matches; ``default_role``
    null means such tokens get no role (every route but the public ones answers 403).
    ``subject_claim``: the claim naming the caller in audit records."""

    claim: str = "groups"
    rules: tuple[ClaimRule, ...] = ()
    default_role: str | None = None
    default_workspace: str = "default"
    subject_claim: str = "sub"

    @field_validator("default_role")
    @classmethod
    def _role(cls, v: str | None) -> str | None:
        if v is not None:
            Role.parse(v)
        return v

    def roles_for(self, claims: Mapping[str, Any]) -> dict[str, Role]:
        """``{workspace: role}`` for a verified token's ``claims``."""
        values = _claim_values(claims, self.claim)
        roles: dict[str, Role] = {}
        for rule in self.rules:
            if rule.value in values:
                role = Role.parse(rule.role)
                roles[rule.workspace] = max(role, roles.get(rule.workspace, role))
        if not roles and self.default_role is not None:
            roles[self.default_workspace] = Role.parse(self.default_role)
        return roles


def _claim_values(claims: Mapping[str, Any], path: str) -> set[str]:
    node: Any = claims
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if isinstance(node, str):
        return {node}
    if isinstance(node, list | tuple):
        return {str(v) for v in node}
    return set()


def load_claim_mapping(path: str | Path) -> ClaimMapping:
    """A claim mapping from a YAML file. Raises ``InvalidConfig`` naming the key."""
    return load_file(path, ClaimMapping)


@dataclass(frozen=True)
class OidcConfig:
    """What the verifier checks. ``audience``: the ``aud`` value tokens must carry (the
    client id for ID tokens; the API's audience for access tokens)."""

    issuer: str
    audience: str
    client_id: str | None = None  # also accepted as 'aud': the dashboard session's ID token
    client_secret: str | None = None
    mapping: ClaimMapping = field(default_factory=ClaimMapping)
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    leeway_s: float = 30.0
    jwks_min_refetch_s: float = 60.0
    cache_size: int = 10_000

    def __post_init__(self) -> None:
        unsafe = sorted(set(self.algorithms) - SAFE_ALGORITHMS)
        if unsafe or not self.algorithms:
            raise InvalidConfig(f"OIDC algorithms {unsafe or '[]'} are not allowed; use "
                                f"asymmetric ones such as {list(DEFAULT_ALGORITHMS)}.")


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url segments whose first decodes to a JSON object with
    ``alg``: cheap enough to run before every other bearer verifier."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].startswith("eyJ"):  # base64url of '{"'
        return False
    try:
        head = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
    except ValueError:
        return False
    return head.lstrip().startswith(b"{") and b'"alg"' in head


def is_service_account(claims: Mapping[str, Any]) -> bool:
    """A client-credentials token: the subject is the client itself (``azp``/``client_id``
    equal to ``sub``), Auth0's ``gty``, or Keycloak's ``service-account-`` user."""
    sub = claims.get("sub")
    return (claims.get("gty") == "client-credentials"
            or (sub is not None and sub in (claims.get("azp"), claims.get("client_id")))
            or str(claims.get("preferred_username", "")).startswith("service-account-"))


class JWTVerifier:
    """Verifies provider-issued JWT bearer tokens (see the module docstring). ``verify``
    returns None for a non-JWT credential, a ``Principal(via="oidc")`` for a valid one and
    raises ``Unauthenticated`` (401) naming the failed check otherwise; a provider that
    cannot be reached raises ``ServiceUnavailable`` (503)."""

    def __init__(self, config: OidcConfig, jwks: JwksCache | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.jwks = jwks or JwksCache(config.issuer, config.jwks_min_refetch_s)
        self.clock = clock
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def audiences(self) -> list[str]:
        c = self.config
        return [c.audience] + ([c.client_id] if c.client_id and c.client_id != c.audience else [])

    def may_block(self, scheme: str, credentials: str) -> bool:
        """Whether ``verify`` of this credential could do blocking I/O (fetch the JWKS or
        the discovery document): only a JWT not verified before, while a fetch is due or
        allowed. The servers then verify it in a worker thread, never on the event loop."""
        if scheme != "bearer" or not looks_like_jwt(credentials):
            return False
        key = hashlib.sha256(credentials.encode()).hexdigest()
        hit = self._cache.get(key)  # a read of a dict: no lock needed
        if hit is not None and hit[1] > self.clock():
            return False
        return self.jwks.may_fetch()

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "bearer" or not looks_like_jwt(credentials):
            return None
        key = hashlib.sha256(credentials.encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[1] > self.clock():
                self._cache.move_to_end(key)
                return hit[0]
        claims = self.decode(credentials)
        principal = self.principal(claims)
        with self._lock:
            self._cache[key] = (principal, float(claims["exp"]))
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return principal

    def decode(self, token: str, audience: str | None = None,
               nonce: str | None = None) -> dict[str, Any]:
        """The token's verified claims. A signature no kept key verifies refetches the
        JWKS once (rate limited), which is how a key rotation is followed. ``nonce``: the
        ID token's ``nonce`` must equal it (the sign-in flow)."""
        keys = self.jwks.signing_keys(token)
        bad_signature = Unauthenticated("The JWT's signature does not verify with the "
                                        "issuer's keys.")
        try:
            claims = self._decode_with(keys, token, audience)
        except jwt.InvalidSignatureError:
            if not self.jwks.refresh():
                raise bad_signature from None
            try:
                claims = self._decode_with(self.jwks.signing_keys(token), token, audience)
            except jwt.InvalidSignatureError:
                raise bad_signature from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise Unauthenticated("The ID token's nonce does not match this sign-in.")
        return claims

    def _decode_with(self, keys: list[jwt.PyJWK], token: str,
                     audience: str | None) -> dict[str, Any]:
        last: jwt.InvalidSignatureError | None = None
        for k in keys:
            try:
                return jwt.decode(
                    token, k, algorithms=list(self.config.algorithms),
                    audience=audience or self.audiences, issuer=self.config.issuer,
                    leeway=self.config.leeway_s,
                    options={"require": ["exp", "iss", "aud", "sub"]})
            except jwt.InvalidSignatureError as e:
                last = e  # another key of a kid-less set may still verify it
            except jwt.ExpiredSignatureError:
                raise Unauthenticated("The JWT has expired; get a new token from the "
                                      "provider.") from None
            except jwt.InvalidAudienceError:
                raise Unauthenticated(f"The JWT's audience is not {self.audiences}: "
                                      "it was issued for another client.") from None
            except jwt.InvalidIssuerError:
                raise Unauthenticated(f"The JWT was not issued by {self.config.issuer!r}.") \
                    from None
            except jwt.InvalidAlgorithmError:
                raise Unauthenticated("The JWT's algorithm is not allowed (allowed: "
                                      f"{', '.join(self.config.algorithms)}).") from None
            except jwt.PyJWTError as e:
                raise Unauthenticated(f"Invalid JWT: {e}.") from None
        assert last is not None  # signing_keys never returns an empty list
        raise last

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The caller a verified token's ``claims`` describe."""
        m = self.config.mapping
        subject = str(claims.get(m.subject_claim) or claims["sub"])
        kind = IdentityKind.SERVICE_ACCOUNT if is_service_account(claims) else IdentityKind.USER
        return Principal(subject, kind, m.roles_for(claims), via="oidc",
                         token_id=str(claims["jti"]) if claims.get("jti") else None)


def config_from_settings(settings: Any) -> OidcConfig | None:
    """The verifier's config from ``loopml.config.Settings`` (None when OIDC is off).
    ``Settings`` has already refused a half configuration."""
    if not settings.oidc_issuer:
        return None
    secret = None
    if settings.oidc_client_secret_file:
        secret = Path(settings.oidc_client_secret_file).expanduser().read_text().strip()
    mapping = (load_claim_mapping(settings.oidc_claim_mapping_file)
               if settings.oidc_claim_mapping_file else ClaimMapping())
    return OidcConfig(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience or settings.oidc_client_id,
        client_id=settings.oidc_client_id, client_secret=secret,
        mapping=mapping, leeway_s=settings.oidc_leeway_s,
        jwks_min_refetch_s=settings.oidc_jwks_min_refetch_s)
