"""Identities, role bindings and API tokens in the tracking database (migration 0009)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from loopml.errors import ResourceAlreadyExists, ResourceDoesNotExist
from loopml.security._principal import IdentityKind, Role
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms
from loopml.store.identities_base import (
    Identity,
    IdentityStore,
    TokenRecord,
    validate_name,
    validate_workspace,
)

_I, _B, _T = t.identities.c, t.role_bindings.c, t.api_tokens.c


def _missing(name: str) -> ResourceDoesNotExist:
    return ResourceDoesNotExist(
        f"No user or service account named {name!r}; list them with `loopml users list` / "
        "`loopml service-accounts list`.")


class SqlIdentityStore(SqlBase, IdentityStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_identity(self, name: str, kind: IdentityKind, password_hash: str | None = None,
                        description: str = "") -> Identity:
        validate_name(name)
        try:
            with self._tx() as conn:
                conn.execute(sa.insert(t.identities).values(
                    name=name, kind=kind.value, password_hash=password_hash,
                    description=description, created_time=now_ms()))
        except IntegrityError:
            raise ResourceAlreadyExists(
                f"An identity named {name!r} already exists; pick another name.") from None
        return self.get_identity(name)

    def _id(self, conn: Connection, name: str) -> int:
        row = conn.execute(sa.select(_I.identity_id).where(_I.name == name)).first()
        if row is None:
            raise _missing(name)
        return int(row[0])

    def _roles(self, conn: Connection, ids: list[int]) -> dict[int, dict[str, Role]]:
        out: dict[int, dict[str, Role]] = {i: {} for i in ids}
        if ids:
            for r in conn.execute(sa.select(_B.identity_id, _B.workspace, _B.role)
                                  .where(_B.identity_id.in_(ids))):
                out[r.identity_id][r.workspace] = Role[r.role]
        return out

    @staticmethod
    def _identity(r: Any, roles: dict[str, Role]) -> Identity:
        return Identity(r.identity_id, r.name, IdentityKind(r.kind), r.password_hash,
                        r.description, r.created_time, roles)

    def get_identity(self, name: str) -> Identity:
        with self._read() as conn:
            r = conn.execute(sa.select(t.identities).where(_I.name == name)).first()
            if r is None:
                raise _missing(name)
            return self._identity(r, self._roles(conn, [r.identity_id])[r.identity_id])

    def list_identities(self, kind: IdentityKind | None = None) -> list[Identity]:
        q = sa.select(t.identities).order_by(_I.name)
        if kind is not None:
            q = q.where(_I.kind == kind.value)
        with self._read() as conn:
            rows = conn.execute(q).all()
            roles = self._roles(conn, [r.identity_id for r in rows])
        return [self._identity(r, roles[r.identity_id]) for r in rows]

    def delete_identity(self, name: str) -> None:
        with self._tx() as conn:
            iid = self._id(conn, name)
            conn.execute(sa.delete(t.api_tokens).where(_T.identity_id == iid))
            conn.execute(sa.delete(t.role_bindings).where(_B.identity_id == iid))
            conn.execute(sa.delete(t.identities).where(_I.identity_id == iid))

    def set_password_hash(self, name: str, password_hash: str | None) -> None:
        with self._tx() as conn:
            iid = self._id(conn, name)
            conn.execute(sa.update(t.identities).where(_I.identity_id == iid)
                         .values(password_hash=password_hash))

    def set_role(self, name: str, workspace: str, role: Role | None) -> None:
        validate_workspace(workspace)
        with self._tx() as conn:
            iid = self._id(conn, name)
            conn.execute(sa.delete(t.role_bindings).where(
                (_B.identity_id == iid) & (_B.workspace == workspace)))
            if role is not None:
                conn.execute(sa.insert(t.role_bindings).values(
                    identity_id=iid, workspace=workspace, role=role.name))

    def add_token(self, record: TokenRecord) -> None:
        validate_workspace(record.workspace)
        with self._tx() as conn:
            iid = self._id(conn, record.owner)
            conn.execute(sa.insert(t.api_tokens).values(
                token_id=record.token_id, identity_id=iid, name=record.name,
                secret_hash=record.secret_hash, workspace=record.workspace,
                role=record.role.name, created_time=record.created_time,
                expires_time=record.expires_time, revoked_time=record.revoked_time))

    _TOKEN_COLS = (_T.token_id, _I.name.label("owner"), _T.name, _T.secret_hash, _T.workspace,
                   _T.role, _T.created_time, _T.expires_time, _T.revoked_time)

    def _token_query(self) -> sa.Select[Any]:
        return sa.select(*self._TOKEN_COLS).select_from(
            t.api_tokens.join(t.identities, _I.identity_id == _T.identity_id))

    @staticmethod
    def _token(r: Any) -> TokenRecord:
        return TokenRecord(r.token_id, r.owner, r.name, r.secret_hash, r.workspace,
                           Role[r.role], r.created_time, r.expires_time, r.revoked_time)

    def get_token(self, token_id: str) -> TokenRecord:
        with self._read() as conn:
            r = conn.execute(self._token_query().where(_T.token_id == token_id)).first()
        if r is None:
            raise ResourceDoesNotExist(
                f"No API token with id {token_id!r}; list them with `loopml tokens list`.")
        return self._token(r)

    def list_tokens(self, owner: str | None = None) -> list[TokenRecord]:
        q = self._token_query().order_by(_T.created_time.desc(), _T.token_id)
        if owner is not None:
            q = q.where(_I.name == owner)
        with self._read() as conn:
            return [self._token(r) for r in conn.execute(q)]

    def revoke_token(self, token_id: str, when_ms: int) -> TokenRecord:
        with self._tx() as conn:
            conn.execute(sa.update(t.api_tokens).where(
                (_T.token_id == token_id) & _T.revoked_time.is_(None))
                .values(revoked_time=when_ms))
        return self.get_token(token_id)


__all__ = ["SqlIdentityStore"]
