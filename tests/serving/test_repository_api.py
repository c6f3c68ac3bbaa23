"""Triton's model repository extension (index, load, unload) with the real tritonclient."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from tests.serving.conftest import Served, start


@pytest.fixture(scope="module")
def repo_served(model_dirs, tmp_path_factory) -> Iterator[Served]:
    s = start({"hgb": str(model_dirs["hgb"]), "tensor": str(model_dirs["tensor"])},
              tmp_path_factory.mktemp("repo"))
    yield s
    s.stop()


def _inp(mod, x: np.ndarray):  # type: ignore[no-untyped-def]
    i = mod.InferInput("input-0", list(x.shape), "FP64")
    i.set_data_from_numpy(x)
    return i


def test_http_index_unload_load(repo_served: Served, cancer) -> None:
    x, _, _ = cancer
    c = thttp.InferenceServerClient(repo_served.url.removeprefix("http://"))
    index = {m["name"]: m for m in c.get_model_repository_index()}
    assert index["hgb"]["state"] == "READY" and index["hgb"]["version"] == "1"
    assert "model_repository" in c.get_server_metadata()["extensions"]
    c.unload_model("tensor")
    index = {m["name"]: m for m in c.get_model_repository_index()}
    assert index["tensor"] == {"name": "tensor", "version": "", "state": "UNAVAILABLE",
                               "reason": "unloaded"}
    r = httpx.post(f"{repo_served.url}/v2/repository/index", json={"ready": True})
    assert [m["name"] for m in r.json()] == ["hgb"]
    with pytest.raises(InferenceServerException, match="unloaded"):
        c.infer("tensor", [_inp(thttp, x[:2])])
    r = httpx.post(f"{repo_served.url}/v2/models/tensor/infer", json={"inputs": [
        {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": x[0].tolist()}]})
    assert r.status_code == 503 and "/v2/repository/models/tensor/load" in r.json()["error"]
    assert not c.is_model_ready("tensor") and c.is_server_ready()
    c.load_model("tensor")
    assert c.is_model_ready("tensor")
    assert c.infer("tensor", [_inp(thttp, x[:2])]).as_numpy("predict").shape == (2,)


def test_http_reload_keeps_serving(repo_served: Served, cancer) -> None:
    x, _, _ = cancer
    c = thttp.InferenceServerClient(repo_served.url.removeprefix("http://"))
    c.load_model("hgb")  # a reload: Triton's load also reloads a loaded model
    assert c.infer("hgb", [_inp(thttp, x[:2])]).as_numpy("predict").shape == (2,)


def test_unknown_model_and_request_config_refused(repo_served: Served) -> None:
    c = thttp.InferenceServerClient(repo_served.url.removeprefix("http://"))
    with pytest.raises(InferenceServerException, match="not served here") as e:
        c.load_model("nope")
    assert "404" in str(e.value.status()) or e.value.status() == "404"
    r = httpx.post(f"{repo_served.url}/v2/repository/models/nope/load")
    assert r.status_code == 404 and "hgb" in r.json()["error"]
    r = httpx.post(f"{repo_served.url}/v2/repository/models/nope/unload")
    assert r.status_code == 404
    with pytest.raises(InferenceServerException, match="only from the repository"):
        c.load_model("hgb", config='{"backend": "python"}')
    with pytest.raises(InferenceServerException, match="only from the repository"):
        c.load_model("hgb", files={"file:1/model.py": b"import os"})
    for body in (b"[1]", b"{", b'{"ready": "yes"}', b'{"parameters": 3}'):
        r = httpx.post(f"{repo_served.url}/v2/repository/index", content=body)
        assert r.status_code == 400, body


def test_grpc_index_unload_load(repo_served: Served, cancer) -> None:
    x, _, _ = cancer
    c = tgrpc.InferenceServerClient(repo_served.grpc)
    names = {m.name: m.state for m in c.get_model_repository_index().models}
    assert names == {"hgb": "READY", "tensor": "READY"}
    c.unload_model("hgb")
    assert {m.name: m.state for m in c.get_model_repository_index().models}["hgb"] == \
        "UNAVAILABLE"
    with pytest.raises(InferenceServerException, match="unloaded"):
        c.infer("hgb", [_inp(tgrpc, x[:1])])
    c.load_model("hgb")
    assert c.infer("hgb", [_inp(tgrpc, x[:1])]).as_numpy("predict").shape == (1,)
    with pytest.raises(InferenceServerException, match="not served here"):
        c.load_model("nope")
    with pytest.raises(InferenceServerException, match="only from the repository"):
        c.load_model("hgb", config='{"backend": "python"}')


def test_fail_fast_stops_start_when_a_model_fails(model_dirs, tmp_path) -> None:
    from starlette.testclient import TestClient

    from loopml.serving.repository import ServingSettings
    from loopml.serving.server import ServeOptions, StartupFailed, build_app

    (tmp_path / "broken").mkdir()
    models = {"hgb": str(model_dirs["hgb"]), "broken": str(tmp_path / "broken")}
    opts = ServeOptions(grpc_port=None, lazy=True, fail_fast=True)
    with pytest.raises(StartupFailed, match="broken"), \
            TestClient(build_app(models, ServingSettings(), opts)):
        pass
    # Without it the server starts and readiness reports the failure.
    app = build_app(models, ServingSettings(), ServeOptions(grpc_port=None))
    with TestClient(app, base_url="http://localhost") as c:
        assert c.get("/v2/health/ready").status_code == 503
        assert c.get("/v2/models/hgb/ready").status_code == 200
