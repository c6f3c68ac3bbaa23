"""A live loopml server accepting provider-issued JWTs: the unmodified mlflow client with
``MLFLOW_TRACKING_TOKEN=<JWT>``, the statuses a bad token gets over REST, and the
dashboard's authorization-code + PKCE sign-in driven end to end with httpx (redirects
followed by hand, the provider's consent form answered)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from loopml.security import TOKEN_COOKIE, Authenticator
from loopml.security._oidc_login import FLOW_COOKIE, Flow
from loopml.security.oidc import ClaimMapping, ClaimRule, JWTVerifier, OidcConfig
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


@pytest.fixture(scope="module")
def dash(provider: Provider, tmp_path_factory) -> Iterator[LiveServer]:
    mapping = ClaimMapping(rules=(ClaimRule("admins", "admin", "*"),))
    # A confidential client (the mock authenticates every client at its token endpoint).
    v = JWTVerifier(OidcConfig(provider.issuer, CLIENT_ID, client_id=CLIENT_ID,
                               client_secret="dashboard-secret", mapping=mapping))
    srv = start_server(tmp_path_factory.mktemp("oidc-dash"),
                       auth=Authenticator("shared-secret", None, [v]))
    yield srv
    srv.stop()


def _sign_in_redirect(dash: LiveServer) -> tuple[str, dict[str, str], dict[str, str]]:
    """(the provider URL loopml redirects to, its query, the flow cookie)."""
    r = httpx.get(f"{dash.url}/ui/login/oidc?next=/ui/audit")
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return url, query, {FLOW_COOKIE: r.cookies[FLOW_COOKIE]}


def test_dashboard_sign_in_with_pkce(provider: Provider, dash: LiveServer) -> None:
    provider.set_user("ana", groups=["admins"])
    url, q, flow_cookie = _sign_in_redirect(dash)
    assert url.startswith(provider.issuer + "/oauth2/authorize?")
    assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
    assert q["code_challenge_method"] == "S256" and q["state"] and q["nonce"]
    assert q["redirect_uri"] == f"{dash.url}/ui/oidc/callback"
    flow = Flow.from_cookie(flow_cookie[FLOW_COOKIE])
    assert create_s256_code_challenge(flow.verifier) == q["code_challenge"]
    assert flow.verifier not in url  # only the challenge leaves the browser
    # The user signs in at the provider, which redirects back with a code.
    back = httpx.post(url, data={"sub": "ana"})
    assert back.status_code == 302 and back.headers["location"].startswith(q["redirect_uri"])
    cb = httpx.get(back.headers["location"], cookies=flow_cookie)
    assert cb.status_code == 303 and cb.headers["location"] == "/ui/audit", cb.text
    session = cb.cookies[TOKEN_COOKIE]
    assert session.count(".") == 2  # the verified ID token
    set_cookie = " ".join(cb.headers.get_list("set-cookie")).lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    page = httpx.get(f"{dash.url}/ui/audit", cookies={TOKEN_COOKIE: session})
    assert page.status_code == 200 and "login.oidc" in page.text and "ana" in page.text
    # The same code cannot be used twice; a callback without the flow cookie is refused.
    again = httpx.get(back.headers["location"], cookies=flow_cookie)
    assert again.status_code == 401
    assert httpx.get(back.headers["location"]).status_code == 401


def test_sign_in_refuses_a_forged_state(provider: Provider, dash: LiveServer) -> None:
    url, q, flow_cookie = _sign_in_redirect(dash)
    back = httpx.post(url, data={"sub": "ana"}).headers["location"]
    forged = back.replace(f"state={q['state']}", "state=attacker")
    r = httpx.get(forged, cookies=flow_cookie)
    assert r.status_code == 401 and "state" in r.text


def test_sign_in_without_a_role_is_refused(provider: Provider, dash: LiveServer) -> None:
    provider.set_user("nobody", groups=["guests"])
    url, _, flow_cookie = _sign_in_redirect(dash)
    back = httpx.post(url, data={"sub": "nobody"}).headers["location"]
    r = httpx.get(back, cookies=flow_cookie)
    assert r.status_code == 403 and "no role" in r.text and TOKEN_COOKIE not in r.cookies
