"""Who is asking, and what they may do: the types every authenticator returns and every
route check reads. Credentials of each kind (API tokens, passwords, OIDC JWTs, the legacy
shared token) are verified by a ``CredentialVerifier``; the first verifier that recognises a
credential decides."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

ALL_WORKSPACES = "*"


class Permission(enum.Enum):
    """What a route needs. Each is granted by one role and every role above it."""

    PUBLIC = "public"  # health and version probes: no credentials needed
    READ = "read"
    WRITE = "write"
    DEPLOY = "deploy"
    APPROVE = "approve"
    ADMIN = "admin"


class Role(enum.IntEnum):
    """Roles per workspace, ordered: each holds the permissions of those below it.

    viewer (read) < editor (write runs, models, datasets) < deployer (deployments, loop
    policies) < approver (approve gates, trust models) < admin (users, quotas, secrets)."""

    VIEWER = 1
    EDITOR = 2
    DEPLOYER = 3
    APPROVER = 4
    ADMIN = 5

    @classmethod
    def parse(cls, name: str) -> Role:
        """``"editor"`` -> ``Role.EDITOR``. Raises ``ValueError`` naming the valid roles."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            valid = ", ".join(r.name.lower() for r in cls)
            raise ValueError(f"Unknown role {name!r}; valid roles: {valid}.") from None


# The least role that holds each permission.
REQUIRED_ROLE: Mapping[Permission, Role] = {
    Permission.READ: Role.VIEWER,
    Permission.WRITE: Role.EDITOR,
    Permission.DEPLOY: Role.DEPLOYER,
    Permission.APPROVE: Role.APPROVER,
    Permission.ADMIN: Role.ADMIN,
}


class IdentityKind(enum.Enum):
    USER = "user"  # a person: local password or OIDC sign-in
    SERVICE_ACCOUNT = "service_account"  # jobs, servers, monitors, the loop controller
    ANONYMOUS = "anonymous"  # auth disabled (loopback default): holds every role


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``roles`` maps a workspace name (or ``"*"`` for every
    workspace) to the caller's role there; ``via`` says which credential proved it
    (``token``, ``password``, ``oidc``, ``shared_token``, ``none``) for audit records."""

    subject: str
    kind: IdentityKind
    roles: Mapping[str, Role] = field(default_factory=dict)
    via: str = "none"
    token_id: str | None = None

    def role_in(self, workspace: str) -> Role | None:
        own = self.roles.get(workspace)
        wild = self.roles.get(ALL_WORKSPACES)
        if own is None:
            return wild
        return own if wild is None else max(own, wild)

    def allows(self, permission: Permission, workspace: str) -> bool:
        if permission is Permission.PUBLIC:
            return True
        role = self.role_in(workspace)
        return role is not None and role >= REQUIRED_ROLE[permission]


ANONYMOUS = Principal("anonymous", IdentityKind.ANONYMOUS, {ALL_WORKSPACES: Role.ADMIN})


class CredentialVerifier(Protocol):
    """One kind of credential. ``verify`` returns ``None`` when the credential is not its
    kind (the next verifier is tried), a ``Principal`` when it is valid, and raises
    ``loopml.errors.Unauthenticated`` when it is its kind but invalid, expired or revoked.

    ``scheme`` is the Authorization header's scheme, lower-cased (``bearer``/``basic``);
    ``credentials`` the rest of the header, stripped."""

    def verify(self, scheme: str, credentials: str) -> Principal | None: ...
