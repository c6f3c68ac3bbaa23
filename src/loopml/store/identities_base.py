"""The identity store interface: users, service accounts, their role bindings per workspace,
and API token records (hashes only; the secrets themselves are never stored).

Backends: ``identities_sql.py`` (the tracking database). The policy on top (who may issue
what, password hashing, token format) lives in ``loopml.security._identities``; this layer
only keeps records, so every backend behaves the same. ``loopml.testing.identity_contract``
is the contract every backend passes.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field

from loopml.errors import InvalidParameterValue
from loopml.security._principal import IdentityKind, Role

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,254}$")


def validate_name(name: str) -> str:
    """A user or service-account name: letters, digits and ``_ . @ + -`` (an e-mail address
    fits), at most 255 characters. Raises InvalidParameterValue."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterValue(
            f"Invalid identity name {name!r}: use letters, digits, '_', '.', '@', '+', '-' "
            "(at most 255 characters, starting with a letter or digit).")
    return name


def validate_workspace(workspace: str) -> str:
    """A workspace name, or ``*`` for every workspace: the one naming rule of
    ``security.workspaces`` (a role bound to a name no workspace could ever have would grant
    nothing). Raises InvalidParameterValue."""
    from loopml.security.workspaces import check_workspace_name

    return check_workspace_name(workspace, all_ok=True)


@dataclass(frozen=True)
class Identity:
    """A user or service account. ``roles``: workspace (or ``*``) -> role."""

    identity_id: int
    name: str
    kind: IdentityKind
    password_hash: str | None = None
    description: str = ""
    created_time: int = 0
    roles: dict[str, Role] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe, without the password hash."""
        return {"id": self.identity_id, "name": self.name, "kind": self.kind.value,
                "description": self.description, "created_time": self.created_time,
                "has_password": self.password_hash is not None,
                "roles": {ws: r.name.lower() for ws, r in sorted(self.roles.items())}}


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: ``secret_hash`` is sha256 of the secret part (hex). Times in
    ms since the epoch; ``expires_time`` None = no expiry."""

    token_id: str
    owner: str
    name: str
    secret_hash: str
    workspace: str
    role: Role
    created_time: int
    expires_time: int | None = None
    revoked_time: int | None = None

    def active(self, now_ms: int) -> bool:
        return self.revoked_time is None and (self.expires_time is None
                                              or now_ms < self.expires_time)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe, without the hash."""
        return {"token_id": self.token_id, "owner": self.owner, "name": self.name,
                "workspace": self.workspace, "role": self.role.name.lower(),
                "created_time": self.created_time, "expires_time": self.expires_time,
                "revoked_time": self.revoked_time}


class IdentityStore(abc.ABC):
    """Records of identities, bindings and tokens. Missing names raise
    ``ResourceDoesNotExist``; a duplicate name ``ResourceAlreadyExists``."""

    @abc.abstractmethod
    def create_identity(self, name: str, kind: IdentityKind, password_hash: str | None = None,
                        description: str = "") -> Identity: ...

    @abc.abstractmethod
    def get_identity(self, name: str) -> Identity:
        """With its role bindings."""

    @abc.abstractmethod
    def list_identities(self, kind: IdentityKind | None = None) -> list[Identity]:
        """Sorted by name, with role bindings."""

    @abc.abstractmethod
    def delete_identity(self, name: str) -> None:
        """Also deletes its bindings and tokens (their verification fails from then on)."""

    @abc.abstractmethod
    def set_password_hash(self, name: str, password_hash: str | None) -> None: ...

    @abc.abstractmethod
    def set_role(self, name: str, workspace: str, role: Role | None) -> None:
        """Bind ``name`` to ``role`` in ``workspace`` (replacing any role there); None
        removes the binding."""

    @abc.abstractmethod
    def add_token(self, record: TokenRecord) -> None:
        """Store a new token record; its owner must exist."""

    @abc.abstractmethod
    def get_token(self, token_id: str) -> TokenRecord:
        """Raises ``ResourceDoesNotExist`` for an unknown id."""

    @abc.abstractmethod
    def list_tokens(self, owner: str | None = None) -> list[TokenRecord]:
        """Newest first; revoked and expired ones included."""

    @abc.abstractmethod
    def revoke_token(self, token_id: str, when_ms: int) -> TokenRecord:
        """Mark it revoked (idempotent: the first revocation time stays)."""


__all__ = ["Identity", "IdentityStore", "TokenRecord", "validate_name", "validate_workspace"]
