"""Dashboard sessions for local users who sign in with their password.

The session cookie must not hold the password, and a token would be scoped to one
workspace (the switcher changes workspaces). So the cookie holds a signed statement
``lms.<base64url(name)>.<expiry s>.<mac>`` where ``mac`` is HMAC-SHA256 keyed with the
user's stored argon2 hash (a server-side secret, salted per user). Nothing is stored: any
worker process verifies it, and changing the password (or deleting the user) ends every
session of that user at once. The principal carries ``via="password"``, so the signed-in
person may manage their own tokens as after a basic-auth sign-in. Expiry is the server's
``session_max_age_s``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable

from loopml.errors import ResourceDoesNotExist, Unauthenticated
from loopml.security._principal import IdentityKind, Principal
from loopml.store.identities_base import Identity, IdentityStore

PREFIX = "lms."


def _mac(password_hash: str, name: str, expires_s: int) -> str:
    msg = f"{name}.{expires_s}".encode()
    return hmac.new(password_hash.encode(), msg, hashlib.sha256).hexdigest()


def new_session(identity: Identity, max_age_s: int,
                clock: Callable[[], float] = time.time) -> str:
    """The cookie value for ``identity`` (a user with a password), valid ``max_age_s``
    seconds. Raises ``ValueError`` for an identity without a password."""
    if identity.password_hash is None:
        raise ValueError(f"{identity.name!r} has no password.")
    exp = int(clock()) + max_age_s
    name = base64.urlsafe_b64encode(identity.name.encode()).decode().rstrip("=")
    return f"{PREFIX}{name}.{exp}.{_mac(identity.password_hash, identity.name, exp)}"


class SessionVerifier:
    """``Bearer lms....`` (the dashboard's cookie after a password sign-in). Not its kind:
    None. Malformed, expired, or signed with an old password: ``Unauthenticated``."""

    def __init__(self, store: IdentityStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "bearer" or not credentials.startswith(PREFIX):
            return None
        bad = Unauthenticated("The dashboard session is invalid or has expired: sign in again.")
        try:
            b64, exp_s, mac = credentials[len(PREFIX):].split(".")
            name = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).decode()
            exp = int(exp_s)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise bad from None
        if exp < self.clock():
            raise bad
        try:
            ident = self.store.get_identity(name)
        except ResourceDoesNotExist:
            raise bad from None
        if (ident.kind is not IdentityKind.USER or ident.password_hash is None
                or not hmac.compare_digest(mac, _mac(ident.password_hash, name, exp))):
            raise bad
        return Principal(ident.name, ident.kind, dict(ident.roles), via="password")
