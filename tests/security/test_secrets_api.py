"""``/api/loopml/v1/secrets``: admin routes, values never listed, reads only by admins or
granted service accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from loopml.security import Authenticator, IdentityKind, Principal, Role
from loopml.security._secrets_builtin import BuiltinSecretBackend
from loopml.security._secrets_keys import StaticKeys, decode_key, generate_key
from loopml.server._factory import build_services
from loopml.server.app import create_app

API = "/api/loopml/v1/secrets"


def _client(tmp_path: Path, who: Principal | None = None) -> TestClient:
    s = build_services(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    s.secrets = BuiltinSecretBackend(s.store.engine,  # type: ignore[attr-defined]
                                     StaticKeys([decode_key(generate_key(), "t")]))
    if who is None:
        return TestClient(create_app(s), base_url="http://127.0.0.1")
    return _as(s, who)


class _Fixed:
    """A verifier that accepts one bearer token as one principal."""

    def __init__(self, who: Principal) -> None:
        self.who = who

    def verify(self, scheme: str, credentials: str) -> Principal | None:
        return self.who if scheme == "bearer" and credentials == "t0k" else None


def _as(s: Any, who: Principal) -> TestClient:
    """A client whose requests the server's own verifier chain proves to be ``who``."""
    s.auth = Authenticator(None, None, [_Fixed(who)], required=True)
    return TestClient(create_app(s), base_url="http://127.0.0.1",
                      headers={"Authorization": "Bearer t0k"})


def test_crud_and_values_never_listed(tmp_path: Path) -> None:
    c = _client(tmp_path)
    r = c.post(API, json={"name": "slack", "value": "xoxb-secret-1"})
    assert r.status_code == 200 and r.json()["version"] == 1
    assert c.post(f"{API}/slack/rotate", json={"value": "xoxb-secret-2"}).json()["version"] == 2
    listed = c.get(API)
    assert "xoxb" not in listed.text
    assert listed.json()["secrets"][0]["name"] == "slack"
    v = c.get(f"{API}/slack/value")
    assert v.json()["value"] == "xoxb-secret-2" and v.headers["cache-control"] == "no-store"
    assert c.get(f"{API}/slack/value?version=1").json()["value"] == "xoxb-secret-1"
    # Workspace from the header the mlflow client sends.
    ws = {"X-MLFLOW-WORKSPACE": "team-a"}
    assert c.get(f"{API}/slack/value", headers=ws).status_code == 404
    assert c.delete(f"{API}/slack").status_code == 200
    assert c.get(f"{API}/slack/value").status_code == 404
    bad = c.post(API, json={"name": "../x", "value": "v"})
    assert bad.status_code == 400 and "secret name" in bad.json()["message"]


def _create_service_account(folder: Path, name: str) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    uri = f"sqlite:///{folder / 'db'}"
    r = CliRunner().invoke(app, ["service-accounts", "create", name, "--tracking-uri", uri])
    assert r.exit_code == 0, r.output


def test_only_admins_and_granted_service_accounts_read(tmp_path: Path) -> None:
    admin = _client(tmp_path / "one")
    admin.post(API, json={"name": "db", "value": "pg-password-1"})
    engine_dir = tmp_path / "one"
    job = Principal("trainer", IdentityKind.SERVICE_ACCOUNT, {"default": Role.EDITOR})
    person = Principal("ann", IdentityKind.USER, {"default": Role.APPROVER})
    boss = Principal("root", IdentityKind.USER, {"*": Role.ADMIN})

    def client_as(who: Principal) -> TestClient:
        # Same database: a second app over it, as that caller.
        s = build_services(f"sqlite:///{engine_dir / 'db'}", str(engine_dir / "a"))
        s.secrets = admin.app.state.services.secrets  # type: ignore[attr-defined]
        return _as(s, who)

    denied = client_as(job).get(f"{API}/db/value")
    assert denied.status_code == 403 and "loopml secrets grant db" in denied.json()["message"]
    assert client_as(person).get(f"{API}/db/value").status_code == 403
    # Only an existing service account can be granted a secret.
    for subject in ("trainer", "../x"):
        bad = admin.post(f"{API}/db/grants", json={"subject": subject})
        assert bad.status_code == 400 and "service-accounts create" in bad.json()["message"]
    _create_service_account(engine_dir, "trainer")
    assert admin.post(f"{API}/db/grants", json={"subject": "trainer"}).status_code == 200
    assert admin.get(f"{API}/db/grants").json() == {"grants": ["trainer"]}
    assert client_as(job).get(f"{API}/db/value").json()["value"] == "pg-password-1"
    assert client_as(person).get(f"{API}/db/value").status_code == 403  # users need admin
    assert client_as(boss).get(f"{API}/db/value").status_code == 200
    assert admin.delete(f"{API}/db/grants/trainer").status_code == 200
    assert client_as(job).get(f"{API}/db/value").status_code == 403


def test_routes_declare_admin_except_reading(tmp_path: Path) -> None:
    from loopml.security import Permission

    app = create_app(build_services(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a")))
    perms = {(r.path, m): r.permission for r in app.routes  # type: ignore[attr-defined]
             if r.path.startswith(API) for m in r.methods}  # type: ignore[attr-defined]
    assert perms[(f"{API}/{{name}}/value", "GET")] is Permission.READ
    others = {k: v for k, v in perms.items() if not k[0].endswith("/value")}
    assert others and set(others.values()) == {Permission.ADMIN}


def test_without_a_key_the_routes_say_what_to_set(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPML_SECRETS_KEY", raising=False)
    monkeypatch.delenv("LOOPML_SECRETS_KEY_FILE", raising=False)
    c = TestClient(create_app(build_services(f"sqlite:///{tmp_path / 'db'}",
                                             str(tmp_path / "a"))), base_url="http://127.0.0.1")
    r = c.get(API)
    assert r.status_code == 400 and "keygen" in r.json()["message"]


def test_cli_against_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app
    from tests.server.conftest import start_server

    monkeypatch.setenv("LOOPML_SECRETS_KEY", generate_key())  # the server's backend key
    srv = start_server(tmp_path / "srv")
    try:
        r, uri = CliRunner(), ["--tracking-uri", srv.url]
        ws = ["--workspace", "team-a"]
        nope = r.invoke(app, ["secrets", "set", "hook", "--workspace", "nope", *uri],
                        input="remote-value-0")
        assert nope.exit_code == 2 and "loopml workspaces create nope" in nope.output
        assert r.invoke(app, ["workspaces", "create", "team-a", *uri]).exit_code == 0
        out = r.invoke(app, ["secrets", "set", "hook", *ws, *uri], input="remote-value-1")
        assert out.exit_code == 0 and "version 1" in out.output, out.output
        assert "hook\tversion 1" in r.invoke(app, ["secrets", "list", *ws, *uri]).output
        assert r.invoke(app, ["secrets", "list", *uri]).output == ""  # default: none
        got = r.invoke(app, ["secrets", "get", "hook", "--reveal", *ws, *uri])
        assert got.output.strip() == "remote-value-1"
        assert r.invoke(app, ["secrets", "delete", "hook", *ws, *uri]).exit_code == 0
        assert r.invoke(app, ["secrets", "get", "hook", "--reveal", *ws, *uri]).exit_code == 2
    finally:
        srv.stop()


def test_every_value_read_is_audited(tmp_path: Path) -> None:
    admin = _client(tmp_path)
    admin.post(API, json={"name": "db", "value": "pg-password-1"})
    services = admin.app.state.services  # type: ignore[attr-defined]
    job = Principal("trainer", IdentityKind.SERVICE_ACCOUNT, {"default": Role.EDITOR})
    s = build_services(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "a"))
    s.secrets, s.audit = services.secrets, services.audit
    assert _as(s, job).get(f"{API}/db/value").status_code == 403
    assert admin.get(f"{API}/db/value").status_code == 200
    services.audit.flush()
    reads = services.audit.query(action="secret.read")
    assert sorted((r.actor, r.outcome) for r in reads) == [
        ("anonymous", "allow"), ("trainer", "deny")]
    assert all(r.target == "db" and "pg-password" not in r.canonical().decode() for r in reads)
