from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.rest import RestStore
from loopml.testing.store_contract import TrackingStoreContract
from tests.server.conftest import LiveServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("rest"))
    yield srv
    srv.stop()


class TestRestStore(TrackingStoreContract):
    @pytest.fixture
    def store(self, server: LiveServer) -> Iterator[RestStore]:
        s = RestStore(server.url)
        yield s
        s.close()
