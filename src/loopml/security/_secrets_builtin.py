"""The built-in secrets backend: AES-256-GCM encrypted versions in the metadata store
(table ``secrets``, migration 0011).

Each version is ``nonce (12 random bytes) || AES-GCM(key, nonce, value, aad)`` where the
associated data is ``workspace \\0 name \\0 version``: a ciphertext moved to another row
(another name, workspace or version) fails authentication instead of decrypting there.
AES-GCM is from ``cryptography`` (OpenSSL), not hand-written.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection, Engine

from loopml.errors import InternalError, ResourceDoesNotExist
from loopml.security._secrets_keys import KeyProvider
from loopml.security.quotas import require_workspace
from loopml.security.secrets import (
    DEFAULT_WORKSPACE,
    SecretBackend,
    SecretInfo,
    SecretValue,
    check_name,
)
from loopml.store import _schema as t
from loopml.store._sql_util import now_ms

_S = t.secrets.c
_NONCE = 12


def _aad(workspace: str, name: str, version: int) -> bytes:
    return f"{workspace}\0{name}\0{version}".encode()


class BuiltinSecretBackend(SecretBackend):
    """Secrets in ``engine``'s database (the metadata store), encrypted with ``keys``."""

    def __init__(self, engine: Engine, keys: KeyProvider) -> None:
        self.engine = engine
        self.keys = keys

    def _seal(self, workspace: str, name: str, version: int, value: str) -> tuple[str, bytes]:
        kid, key = self.keys.current()
        nonce = os.urandom(_NONCE)
        return kid, nonce + AESGCM(key).encrypt(nonce, value.encode(),
                                                _aad(workspace, name, version))

    def _open(self, workspace: str, name: str, version: int, kid: str, blob: bytes) -> str:
        try:
            key = self.keys.by_id(kid)
        except KeyError:
            raise InternalError(
                f"Secret {name!r} version {version} was encrypted with key {kid}, which the "
                "configured key file no longer holds: add that key back (after the current "
                "one) in secrets_key_file.") from None
        try:
            plain = AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:],
                                        _aad(workspace, name, version))
        except InvalidTag:
            raise InternalError(f"Secret {name!r} version {version} fails authentication: its "
                                "row was altered or copied from another secret.") from None
        return plain.decode()

    def _latest(self, conn: Connection, workspace: str, name: str) -> int:
        v = conn.execute(sa.select(sa.func.max(_S.version)).where(
            _S.workspace == workspace, _S.name == name)).scalar()
        return int(v or 0)

    def get(self, name: str, workspace: str = DEFAULT_WORKSPACE,
            version: int | None = None) -> SecretValue:
        check_name(name)
        q = sa.select(_S.version, _S.key_id, _S.ciphertext).where(
            _S.workspace == workspace, _S.name == name)
        q = q.where(_S.version == version) if version is not None else \
            q.order_by(_S.version.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            which = f" version {version}" if version is not None else ""
            raise ResourceDoesNotExist(
                f"No secret {name!r}{which} in workspace {workspace!r}. Create it with "
                f"`loopml secrets set {name}`.")
        return SecretValue(name, workspace, int(row.version),
                           self._open(workspace, name, int(row.version), row.key_id,
                                      bytes(row.ciphertext)))

    def list_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[SecretInfo]:
        q = (sa.select(_S.name, sa.func.max(_S.version), sa.func.max(_S.created_time))
             .where(_S.workspace == workspace).group_by(_S.name).order_by(_S.name))
        with self.engine.connect() as conn:
            return [SecretInfo(n, workspace, int(v), int(ts)) for n, v, ts in conn.execute(q)]

    def _add(self, name: str, value: str, workspace: str, must_exist: bool) -> int:
        check_name(name)
        with self.engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: versions never race
            require_workspace(conn, workspace)  # things are created only in workspaces that exist
            version = self._latest(conn, workspace, name) + 1
            if must_exist and version == 1:
                raise ResourceDoesNotExist(
                    f"No secret {name!r} in workspace {workspace!r} to rotate; create it with "
                    f"`loopml secrets set {name}`.")
            kid, blob = self._seal(workspace, name, version, value)
            conn.execute(sa.insert(t.secrets).values(
                workspace=workspace, name=name, version=version, ciphertext=blob, key_id=kid,
                created_time=now_ms()))
        return version

    def put(self, name: str, value: str, workspace: str = DEFAULT_WORKSPACE) -> int:
        return self._add(name, value, workspace, must_exist=False)

    def rotate(self, name: str, value: str, workspace: str = DEFAULT_WORKSPACE) -> int:
        return self._add(name, value, workspace, must_exist=True)

    def delete(self, name: str, workspace: str = DEFAULT_WORKSPACE) -> None:
        check_name(name)
        with self.engine.begin() as conn:
            n = conn.execute(sa.delete(t.secrets).where(
                _S.workspace == workspace, _S.name == name)).rowcount
            conn.execute(sa.delete(t.secret_grants).where(
                t.secret_grants.c.workspace == workspace, t.secret_grants.c.name == name))
        if not n:
            raise ResourceDoesNotExist(f"No secret {name!r} in workspace {workspace!r}.")

    def prune(self, name: str, keep: int, workspace: str = DEFAULT_WORKSPACE) -> int:
        """Delete all but the latest ``keep`` versions of ``name`` (after a rotation every
        consumer has followed); returns how many were deleted."""
        with self.engine.begin() as conn:
            latest = self._latest(conn, workspace, name)
            return int(conn.execute(sa.delete(t.secrets).where(
                _S.workspace == workspace, _S.name == name,
                _S.version <= latest - max(keep, 1))).rowcount)

    def rekey(self) -> int:
        """Re-encrypt every version whose key is not the current one (after a master-key
        rotation); returns how many were re-encrypted. One transaction."""
        kid, _ = self.keys.current()
        n = 0
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(_S.workspace, _S.name, _S.version, _S.key_id,
                                          _S.ciphertext).where(_S.key_id != kid)).all()
            for ws, name, version, old, blob in rows:
                value = self._open(ws, name, version, old, bytes(blob))
                new_kid, new_blob = self._seal(ws, name, version, value)
                conn.execute(sa.update(t.secrets).where(
                    _S.workspace == ws, _S.name == name, _S.version == version,
                ).values(key_id=new_kid, ciphertext=new_blob))
                n += 1
        return n
