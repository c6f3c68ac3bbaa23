"""Open Inference Protocol V2 with the real tritonclient (HTTP and gRPC) as the client."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from tests.serving.conftest import Served


def _input(mod, x: np.ndarray, name: str = "input-0"):  # type: ignore[no-untyped-def]
    inp = mod.InferInput(name, list(x.shape), "FP64")
    inp.set_data_from_numpy(x)
    return inp


def _expected(model_dirs, model: str, x: np.ndarray) -> list[int]:  # type: ignore[no-untyped-def]
    from loopml import models

    m = models.load(str(model_dirs[model]))
    return [int(v) for v in m.flavor.predict(m.native, _frame(m, x))]


def _frame(m, x):  # type: ignore[no-untyped-def]
    import pandas as pd

    names = getattr(m.native, "feature_names_in_", None)
    return pd.DataFrame(x, columns=names) if names is not None else x


@pytest.mark.parametrize("model", ["hgb", "hgb_onnx", "tensor"])
def test_http_infer(served: Served, cancer, model_dirs, model: str) -> None:
    x, _, _ = cancer
    c = thttp.InferenceServerClient(served.url.removeprefix("http://"))
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready(model)
    meta = c.get_model_metadata(model)
    assert meta["name"] == model and meta["versions"] == ["1"]
    res = c.infer(model, [_input(thttp, x[:20])])
    assert res.as_numpy("predict").tolist() == _expected(model_dirs, model, x[:20])
    json_input = thttp.InferInput("input-0", [3, 30], "FP64")
    json_input.set_data_from_numpy(x[:3], binary_data=False)  # the plain-JSON encoding
    res = c.infer(model, [json_input])
    assert res.as_numpy("predict").tolist() == _expected(model_dirs, model, x[:3])


@pytest.mark.parametrize("model", ["hgb", "hgb_onnx", "tensor"])
def test_grpc_infer(served: Served, cancer, model_dirs, model: str) -> None:
    x, _, _ = cancer
    c = tgrpc.InferenceServerClient(served.grpc)
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready(model)
    assert c.get_model_metadata(model).name == model
    assert c.get_server_metadata().name == "loopml"
    res = c.infer(model, [_input(tgrpc, x[:20])])
    assert res.as_numpy("predict").tolist() == _expected(model_dirs, model, x[:20])


def test_one_tensor_per_column(served: Served, cancer) -> None:
    x, y, names = cancer
    inputs = [{"name": n, "shape": [3], "datatype": "FP64", "data": x[:3, i].tolist()}
              for i, n in enumerate(names)]
    r = httpx.post(f"{served.url}/v2/models/hgb/infer", json={"id": "abc", "inputs": inputs})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outputs"][0]["data"] == y[:3].tolist() and body["id"] == "abc"
    assert len(r.headers["x-request-id"]) == 32
    r2 = httpx.post(f"{served.url}/v2/models/hgb/infer", json={"inputs": inputs},
                    headers={"x-request-id": "client-chosen"})
    assert r2.headers["x-request-id"] == "client-chosen"


@pytest.mark.parametrize(("body", "status", "fragment"), [
    (b"{not json", 400, "not valid JSON"),
    ({"inputs": []}, 400, "non-empty 'inputs'"),
    ({"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP99", "data": [0] * 30}]},
     400, "unknown datatype"),
    ({"inputs": [{"name": "input-0", "shape": [2, 30], "datatype": "FP64", "data": [0] * 30}]},
     400, "needs 60 values, got 30"),
    ({"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0] * 4}]},
     400, "expected shape [-1, 30]"),
    ({"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "BYTES", "data": ["a"] * 30}]},
     400, "expected numbers"),
    ({"inputs": [{"name": "mean radius", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
     400, "Missing input(s)"),
    ({"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64"}]}, 400, "no 'data'"),
])
def test_bad_requests_get_400(served: Served, body, status: int, fragment: str) -> None:
    kw = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = httpx.post(f"{served.url}/v2/models/hgb/infer", **kw)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]


def test_unknown_model_and_version(served: Served, cancer) -> None:
    x, _, _ = cancer
    body = {"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64",
                        "data": x[0].tolist()}]}
    r = httpx.post(f"{served.url}/v2/models/nope/infer", json=body)
    assert r.status_code == 404 and "Served models" in r.json()["error"]
    r = httpx.post(f"{served.url}/v2/models/hgb/versions/7/infer", json=body)
    assert r.status_code == 404 and "version" in r.json()["error"]
    assert httpx.post(f"{served.url}/v2/models/hgb/versions/1/infer", json=body).status_code == 200
    c = tgrpc.InferenceServerClient(served.grpc)
    with pytest.raises(InferenceServerException, match="not served"):
        c.infer("nope", [_input(tgrpc, x[:1])])
    with pytest.raises(InferenceServerException, match="expected shape"):
        c.infer("hgb", [_input(tgrpc, x[:1, :5])])


def test_prometheus_metrics(served: Served, cancer) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    x, _, _ = cancer
    c = thttp.InferenceServerClient(served.url.removeprefix("http://"))
    c.infer("hgb_onnx", [_input(thttp, x[:2])])
    text = httpx.get(f"{served.url}/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    reqs = [s for s in fams["loopml_inference_requests"].samples
            if s.labels.get("model") == "hgb_onnx" and s.labels.get("status") == "200"]
    assert reqs and reqs[0].value >= 1
    assert "loopml_inference_batch_size" in fams and "loopml_inference_queue_depth" in fams
    assert "loopml_inference_request_duration_seconds" in fams


def _t(**kw):  # type: ignore[no-untyped-def]
    d = {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": [0.5] * 30}
    d.update(kw)
    return d


@pytest.mark.parametrize(("body", "headers", "fragment"), [
    ({"inputs": [_t(shape=[0, 30], data=[])]}, {}, "Found array with 0 sample(s)"),
    ({"inputs": [_t(datatype="INT64", shape=[2], data=[18446744073709551616, 1])]}, {},
     "INT64"),
    ({"inputs": [_t(datatype="INT8", shape=[2], data=[1000, 0])]}, {}, "[-128, 127]"),
    ({"inputs": [_t(shape=[4611686018427387904, 4], data=[])]}, {},
     "needs 18446744073709551616 values"),
    ({"inputs": [_t(parameters="x")]}, {}, "'parameters'"),
    ({"inputs": [_t()], "parameters": "x"}, {}, "'parameters'"),
    ({"inputs": [_t()]}, {"Inference-Header-Content-Length": "²".encode()},
     "Inference-Header-Content-Length"),
    ({"inputs": [_t(data=["NaN"] + [1.0] * 29)]}, {}, "NaN"),
    ({"inputs": [_t(data=[[1, 2], [3]])]}, {}, "does not match datatype"),
    ({"inputs": [_t(shape=[1, True])]}, {}, "'shape'"),
])
def test_malformed_tensors_get_400_with_json(served: Served, body, headers, fragment: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 15: each of these was a text/plain 500 that dropped the connection."""
    import json

    with httpx.Client(base_url=served.url) as client:
        r = client.post("/v2/models/tensor/infer", content=json.dumps(body).encode(),
                        headers={"content-type": "application/json", **headers})
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/json"
        assert fragment in r.json()["error"], r.json()
        # The connection stays usable: the next request on it is served.
        ok = client.post("/v2/models/tensor/infer", json={"inputs": [_t()]})
        assert ok.status_code == 200, ok.text


def test_grpc_bad_data_is_invalid_argument(served: Served, cancer) -> None:  # type: ignore[no-untyped-def]
    import grpc

    from loopml.serving._proto import open_inference_pb2 as pb
    from loopml.serving._proto import open_inference_pb2_grpc as pb_grpc

    T = pb.ModelInferRequest.InferInputTensor
    bad = [
        T(name="input-0", datatype="INT8", shape=[1, 30],
          contents=pb.InferTensorContents(int_contents=[1000] * 30)),
        T(name="input-0", datatype="FP64", shape=[4611686018427387904, 4]),
        T(name="input-0", datatype="FP64", shape=[0, 30]),
        T(name="input-0", datatype="FP16", shape=[1, 30]),
    ]
    with grpc.insecure_channel(served.grpc) as ch:
        stub = pb_grpc.GRPCInferenceServiceStub(ch)
        for t in bad:
            with pytest.raises(grpc.RpcError) as e:
                stub.ModelInfer(pb.ModelInferRequest(model_name="tensor", inputs=[t]))
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (t, e.value.details())
