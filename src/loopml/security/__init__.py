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

# Identity management pulls in the store layer, which itself imports this package's
# _principal: loaded on first use, so ``import loopml.store`` never cycles back here.
_LAZY = {
    "IdentityService": "loopml.security._identities",
    "IssuedToken": "loopml.security._identities",
    "ApiTokenVerifier": "loopml.security._verifiers",
    "PasswordVerifier": "loopml.security._verifiers",
    "TOKEN_CACHE_TTL_S": "loopml.security._verifiers",
    "build_verifiers": "loopml.security._verifiers",
    "RemoteVerifier": "loopml.security._verifiers",
    "serving_verifiers": "loopml.security._verifiers",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loopml.security' has no attribute {name!r}")


__all__ = [
    "TOKEN_CACHE_TTL_S",
    "ApiTokenVerifier",
    "IdentityService",
    "IssuedToken",
    "PasswordVerifier",
    "RemoteVerifier",
    "build_verifiers",
    "serving_verifiers",
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
