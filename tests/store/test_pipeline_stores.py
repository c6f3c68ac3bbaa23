"""The pipeline store contract on SQLite, PostgreSQL and REST."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.pipelines_rest import RestPipelineStore
from loopml.store.pipelines_sql import SqlPipelineStore
from loopml.store.rest import RestStore
from loopml.store.sql import SqlStore
from loopml.testing.pipeline_contract import PipelineStoreContract
from tests.server.conftest import LiveServer, start_server


class TestSqlitePipelines(PipelineStoreContract):
    @pytest.fixture
    def pipelines(self, tmp_path) -> Iterator[SqlPipelineStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
        yield SqlPipelineStore(s.engine)
        s.close()


@pytest.mark.postgres
class TestPostgresPipelines(PipelineStoreContract):
    @pytest.fixture
    def pipelines(self, postgres_uri, tmp_path) -> Iterator[SqlPipelineStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(postgres_uri, str(tmp_path / "artifacts"))
        yield SqlPipelineStore(s.engine)
        s.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    from loopml.pipelines import Pipeline, PipelineRegistry

    # The contract's triggers name pipeline "m:p": the server creates triggers only for
    # registered pipelines, so register an (empty) one under that reference.
    runnable = PipelineRegistry({"m:p": Pipeline("p", {}, {}, ref="m:p")})
    srv = start_server(tmp_path_factory.mktemp("rest-pipelines"), runnable=runnable)
    yield srv
    srv.stop()


class TestRestPipelines(PipelineStoreContract):
    @pytest.fixture
    def pipelines(self, server: LiveServer) -> Iterator[RestPipelineStore]:
        s = RestStore(server.url)
        yield RestPipelineStore(s)
        s.close()
