from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.sql import SqlStore
from loopml.testing.store_contract import TrackingStoreContract


class TestSqliteStore(TrackingStoreContract):
    @pytest.fixture
    def store(self, tmp_path) -> Iterator[SqlStore]:
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
        yield s
        s.close()


@pytest.mark.postgres
class TestPostgresStore(TrackingStoreContract):
    @pytest.fixture
    def store(self, postgres_uri, tmp_path) -> Iterator[SqlStore]:
        s = SqlStore(postgres_uri, str(tmp_path / "artifacts"))
        yield s
        s.close()
