"""Property test (Hypothesis) over every route of the model server (issue 15): V2 infer
bodies built from the protocol's tensor fields, MLflow scoring bodies, and random bodies
for the rest never produce a 5xx, and every 4xx carries a JSON error body. The schema of
each route is the protocol's (Open Inference Protocol V2, MLflow's scoring protocol)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from starlette.testclient import TestClient

from loopml.serving.repository import ServingSettings
from loopml.serving.server import ServeOptions, build_app
from tests.server._fuzz import EDGE_TEXT, fuzz_routes, routes_of

V2_REQUEST = ["inputs", "outputs", "id", "parameters"]
V2_TENSOR = ["name", "shape", "datatype", "data", "parameters"]
MLFLOW = ["dataframe_split", "dataframe_records", "instances", "inputs", "columns", "data",
          "index"]


# Tensors at the edges of the protocol (issue 15's examples): Hypothesis mixes them with
# random fields, other tensors and the model's real input.
EDGE_TENSORS: list[dict[str, Any]] = [
    {"shape": [0, 30], "data": []}, {"datatype": "INT64", "shape": [2], "data": [2**64, 1]},
    {"datatype": "INT8", "shape": [2], "data": [1000, 0]},
    {"shape": [2**62, 4], "data": []}, {"parameters": "x"}, {"data": ["NaN"] * 30},
    {"datatype": "BYTES", "data": [[1, 2], [3]]}, {"shape": [1, True]},
    {"parameters": {"binary_data_size": 2**70}},
]


def _fields(path: str, method: str) -> list[str]:
    if path.endswith("/infer"):
        return V2_REQUEST + V2_TENSOR
    if path == "/invocations":
        return MLFLOW
    return ["name", "version"]


@pytest.fixture(scope="module")
def serving(model_dirs: dict[str, Path], cancer, tmp_path_factory
            ) -> Iterator[tuple[TestClient, dict[str, list[Any]]]]:
    x, _, names = cancer
    opts = ServeOptions(grpc_port=None, log_dir=str(tmp_path_factory.mktemp("fuzz-ilog")))
    app = build_app({"tensor": str(model_dirs["tensor"]), "hgb": str(model_dirs["hgb"])},
                    ServingSettings(), opts)
    row = x[0].tolist()
    tensor = {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": row}
    plausible: dict[str, list[Any]] = {
        "": ["input-0", 1, 0.5, [], {}, "FP64"],
        "inputs": [[tensor], [tensor, tensor], {n: [v] for n, v in zip(names, row, strict=True)},
                   [row], *([{**tensor, **edge}] for edge in EDGE_TENSORS)],
        "name": ["input-0", names[0]], "shape": [[1, 30], [30], [0, 30], [2, 15], [1, 2]],
        "datatype": ["FP64", "FP32", "INT64", "INT8", "UINT8", "BOOL", "BYTES", "FP16"],
        "data": [row, [], [[0.5] * 30], ["a"] * 30, [True] * 30],
        "parameters": [{}, {"binary_data_size": 8}], "outputs": [[{"name": "predict"}]],
        "id": ["abc"],
        "dataframe_split": [{"columns": names, "data": [row]}, {"columns": names, "data": []}],
        "dataframe_records": [[dict(zip(names, row, strict=True))]],
        "instances": [[row], [dict(zip(names, row, strict=True))]],
        "columns": [names], "index": [[0]],
    }
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as client:
        yield client, plausible


HEADERS = st.one_of(
    st.just({}), st.just({}),
    st.sampled_from(["0", "1", "10", "99999", *EDGE_TEXT]).map(
        lambda v: {"inference-header-content-length": v.encode("utf-8")}),
    st.sampled_from(["text/csv", "application/xml", "application/json; charset=utf-8"]).map(
        lambda v: {"content-type": v}),
)


def _run(serving: tuple[TestClient, dict[str, list[Any]]], n: int, derandomize: bool,
         record_property) -> None:  # type: ignore[no-untyped-def]
    client, plausible = serving
    # An unload takes the model away (its requests then get 503 by design) and each load
    # re-reads the model from disk; the repository API has its own tests
    # (test_repository_api.py, and schemathesis in test_openapi_serving.py).
    routes = routes_of(client.app, skip=lambda p: p.endswith(("/unload", "/load")))
    report = fuzz_routes(client, routes, _fields, plausible, ["tensor", "hgb", "1", "x", "7"],
                         n, json_errors=lambda p: True, derandomize=derandomize,
                         headers=HEADERS)
    print(f"\nmodel server: {len(routes)} routes, {report.requests} requests")
    record_property("requests", report.requests)
    assert not report.failures, "\n".join(report.failures)


def test_every_route_answers_bad_input_with_a_4xx(serving, record_property) -> None:  # type: ignore[no-untyped-def]
    _run(serving, 40, True, record_property)


@pytest.mark.slow
def test_every_route_answers_bad_input_with_a_4xx_long(serving, record_property) -> None:  # type: ignore[no-untyped-def]
    _run(serving, 400, False, record_property)
