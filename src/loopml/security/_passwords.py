"""Password hashing for local users: argon2id (RFC 9106) through ``argon2-cffi``, with its
default parameters (64 MiB, 3 passes). Verification costs tens of milliseconds on purpose,
which is why ``PasswordVerifier`` caches a verified credential for a short time."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from loopml.errors import InvalidParameterValue

MIN_PASSWORD_LENGTH = 8
_HASHER = PasswordHasher()


def check_password_policy(password: str) -> None:
    """At least ``MIN_PASSWORD_LENGTH`` characters. Raises InvalidParameterValue."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidParameterValue(
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters; choose a longer one.")


def hash_password(password: str) -> str:
    """The PHC string (``$argon2id$v=19$m=...``) to store."""
    check_password_policy(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a mismatch or an unreadable hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
