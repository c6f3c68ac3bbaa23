"""The registry contract on SQLite, PostgreSQL and REST."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.registry_rest import RestRegistryStore
from loopml.store.registry_sql import SqlRegistryStore
from loopml.store.rest import RestStore
from loopml.store.sql import SqlStore
from loopml.testing.registry_contract import RegistryStoreContract
from tests.server.conftest import LiveServer, start_server


class TestSqliteRegistry(RegistryStoreContract):
    @pytest.fixture
    def tracking(self, tmp_path) -> Iterator[SqlStore]:
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
        yield s
        s.close()

    @pytest.fixture
    def registry(self, tracking: SqlStore) -> SqlRegistryStore:
        return SqlRegistryStore(tracking.engine)


@pytest.mark.postgres
class TestPostgresRegistry(RegistryStoreContract):
    @pytest.fixture
    def tracking(self, postgres_uri, tmp_path) -> Iterator[SqlStore]:
        s = SqlStore(postgres_uri, str(tmp_path / "artifacts"))
        yield s
        s.close()

    @pytest.fixture
    def registry(self, tracking: SqlStore) -> SqlRegistryStore:
        return SqlRegistryStore(tracking.engine)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("rest-registry"))
    yield srv
    srv.stop()


class TestRestRegistry(RegistryStoreContract):
    @pytest.fixture
    def tracking(self, server: LiveServer) -> Iterator[RestStore]:
        s = RestStore(server.url)
        yield s
        s.close()

    @pytest.fixture
    def registry(self, tracking: RestStore) -> RestRegistryStore:
        return RestRegistryStore(tracking)
