"""Identity management on top of an ``IdentityStore``: the rules the CLI and the REST API
share (password hashing, token issue/rotation/revocation, who may grant what)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from loopml.errors import InvalidParameterValue, PermissionDenied
from loopml.security._passwords import hash_password
from loopml.security._principal import (
    ALL_WORKSPACES,
    ANONYMOUS,
    IdentityKind,
    Permission,
    Principal,
    Role,
)
from loopml.security._tokens import hash_secret, new_token
from loopml.store.identities_base import (
    Identity,
    IdentityStore,
    TokenRecord,
    validate_workspace,
)

MAX_TOKEN_LIFETIME_S = 366 * 24 * 3600


def _now_ms() -> int:
    return int(time.time() * 1000)


def identity_role_in(identity: Identity, workspace: str) -> Role | None:
    """The identity's role in ``workspace`` (its ``*`` binding counts everywhere)."""
    return Principal(identity.name, identity.kind, identity.roles).role_in(workspace)


def is_self_service(caller: Principal, name: str) -> bool:
    """A person acting on their own account, signed in with a password or OIDC. Never a
    token: a leaked token must not mint further tokens that outlive its revocation."""
    return (caller.kind is IdentityKind.USER and caller.subject == name
            and caller.via in ("password", "oidc"))


def require_admin(caller: Principal, workspace: str) -> None:
    """``caller`` must be admin in ``workspace`` (``*``: in every workspace, i.e. bound
    as admin on ``*``). Raises PermissionDenied naming what is missing."""
    ok = (caller.roles.get(ALL_WORKSPACES) == Role.ADMIN if workspace == ALL_WORKSPACES
          else caller.allows(Permission.ADMIN, workspace))
    if not ok:
        where = "every workspace ('*')" if workspace == ALL_WORKSPACES else \
            f"workspace {workspace!r}"
        raise PermissionDenied(
            f"{caller.kind.value} {caller.subject!r} is not an admin of {where}; ask an admin "
            f"of {where} to do this.")


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is the secret string, shown once and never stored."""

    record: TokenRecord
    token: str


class IdentityService:
    """What ``loopml users|service-accounts|tokens`` and ``/api/loopml/v1/{users,...}`` do.
    ``caller``: who asks (ANONYMOUS for the local CLI, which holds the database itself).
    Managing identities needs admin on ``*``; granting a role in a workspace needs admin
    there; issuing a token for another identity needs admin in the token's workspace."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def create_user(self, name: str, password: str | None = None, description: str = "",
                    caller: Principal = ANONYMOUS) -> Identity:
        require_admin(caller, ALL_WORKSPACES)
        pw = hash_password(password) if password is not None else None
        return self.store.create_identity(name, IdentityKind.USER, pw, description)

    def create_service_account(self, name: str, description: str = "",
                               caller: Principal = ANONYMOUS) -> Identity:
        require_admin(caller, ALL_WORKSPACES)
        return self.store.create_identity(name, IdentityKind.SERVICE_ACCOUNT, None, description)

    def delete(self, name: str, kind: IdentityKind | None = None,
               caller: Principal = ANONYMOUS) -> None:
        require_admin(caller, ALL_WORKSPACES)
        if kind is not None:
            self._of_kind(name, kind)
        self.store.delete_identity(name)

    def set_password(self, name: str, password: str, caller: Principal = ANONYMOUS) -> None:
        """Admins set anyone's password; a user signed in with their password may set
        their own."""
        if not is_self_service(caller, name):
            require_admin(caller, ALL_WORKSPACES)
        self._of_kind(name, IdentityKind.USER)
        self.store.set_password_hash(name, hash_password(password))

    def grant(self, name: str, workspace: str, role: Role,
              caller: Principal = ANONYMOUS) -> Identity:
        validate_workspace(workspace)
        require_admin(caller, workspace)
        self.store.set_role(name, workspace, role)
        return self.store.get_identity(name)

    def revoke(self, name: str, workspace: str, caller: Principal = ANONYMOUS) -> Identity:
        validate_workspace(workspace)
        require_admin(caller, workspace)
        self.store.set_role(name, workspace, None)
        return self.store.get_identity(name)

    def _of_kind(self, name: str, kind: IdentityKind) -> Identity:
        ident = self.store.get_identity(name)
        if ident.kind is not kind:
            raise InvalidParameterValue(
                f"{name!r} is a {ident.kind.value}, not a {kind.value}.")
        return ident

    def issue_token(self, owner: str, workspace: str, role: Role | None = None,
                    expires_in_s: int | None = None, name: str = "",
                    caller: Principal = ANONYMOUS) -> IssuedToken:
        """A token for ``owner`` scoped to ``workspace`` with ``role`` (default: the owner's
        role there). The role may not exceed the owner's (InvalidParameterValue); the owner
        needs a role in the workspace at all. ``expires_in_s`` at most a year (None: no
        expiry). Users signed in with a password or OIDC may issue their own tokens; anyone
        else's needs admin there."""
        validate_workspace(workspace)
        if not is_self_service(caller, owner):
            require_admin(caller, workspace)
        ident = self.store.get_identity(owner)
        has = identity_role_in(ident, workspace) if workspace != ALL_WORKSPACES \
            else ident.roles.get(ALL_WORKSPACES)
        if has is None:
            raise InvalidParameterValue(
                f"{owner!r} has no role in workspace {workspace!r}; grant one first: "
                f"loopml users grant {owner} --workspace {workspace} --role viewer.")
        role = role or has
        if role > has:
            raise InvalidParameterValue(
                f"A token's role cannot exceed its owner's: {owner!r} is "
                f"{has.name.lower()} in {workspace!r}, the token asked for {role.name.lower()}.")
        if expires_in_s is not None and not 0 < expires_in_s <= MAX_TOKEN_LIFETIME_S:
            raise InvalidParameterValue(
                f"A token's lifetime must be in [1, {MAX_TOKEN_LIFETIME_S}] seconds (a year); "
                f"got {expires_in_s}.")
        token_id, token = new_token()
        now = _now_ms()
        record = TokenRecord(token_id, owner, name, hash_secret(token), workspace, role, now,
                             now + expires_in_s * 1000 if expires_in_s else None)
        self.store.add_token(record)
        return IssuedToken(record, token)

    def _token_for(self, token_id: str, caller: Principal) -> TokenRecord:
        rec = self.store.get_token(token_id)
        if not is_self_service(caller, rec.owner):
            require_admin(caller, rec.workspace)
        return rec

    def revoke_token(self, token_id: str, caller: Principal = ANONYMOUS) -> TokenRecord:
        """Verifiers stop accepting it within their cache TTL (``TOKEN_CACHE_TTL_S``)."""
        self._token_for(token_id, caller)
        return self.store.revoke_token(token_id, _now_ms())

    def rotate_token(self, token_id: str, expires_in_s: int | None = None,
                     caller: Principal = ANONYMOUS) -> IssuedToken:
        """A new token with the same owner, name, workspace and role (and the same lifetime
        unless ``expires_in_s`` is given); the old one is revoked."""
        old = self._token_for(token_id, caller)
        if old.revoked_time is not None:
            raise InvalidParameterValue(
                f"Token {token_id} is revoked; create a new one with `loopml tokens create`.")
        if expires_in_s is None and old.expires_time is not None:
            expires_in_s = max(1, (old.expires_time - old.created_time) // 1000)
        new = self.issue_token(old.owner, old.workspace, old.role, expires_in_s, old.name,
                               caller=ANONYMOUS)  # the caller was checked on the old token
        self.store.revoke_token(token_id, _now_ms())
        return new

    def list_tokens(self, owner: str | None = None,
                    caller: Principal = ANONYMOUS) -> list[TokenRecord]:
        if owner is None or not is_self_service(caller, owner):
            require_admin(caller, ALL_WORKSPACES)
        return self.store.list_tokens(owner)
