"""The dataset registry contract on SQLite, PostgreSQL and REST; the routes' bad input."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loopml.store.datasets_rest import RestDatasetStore
from loopml.store.datasets_sql import SqlDatasetStore
from loopml.store.rest import RestStore
from loopml.store.sql import SqlStore
from loopml.testing._workspaces import new_workspace
from loopml.testing.dataset_contract import DatasetStoreContract
from tests.server.conftest import LiveServer, start_server


class TestSqliteDatasets(DatasetStoreContract):
    @pytest.fixture
    def tracking(self, tmp_path) -> Iterator[SqlStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
        yield s
        s.close()

    @pytest.fixture
    def datasets(self, tracking: SqlStore) -> SqlDatasetStore:
        return SqlDatasetStore(tracking.engine)

    @pytest.fixture
    def workspace(self, tracking: SqlStore) -> str:
        return new_workspace(tracking)


@pytest.mark.postgres
class TestPostgresDatasets(TestSqliteDatasets):
    @pytest.fixture
    def tracking(self, postgres_uri, tmp_path) -> Iterator[SqlStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(postgres_uri, str(tmp_path / "artifacts"))
        yield s
        s.close()


@pytest.fixture
def server(tmp_path) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    srv = start_server(tmp_path / "srv")
    yield srv
    srv.stop()


class TestRestDatasets(DatasetStoreContract):
    @pytest.fixture
    def tracking(self, server: LiveServer) -> Iterator[RestStore]:
        s = RestStore(server.url)
        yield s
        s.close()

    @pytest.fixture
    def datasets(self, tracking: RestStore) -> RestDatasetStore:
        return RestDatasetStore(tracking)

    @pytest.fixture
    def workspace(self, tracking: RestStore) -> str:
        return new_workspace(tracking)


def test_version_created_event_and_bad_bodies(server: LiveServer) -> None:
    api = f"{server.url}/api/loopml/v1/datasets"
    r = httpx.post(f"{api}/create-version", json={"version": {"name": "e", "digest": "d"}})
    assert r.status_code == 200 and r.json()["created"] is True
    events = RestStore(server.url).read_events(types=["dataset.version_created"])
    assert [(e.subject, e.payload["version"]) for e in events] == [("e", 1)]
    assert httpx.post(f"{api}/create-version", json={"version": 3}).status_code == 400
    bad = httpx.post(f"{api}/create-version", json={"version": {"name": "e", "digest": 5}})
    assert bad.status_code == 400 and "digest" in bad.json()["message"]
    assert httpx.get(f"{api}/nope/versions").status_code == 404
    assert httpx.get(f"{api}/e/versions/latest").json()["version"]["version"] == 1


def test_dashboard_pages(server: LiveServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    import loopml.tracking._fluent as fluent
    from loopml.data.registry import register_dataset

    monkeypatch.setattr(fluent, "_client", None)  # restored after the test
    monkeypatch.setattr(fluent, "_tracking_uri", None)

    register_dataset(pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]}), "shown",
                     tracking_uri=server.url)
    page = httpx.get(f"{server.url}/ui/datasets")
    assert page.status_code == 200 and "/ui/datasets/shown" in page.text
    one = httpx.get(f"{server.url}/ui/datasets/shown")
    assert one.status_code == 200 and "<svg" in one.text and "<script" not in one.text
    assert httpx.get(f"{server.url}/ui/datasets/nope").status_code == 404
