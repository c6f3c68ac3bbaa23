"""The unmodified mlflow client against loopml's model registry."""

from __future__ import annotations

import contextlib

import httpx
import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x, y


def _log_model(x: np.ndarray, y: np.ndarray) -> str:
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(x, y), name="model")
    return run.info.run_id


def test_register_alias_and_load(mlflow_client_env: str, iris) -> None:
    x, y = iris
    mlflow.set_experiment("registry-flow")
    rid = _log_model(x, y)
    mv = mlflow.register_model(f"runs:/{rid}/model", "iris-clf")
    assert mv.version == "1" and mv.status == "READY"
    rid2 = _log_model(x, y)
    mv2 = mlflow.register_model(f"runs:/{rid2}/model", "iris-clf", tags={"k": "v"})
    assert mv2.version == "2"

    c = MlflowClient()
    c.set_registered_model_alias("iris-clf", "champion", "1")
    c.set_registered_model_alias("iris-clf", "challenger", "2")
    assert c.get_model_version_by_alias("iris-clf", "champion").version == "1"
    rm = c.get_registered_model("iris-clf")
    assert rm.aliases == {"champion": "1", "challenger": "2"}

    found = c.search_model_versions("name = 'iris-clf'")
    assert sorted(v.version for v in found) == ["1", "2"]
    assert [v.version for v in c.search_model_versions(f"run_id = '{rid2}'")] == ["2"]
    assert c.get_model_version("iris-clf", "2").tags == {"k": "v"}

    for uri in ("models:/iris-clf@champion", "models:/iris-clf/2"):
        model = mlflow.pyfunc.load_model(uri)
        assert list(model.predict(x[:5])) == list(y[:5])

    c.set_registered_model_alias("iris-clf", "champion", "2")  # promote
    assert c.get_model_version_by_alias("iris-clf", "champion").version == "2"
    c.delete_registered_model_alias("iris-clf", "challenger")
    assert c.get_registered_model("iris-clf").aliases == {"champion": "2"}


def test_registry_crud_and_stages(mlflow_client_env: str) -> None:
    c = MlflowClient()
    c.create_registered_model("crud-model", tags={"team": "ml"}, description="d")
    c.update_registered_model("crud-model", description="d2")
    c.set_registered_model_tag("crud-model", "x", "1")
    rm = c.get_registered_model("crud-model")
    assert rm.description == "d2" and rm.tags == {"team": "ml", "x": "1"}
    with pytest.raises(MlflowException) as e:
        c.create_registered_model("crud-model")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    c.rename_registered_model("crud-model", "crud-model-2")
    assert [m.name for m in c.search_registered_models("name LIKE 'crud-model%'")] == [
        "crud-model-2"]
    c.delete_registered_model("crud-model-2")
    with pytest.raises(MlflowException) as e:
        c.get_registered_model("crud-model-2")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_legacy_stages(mlflow_client_env: str, iris) -> None:
    x, y = iris
    mlflow.set_experiment("registry-stages")
    rid = _log_model(x, y)
    c = MlflowClient()
    c.create_registered_model("staged")
    v = c.create_model_version("staged", f"runs:/{rid}/model", run_id=rid)
    c.transition_model_version_stage("staged", v.version, "Production")
    latest = c.get_latest_versions("staged", stages=["Production"])
    assert [m.version for m in latest] == [v.version]
    model = mlflow.pyfunc.load_model("models:/staged/Production")
    assert list(model.predict(x[:3])) == list(y[:3])


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc",
        "/etc/passwd",
        "mlflow-artifacts:/../../../etc",
        "mlflow-artifacts:/0/%2e%2e/%2e%2e/etc",
        "s3://someone-elses-bucket/model",
        "runs:/0123456789abcdef0123456789abcdef/../../x",
        "http://169.254.169.254/latest/meta-data",
        "models:/../../etc",
    ],
)
def test_source_outside_artifact_roots_is_refused(mlflow_client_env: str, source: str) -> None:
    c = MlflowClient()
    with contextlib.suppress(MlflowException):
        c.create_registered_model("cve-1177")
    with pytest.raises(MlflowException) as e:
        c.create_model_version("cve-1177", source)
    assert e.value.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    assert c.search_model_versions("name = 'cve-1177'") == []


def test_bad_registry_input_gets_clear_400(live_server) -> None:
    api = f"{live_server.url}/api/2.0/mlflow"
    r = httpx.post(f"{api}/registered-models/create", json={"name": "a/b"})
    assert r.status_code == 400 and "'/'" in r.json()["message"]
    r = httpx.post(f"{api}/registered-models/create", json={})
    assert r.status_code == 400 and "name" in r.json()["message"]
    httpx.post(f"{api}/registered-models/create", json={"name": "bad-input"})
    r = httpx.get(f"{api}/model-versions/get", params={"name": "bad-input", "version": "x"})
    assert r.status_code == 400 and "version" in r.json()["message"]
    r = httpx.get(f"{api}/model-versions/get", params={"name": "bad-input", "version": "7"})
    assert r.status_code == 404
    r = httpx.post(f"{api}/registered-models/alias",
                   json={"name": "bad-input", "alias": "latest", "version": "1"})
    assert r.status_code == 400 and "reserved" in r.json()["message"]
    r = httpx.get(f"{api}/model-versions/search", params={"filter": "name === 'x'"})
    assert r.status_code == 400 and "Invalid filter" in r.json()["message"]
