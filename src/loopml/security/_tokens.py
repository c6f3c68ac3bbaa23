"""API token format: ``lml_<token_id>_<secret>``.

``token_id`` (16 hex characters) is public: it names the token in listings, audit records
and revocation, and makes lookup one primary-key read. ``secret`` (43 URL-safe characters,
256 bits from ``secrets``) is shown once; only its SHA-256 is stored. A fast hash is right
here (unlike passwords): the secret is random and long, so there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "lml_"
_ID_LEN = 16


def new_token() -> tuple[str, str]:
    """(token_id, the full token to hand to the caller once)."""
    token_id = secrets.token_hex(_ID_LEN // 2)
    return token_id, f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def parse_token(token: str) -> tuple[str, str] | None:
    """(token_id, secret) of a loopml API token, or None when ``token`` is not one."""
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX):].partition("_")
    if not sep or len(token_id) != _ID_LEN or not secret:
        return None
    return token_id, secret


def hash_secret(token: str) -> str:
    """SHA-256 (hex) of the secret part of a full token (the whole string if unparsable)."""
    parsed = parse_token(token)
    secret = parsed[1] if parsed else token
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(token), stored_hash)
