"""The dashboard's OIDC sign-in: the authorization-code flow (RFC 6749 §4.1) with PKCE
(RFC 7636, S256) and an OpenID Connect nonce, built on Authlib's helpers (code verifier,
S256 challenge, authorization URL, token request body) and httpx.

Between the redirect to the provider and its callback, ``state``, ``nonce``, the PKCE
verifier and the page to return to travel in one short-lived HttpOnly cookie (SameSite=Lax:
the callback is a top-level navigation from the provider's site, which a Strict cookie would
not follow). Nothing is kept in the server's memory, so any worker of ``--workers N`` can
take the callback. The callback accepts the code only when its ``state`` equals the
cookie's (login CSRF), sends the verifier with the code (an intercepted code is useless),
and accepts the ID token only when it verifies and carries the cookie's ``nonce`` (replay).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from loopml.errors import ServiceUnavailable, Unauthenticated
from loopml.security.oidc import JWTVerifier

FLOW_COOKIE = "loopml_oidc_flow"
FLOW_MAX_AGE_S = 600  # ten minutes to sign in at the provider
SCOPES = "openid profile email"


@dataclass(frozen=True)
class Flow:
    """One sign-in in progress (what the flow cookie holds)."""

    state: str
    nonce: str
    verifier: str
    next: str

    def cookie(self) -> str:
        # Tokens are alphanumeric (Authlib's generate_token); the page is percent-encoded:
        # the value needs no cookie quoting.
        return ".".join((self.state, self.nonce, self.verifier, quote(self.next, safe="")))

    @classmethod
    def from_cookie(cls, raw: str | None) -> Flow:
        """Raises ``Unauthenticated`` when the cookie is missing or not one loopml wrote."""
        parts = (raw or "").split(".")
        if len(parts) != 4 or not all(p.isalnum() for p in parts[:3]):
            raise Unauthenticated("This sign-in has expired or was started in another "
                                  "browser: start again at /ui/login.")
        return cls(parts[0], parts[1], parts[2], safe_next(unquote(parts[3])))


def safe_next(nxt: str | None) -> str:
    """Only dashboard pages: never an open redirect."""
    if not nxt or not nxt.startswith("/ui/") or nxt.startswith("//"):
        return "/ui/experiments"
    return nxt


def start(verifier: JWTVerifier, redirect_uri: str, nxt: str | None) -> tuple[str, Flow]:
    """(the provider's authorization URL, the flow to keep in the cookie)."""
    cfg = verifier.config
    if not cfg.client_id:
        raise Unauthenticated("OIDC sign-in needs oidc_client_id.")
    flow = Flow(generate_token(32), generate_token(32), generate_token(64), safe_next(nxt))
    endpoint = verifier.jwks.metadata.authorization_endpoint
    if not endpoint:
        raise ServiceUnavailable("The OIDC provider publishes no authorization_endpoint.")
    query = urlencode({
        "response_type": "code", "client_id": cfg.client_id, "redirect_uri": redirect_uri,
        "scope": SCOPES, "state": flow.state, "nonce": flow.nonce,
        "code_challenge": create_s256_code_challenge(flow.verifier),
        "code_challenge_method": "S256"})
    sep = "&" if "?" in endpoint else "?"
    return f"{endpoint}{sep}{query}", flow


def finish(verifier: JWTVerifier, flow: Flow, params: dict[str, str],
           redirect_uri: str) -> tuple[str, dict[str, Any]]:
    """Exchange the callback's code for tokens. Returns (the ID token, its verified claims).
    Raises ``Unauthenticated`` for a provider error, a state mismatch or a bad ID token."""
    if "error" in params:
        raise Unauthenticated(f"The provider refused the sign-in: {params['error']} "
                              f"{params.get('error_description', '')}".strip())
    state, code = params.get("state", ""), params.get("code", "")
    if not code or not hmac.compare_digest(state.encode(), flow.state.encode()):
        raise Unauthenticated("The sign-in's state does not match this browser's: start "
                              "again at /ui/login.")
    cfg = verifier.config
    endpoint = verifier.jwks.metadata.token_endpoint
    if not endpoint or not cfg.client_id:
        raise ServiceUnavailable("The OIDC provider publishes no token_endpoint.")
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": flow.verifier, "client_id": cfg.client_id}
    auth = (cfg.client_id, cfg.client_secret) if cfg.client_secret else None
    try:
        resp = httpx.post(endpoint, data=body, auth=auth, timeout=10)
    except httpx.HTTPError as e:
        raise ServiceUnavailable(f"Could not reach the OIDC token endpoint: {e}.") from None
    if resp.status_code != 200:
        raise Unauthenticated(f"The provider did not exchange the code ({resp.status_code}): "
                              f"{resp.text[:200]}")
    id_token = str(resp.json().get("id_token", ""))
    if not id_token:
        raise Unauthenticated("The provider's token response has no id_token (is the "
                              "'openid' scope allowed for this client?).")
    claims = verifier.decode(id_token, audience=cfg.client_id, nonce=flow.nonce)
    return id_token, claims
