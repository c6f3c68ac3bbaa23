"""V2 output selection and true output datatypes, driven by the real tritonclient."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from tests.serving.conftest import Served


def _inp(mod, x: np.ndarray):  # type: ignore[no-untyped-def]
    i = mod.InferInput("input-0", list(x.shape), "FP64")
    i.set_data_from_numpy(x)
    return i


def _proba(model_dirs, model: str, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    import pandas as pd

    from loopml import models

    m = models.load(str(model_dirs[model]))
    names = getattr(m.native, "feature_names_in_", None)
    return np.asarray(m.native.predict_proba(pd.DataFrame(x, columns=names)
                                             if names is not None else x))


@pytest.mark.parametrize("model", ["hgb", "tensor", "hgb_onnx"])
def test_http_predict_proba(served: Served, cancer, model_dirs, model: str) -> None:
    x, _, _ = cancer
    c = thttp.InferenceServerClient(served.url.removeprefix("http://"))
    res = c.infer(model, [_inp(thttp, x[:5])],
                  outputs=[thttp.InferRequestedOutput("predict_proba")])
    proba = res.as_numpy("predict_proba")
    assert proba.shape == (5, 2) and res.as_numpy("predict") is None
    np.testing.assert_allclose(proba, _proba(model_dirs, model, x[:5]), rtol=1e-4, atol=1e-5)
    both = c.infer(model, [_inp(thttp, x[:3])], outputs=[
        thttp.InferRequestedOutput("predict", binary_data=False),
        thttp.InferRequestedOutput("predict_proba", binary_data=False)])
    assert both.as_numpy("predict").tolist() == proba[:3].argmax(1).tolist()


@pytest.mark.parametrize("model", ["hgb", "tensor", "hgb_onnx"])
def test_grpc_predict_proba(served: Served, cancer, model_dirs, model: str) -> None:
    x, _, _ = cancer
    c = tgrpc.InferenceServerClient(served.grpc)
    res = c.infer(model, [_inp(tgrpc, x[:4])],
                  outputs=[tgrpc.InferRequestedOutput("predict_proba")])
    np.testing.assert_allclose(res.as_numpy("predict_proba"), _proba(model_dirs, model, x[:4]),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["hgb", "tensor", "hgb_onnx"])
def test_metadata_declares_true_datatypes(served: Served, cancer, model: str) -> None:
    x, _, _ = cancer
    c = thttp.InferenceServerClient(served.url.removeprefix("http://"))
    declared = {o["name"]: o["datatype"] for o in c.get_model_metadata(model)["outputs"]}
    assert set(declared) == {"predict", "predict_proba"}
    res = c.infer(model, [_inp(thttp, x[:2])], outputs=[
        thttp.InferRequestedOutput(n, binary_data=False) for n in declared])
    got = {o["name"]: o["datatype"] for o in res.get_response()["outputs"]}
    assert got == declared and declared["predict"] == "INT64"
    g = tgrpc.InferenceServerClient(served.grpc)
    assert {o.name: o.datatype for o in g.get_model_metadata(model).outputs} == declared


def test_unknown_output_is_400_naming_outputs(served: Served, cancer) -> None:
    x, _, _ = cancer
    body = {"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64",
                        "data": x[0].tolist()}], "outputs": [{"name": "nope"}]}
    r = httpx.post(f"{served.url}/v2/models/hgb/infer", json=body)
    assert r.status_code == 400
    assert "'nope'" in r.json()["error"] and "predict_proba" in r.json()["error"]
    r = httpx.post(f"{served.url}/v2/models/hgb/infer", json={**body, "outputs": "x"})
    assert r.status_code == 400 and "outputs" in r.json()["error"]
    c = tgrpc.InferenceServerClient(served.grpc)
    with pytest.raises(InferenceServerException, match="predict_proba"):
        c.infer("hgb", [_inp(tgrpc, x[:1])], outputs=[tgrpc.InferRequestedOutput("nope")])


def test_batcher_keeps_output_sets_apart() -> None:
    import asyncio

    asyncio.run(_batcher_keeps_output_sets_apart())


async def _batcher_keeps_output_sets_apart() -> None:
    import asyncio

    from loopml.serving.batcher import Batcher

    calls: list[tuple[int, object]] = []

    def pred(rows: np.ndarray) -> np.ndarray:
        calls.append((len(rows), None))
        return rows[:, 0]

    def outs(rows: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        calls.append((len(rows), names))
        return {n: rows[:, 0] * 2 for n in names}

    b = Batcher(pred, predict_outputs=outs)
    a = np.ones((2, 3))
    r = await asyncio.gather(b.submit(a), b.submit(a, ("p",)), b.submit(a, ("p",)))
    assert r[0].tolist() == [1, 1] and r[1]["p"].tolist() == [2, 2] and r[2]["p"].tolist() == [2, 2]
    assert (2, None) in calls and all(n != 6 for n, _ in calls)
    await b.stop()
