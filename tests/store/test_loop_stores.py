"""The loop store contract on SQLite, PostgreSQL and REST, and the loop routes' guards."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loopml.store.loops_rest import RestLoopStore
from loopml.store.loops_sql import SqlLoopStore
from loopml.store.rest import RestStore
from loopml.store.sql import SqlStore
from loopml.testing.loop_contract import LoopStoreContract
from tests.server.conftest import LiveServer, start_server


class TestSqliteLoops(LoopStoreContract):
    @pytest.fixture
    def loops(self, tmp_path) -> Iterator[SqlLoopStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
        yield SqlLoopStore(s.engine)
        s.close()


@pytest.mark.postgres
class TestPostgresLoops(LoopStoreContract):
    @pytest.fixture
    def loops(self, postgres_uri, tmp_path) -> Iterator[SqlLoopStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(postgres_uri, str(tmp_path / "artifacts"))
        yield SqlLoopStore(s.engine)
        s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    srv = start_server(tmp_path_factory.mktemp("rest-loops"))
    yield srv
    srv.stop()


class TestRestLoops(LoopStoreContract):
    @pytest.fixture
    def loops(self, server: LiveServer) -> Iterator[RestLoopStore]:
        s = RestStore(server.url)
        yield RestLoopStore(s)
        s.close()


def test_route_guards(server: LiveServer) -> None:
    api = f"{server.url}/api/loopml/v1/loops"
    r = httpx.post(f"{api}/trigger", json={"model": "pm"})
    assert r.status_code == 400 and "--policies" in r.json()["message"]
    r = httpx.post(f"{api}/{'0' * 32}/approve", json={})
    assert r.status_code == 404
    r = httpx.post(f"{api}/create", json={"loop": {"loop_id": "x", "model": 3}})
    assert r.status_code == 400 and "model" in r.json()["message"]
    r = httpx.post(f"{api}/{'0' * 32}/advance", json={"expected_state": "CANARY",
                                                      "action": "x", "fields": {"owner": 1}})
    assert r.status_code == 400 and "Cannot set" in r.json()["message"]
