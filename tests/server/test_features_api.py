"""/api/loopml/v1/features on the control plane: views, online reads, writes, bad input
(4xx with a JSON body naming the problem), and random bodies never giving a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from loopml.features import FeatureView, get_online_store
from loopml.features.service import FeatureService
from loopml.server._factory import build_services
from loopml.server.app import create_app

BASE = "/api/loopml/v1/features"


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("features-api")
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    views = {"stats": FeatureView(name="stats", entity="machine", features={"temp": "float64", "n": "int64"})}
    services.features = FeatureService(views, get_online_store("memory://", views))
    c = TestClient(create_app(services), raise_server_exceptions=False, base_url="http://127.0.0.1")
    yield c
    c.close()


def test_write_then_read(client: TestClient) -> None:
    assert client.get(f"{BASE}/views").json()["views"][0]["entity"] == "machine"
    r = client.post(f"{BASE}/views/stats/rows", json={"keys": ["m1", "m2"], "columns": {"temp": [1.5, 2.5], "n": [1, 2]},
                                                      "event_ms": 10})
    assert r.status_code == 200 and r.json() == {"written": 2}
    r = client.post(f"{BASE}/online", json={"entities": {"machine": ["m2", "zz"]}, "features": ["stats:*"]})
    assert r.json() == {"features": {"machine": ["m2", "zz"], "temp": [2.5, None], "n": [2, None]}}


@pytest.mark.parametrize(("path", "body", "needle"), [
    ("online", {"entities": {"machine": ["m1"]}, "features": ["nope:x"]}, "Unknown feature view 'nope'"),
    ("online", {"entities": {"machine": ["m1"]}, "features": ["stats:tmp"]}, "no feature 'tmp'"),
    ("online", {"entities": {}, "features": ["stats:n"]}, "'entities'"),
    ("online", {"entities": {"machine": ["m1"]}, "features": ["stats:n"], "extra": 1}, "'extra'"),
    ("views/nope/rows", {"keys": ["a"], "columns": {}, "event_ms": 1}, "Unknown feature view"),
    ("views/stats/rows", {"keys": ["a"], "columns": {"temp": [1.0, 2.0]}, "event_ms": 1}, "2 values for 1 keys"),
])
def test_bad_input(client: TestClient, path: str, body: dict[str, Any], needle: str) -> None:
    r = client.post(f"{BASE}/{path}", json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["message"]


def test_without_a_feature_service(tmp_path) -> None:  # type: ignore[no-untyped-def]
    services = build_services(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    with TestClient(create_app(services), base_url="http://127.0.0.1") as c:
        r = c.get(f"{BASE}/views")
    assert r.status_code == 404 and "--features" in r.json()["message"]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                     max_leaves=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["online", "views/stats/rows"]),
       body=st.fixed_dictionaries({}, optional={"entities": _json, "features": _json, "keys": _json,
                                                "columns": _json, "event_ms": _json, "full_names": _json}))
def test_random_bodies_never_5xx(client: TestClient, path: str, body: dict[str, Any]) -> None:
    r = client.post(f"{BASE}/{path}", json=body)
    assert r.status_code < 500, (body, r.text)
    if r.status_code >= 400:
        assert "message" in r.json()
