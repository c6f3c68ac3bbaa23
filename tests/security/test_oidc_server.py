"""A live loopml server accepting provider-issued JWTs: the unmodified mlflow client with
``MLFLOW_TRACKING_TOKEN=<JWT>``, and the statuses a bad token gets over REST."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loopml.security.oidc import ClaimMapping, ClaimRule, JWTVerifier, OidcConfig
from loopml.server._permissions import Authenticator
from tests.security._oidc import CLIENT_ID, Provider, start_provider
from tests.server.conftest import LiveServer, start_server

mlflow = pytest.importorskip("mlflow")

MAPPING = ClaimMapping(rules=(ClaimRule("ml", "editor"), ClaimRule("viewers", "viewer")))


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = start_provider()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def server(provider: Provider, tmp_path_factory) -> Iterator[LiveServer]:
    v = JWTVerifier(OidcConfig(provider.issuer, CLIENT_ID, mapping=MAPPING))
    srv = start_server(tmp_path_factory.mktemp("oidc-server"),
                       auth=Authenticator("shared-secret", None, [v]))
    yield srv
    srv.stop()


def test_mlflow_client_with_a_jwt(provider: Provider, server: LiveServer,
                                  monkeypatch) -> None:
    token = provider.id_token("alice", groups=["ml"])
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    mlflow.set_tracking_uri(server.url)
    mlflow.set_experiment("oidc-exp")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5)
    got = mlflow.MlflowClient().get_run(run.info.run_id)
    assert got.data.metrics == {"loss": 0.5}


def test_statuses_over_rest(provider: Provider, server: LiveServer) -> None:
    url = f"{server.url}/api/2.0/mlflow/experiments/search"
    body = {"max_results": 10}

    def post(token: str) -> httpx.Response:
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"})

    reader = provider.id_token("vic", groups=["viewers"])
    assert post(reader).status_code == 200
    create = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", json={"name": "x"},
                        headers={"Authorization": f"Bearer {reader}"})
    assert create.status_code == 403 and "vic" in create.json()["message"]
    head, claims, sig = reader.split(".")
    bad = post(f"{head}.{claims}.{sig[:-4]}AAAA")
    assert bad.status_code == 401 and "signature" in bad.json()["message"]
    other = post(provider.id_token("vic", client_id="another-app", groups=["ml"]))
    assert other.status_code == 401 and "audience" in other.json()["message"]
    assert post("shared-secret").status_code == 200  # the shared token still works
    assert post("wrong").status_code == 401
