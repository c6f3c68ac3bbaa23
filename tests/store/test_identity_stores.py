"""The identity store contract on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.identities_sql import SqlIdentityStore
from loopml.store.sql import SqlStore
from loopml.testing.identity_contract import IdentityStoreContract


class TestSqliteIdentities(IdentityStoreContract):
    @pytest.fixture
    def identities(self, tmp_path) -> Iterator[SqlIdentityStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
        yield SqlIdentityStore(s.engine)
        s.close()


@pytest.mark.postgres
class TestPostgresIdentities(IdentityStoreContract):
    @pytest.fixture
    def identities(self, postgres_uri, tmp_path) -> Iterator[SqlIdentityStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(postgres_uri, str(tmp_path / "artifacts"))
        yield SqlIdentityStore(s.engine)
        s.close()
