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
