"""The contract every IdentityStore backend passes (SQLite, PostgreSQL), plus the token and
password verifiers on top of it.

Subclass ``IdentityStoreContract`` and provide an ``identities`` fixture (a fresh store)."""

from __future__ import annotations

import base64

import pytest

from loopml.errors import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    Unauthenticated,
)
from loopml.security._identities import IdentityService
from loopml.security._principal import IdentityKind, Role
from loopml.security._verifiers import ApiTokenVerifier, PasswordVerifier
from loopml.store.identities_base import IdentityStore


def _basic(user: str, pw: str) -> str:
    return base64.b64encode(f"{user}:{pw}".encode()).decode()


class IdentityStoreContract:
    def test_identities_and_roles(self, identities: IdentityStore) -> None:
        ann = identities.create_identity("ann@example.com", IdentityKind.USER, "h", "Ann")
        assert ann.kind is IdentityKind.USER and ann.roles == {}
        with pytest.raises(ResourceAlreadyExists):
            identities.create_identity("ann@example.com", IdentityKind.USER)
        with pytest.raises(InvalidParameterValue):
            identities.create_identity("bad name", IdentityKind.USER)
        identities.create_identity("trainer", IdentityKind.SERVICE_ACCOUNT)
        identities.set_role("ann@example.com", "default", Role.VIEWER)
        identities.set_role("ann@example.com", "default", Role.EDITOR)  # replaces
        identities.set_role("ann@example.com", "*", Role.VIEWER)
        got = identities.get_identity("ann@example.com")
        assert got.roles == {"default": Role.EDITOR, "*": Role.VIEWER}
        assert got.password_hash == "h" and "password_hash" not in got.to_dict()
        assert [i.name for i in identities.list_identities()] == ["ann@example.com", "trainer"]
        sa = identities.list_identities(IdentityKind.SERVICE_ACCOUNT)
        assert [i.name for i in sa] == ["trainer"]
        identities.set_role("ann@example.com", "*", None)
        assert identities.get_identity("ann@example.com").roles == {"default": Role.EDITOR}
        identities.delete_identity("trainer")
        with pytest.raises(ResourceDoesNotExist):
            identities.get_identity("trainer")
        with pytest.raises(ResourceDoesNotExist):
            identities.set_role("trainer", "default", Role.VIEWER)

    def test_tokens_scope_expiry_rotation_revocation(self, identities: IdentityStore) -> None:
        svc = IdentityService(identities)
        svc.create_service_account("job")
        svc.grant("job", "default", Role.EDITOR)
        with pytest.raises(InvalidParameterValue, match="exceed"):
            svc.issue_token("job", "default", Role.ADMIN)
        with pytest.raises(InvalidParameterValue, match="no role"):
            svc.issue_token("job", "other")
        issued = svc.issue_token("job", "default", name="ci", expires_in_s=3600)
        assert issued.token.startswith("lml_") and issued.record.role is Role.EDITOR
        stored = identities.get_token(issued.record.token_id)
        assert issued.token.split("_", 2)[2] not in stored.secret_hash  # only the hash
        v = ApiTokenVerifier(identities, ttl_s=0)
        p = v.verify("bearer", issued.token)
        assert p is not None and p.via == "token" and p.roles == {"default": Role.EDITOR}
        assert v.verify("bearer", "not-a-loopml-token") is None
        with pytest.raises(Unauthenticated):
            v.verify("bearer", issued.token[:-2] + "xx")
        # The token's role is capped by the owner's current role.
        svc.grant("job", "default", Role.VIEWER)
        p = v.verify("bearer", issued.token)
        assert p is not None and p.roles == {"default": Role.VIEWER}
        svc.grant("job", "default", Role.EDITOR)
        new = svc.rotate_token(issued.record.token_id)
        assert new.record.name == "ci" and new.record.expires_time is not None
        with pytest.raises(Unauthenticated):
            v.verify("bearer", issued.token)  # rotated = revoked
        assert v.verify("bearer", new.token) is not None
        svc.revoke_token(new.record.token_id)
        with pytest.raises(Unauthenticated):
            v.verify("bearer", new.token)
        assert {t.token_id for t in svc.list_tokens("job")} == {
            issued.record.token_id, new.record.token_id}

    def test_revocation_waits_for_the_cache_ttl(self, identities: IdentityStore) -> None:
        now = [0.0]
        svc = IdentityService(identities)
        svc.create_service_account("svc")
        svc.grant("svc", "*", Role.VIEWER)
        issued = svc.issue_token("svc", "*")
        v = ApiTokenVerifier(identities, ttl_s=30, clock=lambda: now[0])
        assert v.verify("bearer", issued.token) is not None
        svc.revoke_token(issued.record.token_id)
        assert v.verify("bearer", issued.token) is not None  # cached
        now[0] = 31.0
        with pytest.raises(Unauthenticated):
            v.verify("bearer", issued.token)

    def test_passwords(self, identities: IdentityStore) -> None:
        svc = IdentityService(identities)
        with pytest.raises(InvalidParameterValue, match="at least"):
            svc.create_user("bob", "short")
        svc.create_user("bob", "correct horse")
        svc.grant("bob", "default", Role.VIEWER)
        v = PasswordVerifier(identities)
        p = v.verify("basic", _basic("bob", "correct horse"))
        assert p is not None and p.via == "password" and p.roles == {"default": Role.VIEWER}
        with pytest.raises(PermissionDenied):
            v.verify("basic", _basic("bob", "wrong horse"))
        assert v.verify("basic", _basic("nobody", "x")) is None
        svc.set_password("bob", "battery staple")
        v.invalidate()
        with pytest.raises(PermissionDenied):
            v.verify("basic", _basic("bob", "correct horse"))
        assert v.verify("basic", _basic("bob", "battery staple")) is not None


__all__ = ["IdentityStoreContract"]
