"""MLflow's scoring protocol with the request bodies MLflow's docs show."""

from __future__ import annotations

import httpx
import pytest

from tests.serving.conftest import Served, start


@pytest.fixture(scope="module")
def mlflow_served(model_dirs, tmp_path_factory):  # type: ignore[no-untyped-def]
    s = start({"hgb": str(model_dirs["hgb"])}, tmp_path_factory.mktemp("inv"))
    yield s
    s.stop()


def test_all_formats(mlflow_served: Served, cancer) -> None:
    x, y, names = cancer
    url = f"{mlflow_served.url}/invocations"
    rows = x[:3]
    bodies = [
        {"dataframe_split": {"columns": names, "data": rows.tolist()}},
        {"dataframe_records": [dict(zip(names, r, strict=True)) for r in rows.tolist()]},
        {"instances": [dict(zip(names, r, strict=True)) for r in rows.tolist()]},
        {"inputs": {n: rows[:, i].tolist() for i, n in enumerate(names)}},
        {"inputs": rows.tolist()},
    ]
    for body in bodies:
        r = httpx.post(url, json=body)
        assert r.status_code == 200, (body, r.text)
        assert r.json() == {"predictions": y[:3].tolist()}
    csv = ",".join(names) + "\n" + "\n".join(",".join(map(str, r)) for r in rows.tolist())
    r = httpx.post(url, content=csv, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["predictions"] == y[:3].tolist()


def test_probes(mlflow_served: Served) -> None:
    assert httpx.get(f"{mlflow_served.url}/ping").status_code == 200
    assert httpx.get(f"{mlflow_served.url}/health").status_code == 200
    assert httpx.get(f"{mlflow_served.url}/version").text


@pytest.mark.parametrize(("body", "ctype", "fragment"), [
    (b"{}", "application/json", "exactly one of"),
    (b'{"instances": [[1, 2]], "inputs": [[1]]}', "application/json", "exactly one of"),
    (b'{"dataframe_split": {"columns": ["a"]}}', "application/json", "needs 'data'"),
    (b'{"dataframe_records": [1, 2]}', "application/json", "list of objects"),
    (b'{"dataframe_split": {"columns": ["mean radius"], "data": [[1.0]]}}', "application/json",
     "Missing column(s)"),
    (b"a,b\n1,2", "text/csv", "Missing column(s)"),
    (b"<xml/>", "application/xml", "Unsupported content type"),
    (b'{"inputs": [[1, 2, 3]]}', "application/json", "Expected 30 values per row"),
])
def test_bad_bodies(mlflow_served: Served, body: bytes, ctype: str, fragment: str) -> None:
    r = httpx.post(f"{mlflow_served.url}/invocations", content=body,
                   headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE" and fragment in r.json()["message"]


@pytest.mark.parametrize(("body", "fragment"), [
    (b'{"instances": 5}', "instances/inputs"),
    (b'{"inputs": {"a": [[1, 2], [3]]}}', "does not form an array"),
    (b'{"dataframe_split": {"columns": ["a"], "data": []}}', ""),
    (b'{"dataframe_split": {"columns": 7, "data": [[1]]}}', "columns"),
    (b'{"instances": [{"a": 1}, 2]}', "one object per row"),
    (b'{"inputs": [[1, 2], [3]]}', "does not form an array"),
])
def test_malformed_bodies_are_400_not_500(mlflow_served: Served, body: bytes,
                                          fragment: str) -> None:
    r = httpx.post(f"{mlflow_served.url}/invocations", content=body,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert fragment in r.json()["message"]


def test_nan_and_infinity_tokens(mlflow_served: Served, cancer) -> None:
    """What Python's json.dumps writes (and MLflow's scoring server reads)."""
    import json

    x, _, names = cancer
    rows = x[:2].tolist()
    rows[0][0] = float("nan")
    rows[1][1] = float("inf")
    body = json.dumps({"dataframe_split": {"columns": names, "data": rows}})
    assert "NaN" in body and "Infinity" in body
    r = httpx.post(f"{mlflow_served.url}/invocations", content=body,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text  # HistGradientBoosting takes missing values
    assert len(r.json()["predictions"]) == 2
    r = httpx.post(f"{mlflow_served.url}/invocations", content=b'{"inputs": [[NaN, nope]]}',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]


@pytest.fixture(scope="module")
def int_served(tmp_path_factory):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from loopml import models

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 200).astype("int64"),
                          "income": rng.normal(50, 10, 200)})
    y = (frame["age"] > 50).astype(int)
    root = tmp_path_factory.mktemp("int-model")
    models.save_model(LogisticRegression().fit(frame, y), root / "m", input_example=frame[:5])
    s = start({"m": str(root / "m")}, tmp_path_factory.mktemp("int-serve"))
    yield s, frame
    s.stop()


def test_every_format_types_int64_columns_by_the_signature(int_served) -> None:  # type: ignore[no-untyped-def]
    """dataframe_split (MLflow's default scoring format) sent ints as doubles: "expected
    long, got double" while records and CSV worked."""
    served, frame = int_served
    rows = frame[:4]
    url = f"{served.url}/invocations"
    bodies = [
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}},
        {"dataframe_split": rows.to_dict(orient="split")},
        {"dataframe_records": rows.to_dict(orient="records")},
        {"inputs": {c: rows[c].tolist() for c in rows.columns}},
    ]
    answers = []
    for body in bodies:
        r = httpx.post(url, json=body)
        assert r.status_code == 200, (body, r.text)
        answers.append(r.json()["predictions"])
    r = httpx.post(url, content=rows.to_csv(index=False), headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    answers.append(r.json()["predictions"])
    assert all(a == answers[0] for a in answers), answers
    # A fractional value in the long column is still refused, not rounded.
    r = httpx.post(url, json={"dataframe_split": {"columns": ["age", "income"],
                                                  "data": [[30.5, 1.0]]}})
    assert r.status_code == 400 and "age" in r.json()["message"]
