"""Identities, credentials, roles, workspaces, quotas, secrets and audit (see
docs/security.md)."""

from __future__ import annotations

from loopml.security._http import (
    DEFAULT_WORKSPACE,
    TOKEN_COOKIE,
    WORKSPACE_HEADER,
    Authenticator,
    PermissionedRoute,
    SharedTokenVerifier,
    principal_of,
    request_workspace,
    route,
)
from loopml.security._principal import (
    ALL_WORKSPACES,
    ANONYMOUS,
    REQUIRED_ROLE,
    CredentialVerifier,
    IdentityKind,
    Permission,
    Principal,
    Role,
)

__all__ = [
    "ALL_WORKSPACES",
    "ANONYMOUS",
    "DEFAULT_WORKSPACE",
    "TOKEN_COOKIE",
    "WORKSPACE_HEADER",
    "Authenticator",
    "PermissionedRoute",
    "SharedTokenVerifier",
    "principal_of",
    "request_workspace",
    "route",
    "REQUIRED_ROLE",
    "CredentialVerifier",
    "IdentityKind",
    "Permission",
    "Principal",
    "Role",
]
