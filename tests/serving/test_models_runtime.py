"""String inputs as BYTES, deploy-time ONNX conversion, and the LRU memory cap."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import tritonclient.http as thttp
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from loopml import models
from loopml.serving.repository import ModelRepository, ServingSettings
from tests.serving.conftest import start


def test_string_columns_as_bytes(tmp_path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"plan": rng.choice(["basic", "pro"], 300), "x": rng.normal(size=300)})
    y = (frame.plan == "pro").astype(int).to_numpy()
    pipe = make_pipeline(ColumnTransformer([("oh", OneHotEncoder(), ["plan"])],
                                           remainder="passthrough"), LogisticRegression())
    models.save_model(pipe.fit(frame, y), tmp_path / "m", input_example=frame[:5])
    s = start({"plans": str(tmp_path / "m")}, tmp_path / "srv")
    try:
        meta = httpx.get(f"{s.url}/v2/models/plans").json()
        assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"plan": "BYTES", "x": "FP64"}
        c = thttp.InferenceServerClient(s.url.removeprefix("http://"))
        plan = thttp.InferInput("plan", [3], "BYTES")
        plan.set_data_from_numpy(np.array([b"pro", b"basic", b"pro"], dtype=object))
        x = thttp.InferInput("x", [3], "FP64")
        x.set_data_from_numpy(np.zeros(3))
        assert c.infer("plans", [plan, x]).as_numpy("predict").tolist() == [1, 0, 1]
        bad = httpx.post(f"{s.url}/v2/models/plans/infer", json={"inputs": [
            {"name": "plan", "shape": [1], "datatype": "FP64", "data": [1.0]},
            {"name": "x", "shape": [1], "datatype": "FP64", "data": [0.0]}]})
        assert bad.status_code == 400 and "Column 'plan': expected string" in bad.json()["error"]
    finally:
        s.stop()


def test_convert_onnx_at_deploy_time(model_dirs, tmp_path, cancer) -> None:
    x, _, _ = cancer
    s = start({"hgb": str(model_dirs["hgb"])}, tmp_path, convert_onnx=True)
    try:
        status = httpx.get(f"{s.url}/api/loopml/v1/serving/models").json()["models"]["hgb"]
        assert status["runtime"] == "onnx" and status["onnx_conversion"] == "converted"
        r = httpx.post(f"{s.url}/v2/models/hgb/infer", json={"inputs": [
            {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": x[0].tolist()}]})
        assert r.status_code == 200
        assert not (model_dirs["hgb"] / "model.onnx").exists()  # the original is untouched
    finally:
        s.stop()


def test_lru_memory_cap(model_dirs) -> None:
    sizes = {n: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
             for n, p in model_dirs.items()}
    cap = max(sizes["hgb"], sizes["tensor"]) + 1  # room for one of them at a time
    repo = ModelRepository({"hgb": str(model_dirs["hgb"]), "tensor": str(model_dirs["tensor"])},
                           ServingSettings(memory_cap_bytes=cap))

    async def main() -> None:
        await repo.get("hgb")
        assert repo.entries["hgb"].ready
        await repo.get("tensor")  # over the cap: the least recently used goes
        assert repo.entries["tensor"].ready and not repo.entries["hgb"].ready
        await repo.get("hgb")  # and comes back on demand
        assert repo.entries["hgb"].ready and not repo.entries["tensor"].ready

    asyncio.run(main())
