"""Deployments: the store (SQLite and REST), weighted canary, sticky routing, shadow
traffic, and live changes with no restart and no failed request."""

from __future__ import annotations

import asyncio
import collections
import time

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from loopml.entities import TrafficRoute
from loopml.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from loopml.store.deployments_rest import RestDeploymentStore
from loopml.store.deployments_sql import SqlDeploymentStore
from loopml.store.rest import RestStore
from loopml.store.sql import SqlStore
from tests.serving.conftest import start


@pytest.fixture
def sql_store(tmp_path):  # type: ignore[no-untyped-def]
    tracking = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    yield tracking, SqlDeploymentStore(tracking.engine)
    tracking.close()


@pytest.fixture
def rest_store(live_server):  # type: ignore[no-untyped-def]
    tracking = RestStore(live_server.url)
    yield tracking, RestDeploymentStore(tracking)
    tracking.close()


@pytest.mark.parametrize("backend", ["sql_store", "rest_store"])
def test_store_contract(backend: str, request) -> None:
    tracking, store = request.getfixturevalue(backend)
    name = f"fraud-{backend.split('_')[0]}"
    d = store.create_deployment(name, [TrafficRoute("runs:/r3/model", 90),
                                       TrafficRoute("runs:/r4/model", 10)],
                                ["runs:/r5/model"], "x-user-id")
    assert d.revision == 1 and d.sticky_header == "x-user-id" and d.shadow == ("runs:/r5/model",)
    with pytest.raises(ResourceAlreadyExists):
        store.create_deployment(name, [TrafficRoute("runs:/r3/model", 100)])
    d2 = store.update_deployment(name, routes=[TrafficRoute("runs:/r4/model", 100)])
    assert d2.revision == 2 and d2.routes == (TrafficRoute("runs:/r4/model", 100.0),)
    assert d2.shadow == ("runs:/r5/model",)  # untouched parts stay
    assert store.update_deployment(name, shadow=[]).shadow == ()
    assert name in [x.name for x in store.list_deployments()]
    for bad in ([], [TrafficRoute("models:/a/1", -1)], [TrafficRoute("models:/a/1", 0)],
                [TrafficRoute("models:/a/1", 1), TrafficRoute("models:/a/1", 2)]):
        with pytest.raises(InvalidParameterValue):
            store.update_deployment(name, routes=bad)
    with pytest.raises(InvalidParameterValue, match="Invalid deployment name"):
        store.create_deployment("bad name/", [TrafficRoute("models:/a/1", 1)])
    assert [e.subject for e in tracking.read_events(types=["deployment.updated"])
            ].count(name) == 3
    store.delete_deployment(name)
    with pytest.raises(ResourceDoesNotExist):
        store.get_deployment(name)


def _body(x: np.ndarray) -> dict:
    return {"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64",
                        "data": x.tolist()}]}


@pytest.fixture
def deployed(model_dirs, sql_store, tmp_path):  # type: ignore[no-untyped-def]
    _, store = sql_store
    a, b = str(model_dirs["hgb_onnx"]), str(model_dirs["tensor"])
    store.create_deployment("fraud", [TrafficRoute(a, 90), TrafficRoute(b, 10)])
    s = start({}, tmp_path, fetch=store.get_deployment, deployments=("fraud",))
    yield s, store, a, b
    s.stop()


def test_weighted_canary_and_live_update(deployed, cancer) -> None:
    s, store, a, b = deployed
    x, _, _ = cancer
    assert httpx.get(f"{s.url}/v2/health/ready").status_code == 200
    assert httpx.get(f"{s.url}/v2/models/fraud").json()["name"] == "fraud"

    async def fire(n: int) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
            return await asyncio.gather(*(c.post("/v2/models/fraud/infer", json=_body(x[i % 50]))
                                          for i in range(n)))

    routes = collections.Counter(r.headers["x-loopml-route"] for r in asyncio.run(fire(600)))
    assert routes[a] + routes[b] == 600 and 0.83 < routes[a] / 600 < 0.96

    async def during_update() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
            results: list[httpx.Response] = []
            t_end = time.time() + 2.0
            switched = False
            while time.time() < t_end:
                results += await asyncio.gather(*(c.post("/v2/models/fraud/infer",
                                                         json=_body(x[0])) for _ in range(8)))
                if not switched:
                    await asyncio.to_thread(store.update_deployment, "fraud",
                                            [TrafficRoute(b, 100)])
                    switched = True
            return results

    results = asyncio.run(during_update())
    assert {r.status_code for r in results} == {200}  # no request failed during the switch
    assert results[-1].headers["x-loopml-route"] == b
    status = httpx.get(f"{s.url}/api/loopml/v1/serving/models").json()
    assert status["deployments"]["fraud"]["revision"] == 2


def test_sticky_routing(model_dirs, sql_store, tmp_path, cancer) -> None:
    _, store = sql_store
    x, _, _ = cancer
    a, b = str(model_dirs["hgb_onnx"]), str(model_dirs["tensor"])
    store.create_deployment("sticky", [TrafficRoute(a, 50), TrafficRoute(b, 50)],
                            sticky_header="x-user-id")
    s = start({}, tmp_path, fetch=store.get_deployment, deployments=("sticky",))
    try:
        seen: dict[str, set[str]] = collections.defaultdict(set)
        with httpx.Client(base_url=s.url) as c:
            for user in range(40):
                for _ in range(3):
                    r = c.post("/v2/models/sticky/infer", json=_body(x[0]),
                               headers={"x-user-id": f"user-{user}"})
                    seen[f"user-{user}"].add(r.headers["x-loopml-route"])
        assert all(len(v) == 1 for v in seen.values())  # each user keeps one version
        assert {next(iter(v)) for v in seen.values()} == {a, b}  # and both get users
    finally:
        s.stop()


def test_shadow_is_logged_not_returned(model_dirs, sql_store, tmp_path, cancer) -> None:
    _, store = sql_store
    x, _, _ = cancer
    a, b = str(model_dirs["hgb_onnx"]), str(model_dirs["tensor"])
    store.create_deployment("shadowed", [TrafficRoute(a, 100)], shadow=[b])
    s = start({}, tmp_path, fetch=store.get_deployment, deployments=("shadowed",))
    try:
        r = httpx.post(f"{s.url}/v2/models/shadowed/infer", json=_body(x[0]))
        assert r.status_code == 200 and r.headers["x-loopml-route"] == a
        rid = r.headers["x-request-id"]
        time.sleep(0.3)
        s.app.state.serving.logger.flush()  # type: ignore[attr-defined]
        rows = pq.ParquetDataset(s.log_dir).read().to_pandas()
        mine = rows[rows.request_id == rid]
        assert sorted(mine.role) == ["primary", "shadow"]
        assert set(mine[mine.role == "shadow"].model) == {b}
        assert list(s.log_dir.glob("deployment=shadowed/date=*/*.parquet"))
    finally:
        s.stop()
