"""Issue 16: a deployment's ``env`` may hold ``${secret:NAME}``; the reference is stored as
written and resolved only when ``loopml serve`` loads the deployment, so the value appears
nowhere in the store, the events, the audit trail, the API responses or the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from loopml.entities import Deployment
from loopml.security._secrets_builtin import BuiltinSecretBackend
from loopml.security._secrets_keys import StaticKeys, decode_key, generate_key
from loopml.server._factory import build_services
from loopml.server.app import create_app

VALUE = "pg-Sup3r-secret-value-7781"
LML = "/api/loopml/v1"


def _app(tmp_path: Path) -> tuple[TestClient, object]:
    s = build_services(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    s.secrets = BuiltinSecretBackend(s.store.engine,  # type: ignore[attr-defined]
                                     StaticKeys([decode_key(generate_key(), "t")]))
    return TestClient(create_app(s), base_url="http://127.0.0.1"), s


def test_the_secret_value_appears_nowhere_but_in_the_servers_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.serving.deployment_env import apply_env

    c, s = _app(tmp_path)
    assert c.post(f"{LML}/secrets", json={"name": "db", "value": VALUE}).status_code == 200
    s.registry.create_registered_model("m")  # type: ignore[attr-defined]
    s.registry.create_model_version("m", "/tmp/m")  # type: ignore[attr-defined]  # noqa: S108
    env = {"DB_PASSWORD": "${secret:db}", "MODE": "fast"}
    body = {"name": "d", "routes": [{"model_uri": "models:/m/1", "weight": 100}], "env": env,
            "replicas": 2}
    seen = [c.post(f"{LML}/deployments", json=body)]
    seen.append(c.request("PATCH", f"{LML}/deployments/d", json={"env": env}))
    seen += [c.get(f"{LML}/deployments/d"), c.get(f"{LML}/deployments"), c.get("/ui/deployments"),
             c.get(f"{LML}/events", params={"types": "deployment.updated"})]
    assert all(r.status_code == 200 for r in seen), [r.text[:200] for r in seen]
    got = seen[2].json()["deployment"]
    assert (got["env"], got["replicas"], got["revision"]) == (env, 2, 2)  # as written
    for r in seen:
        assert VALUE not in r.text
    s.audit.flush()  # type: ignore[attr-defined]
    assert all(VALUE not in x.canonical().decode()
               for x in s.audit.query(limit=10_000))  # type: ignore[attr-defined]
    with s.store.engine.connect() as conn:  # type: ignore[attr-defined]
        for table in ("deployments", "events", "audit_log"):
            dump = repr(conn.execute(sa.text(f"SELECT * FROM {table}")).all())  # noqa: S608
            assert VALUE not in dump and (table != "deployments" or "${secret:db}" in dump)
    for f in tmp_path.glob("db.sqlite*"):  # every byte of the database, WAL included
        assert VALUE.encode() not in f.read_bytes(), f.name

    # loopml serve resolves it when it loads the deployment: the process environment only.
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    monkeypatch.delenv("MODE", raising=False)
    dep = Deployment.from_dict(got)
    assert apply_env(dep, s.secrets) == ["DB_PASSWORD", "MODE"]  # type: ignore[attr-defined]
    assert os.environ["DB_PASSWORD"] == VALUE and os.environ["MODE"] == "fast"
    from loopml._redact import redact_secrets

    assert VALUE not in redact_secrets(f"connect failed with {VALUE}")


@pytest.mark.parametrize("env, says", [
    ({"PYTHONPATH": "/x"}, "not allowed"), ({"LD_PRELOAD": "/x.so"}, "not allowed"),
    ({"LOOPML_AUTH_TOKEN": "x"}, "not allowed"), ({"1BAD": "x"}, "letters"),
    ({"OK": "${secret:}"}, "secret"), ({"OK": "${secret:db"}, "unclosed"),
    ({"OK": 5}, "string"), (["A=b"], "object")])
def test_bad_env_is_a_400_naming_it(tmp_path: Path, env: object, says: str) -> None:
    c, s = _app(tmp_path)
    s.registry.create_registered_model("m")  # type: ignore[attr-defined]
    s.registry.create_model_version("m", "/tmp/m")  # type: ignore[attr-defined]  # noqa: S108
    body = {"name": "d", "routes": [{"model_uri": "models:/m/1", "weight": 100}], "env": env}
    r = c.post(f"{LML}/deployments", json=body)
    assert r.status_code == 400 and says in r.json()["message"], r.text
    assert c.get(f"{LML}/deployments").json()["deployments"] == []
    bad = c.post(f"{LML}/deployments", json={**body, "env": {}, "replicas": 0})
    assert bad.status_code == 400 and "replicas" in bad.json()["message"]


def test_two_deployments_in_one_server_cannot_fight_over_a_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.errors import InvalidState
    from loopml.serving.deployment_env import apply_env

    monkeypatch.delenv("SHARED_X", raising=False)
    a = Deployment("env-a", (), env={"SHARED_X": "1"})
    b = Deployment("env-b", (), env={"SHARED_X": "2"})
    apply_env(a)
    with pytest.raises(InvalidState, match="separate"):
        apply_env(b)
    assert os.environ["SHARED_X"] == "1"
