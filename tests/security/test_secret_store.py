"""The secrets store: backends, encryption at rest, references, redaction, settings."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from loopml import _redact
from loopml.config import load_settings
from loopml.errors import (
    InternalError,
    InvalidConfig,
    InvalidParameterValue,
    InvalidState,
    ResourceDoesNotExist,
)
from loopml.security._secrets_builtin import BuiltinSecretBackend
from loopml.security._secrets_env import EnvSecretBackend
from loopml.security._secrets_files import FileSecretBackend
from loopml.security._secrets_keys import StaticKeys, decode_key, file_keys, generate_key
from loopml.security.secrets import (
    SecretBackend,
    SecretInfo,
    SecretValue,
    get_secret_backend,
    parse_refs,
    resolve_refs,
)
from loopml.security.workspaces import get_workspace_store
from loopml.store.sql import SqlStore


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    return SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a")).engine


@pytest.fixture
def builtin(engine: sa.Engine) -> BuiltinSecretBackend:
    return BuiltinSecretBackend(engine, StaticKeys([decode_key(generate_key(), "test")]))


def test_builtin_versions_rotation_and_workspaces(builtin: BuiltinSecretBackend) -> None:
    assert builtin.put("hook", "first-value") == 1
    assert builtin.put("hook", "second-value") == 2
    assert builtin.get("hook").value == "second-value" and builtin.get("hook").version == 2
    assert builtin.get("hook", version=1).value == "first-value"
    assert builtin.rotate("hook", "third-value") == 3
    with pytest.raises(ResourceDoesNotExist):
        builtin.rotate("missing", "x")
    # Same name, another workspace: another secret (in a workspace that exists).
    with pytest.raises(ResourceDoesNotExist, match="loopml workspaces create team-a"):
        builtin.put("hook", "team-value", "team-a")
    get_workspace_store(builtin.engine).create("team-a")
    assert builtin.put("hook", "team-value", "team-a") == 1
    assert builtin.get("hook", "team-a").value == "team-value"
    assert builtin.list_names() == [SecretInfo("hook", "default", 3,
                                               builtin.list_names()[0].created_time)]
    assert [i.name for i in builtin.list_names("team-b")] == []
    assert builtin.prune("hook", keep=1) == 2
    with pytest.raises(ResourceDoesNotExist):
        builtin.get("hook", version=1)
    builtin.delete("hook")
    with pytest.raises(ResourceDoesNotExist, match="loopml secrets set hook"):
        builtin.get("hook")
    assert builtin.get("hook", "team-a").value == "team-value"


def test_builtin_encrypts_at_rest_and_binds_rows(builtin: BuiltinSecretBackend,
                                                 engine: sa.Engine) -> None:
    builtin.put("db-password", "correct horse battery staple")
    builtin.put("other", "x-value")
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT name, ciphertext FROM secrets")).all()
        assert all(b"correct horse" not in bytes(r[1]) for r in rows)
        # A ciphertext copied onto another secret's row fails authentication there.
        blob = next(bytes(r[1]) for r in rows if r[0] == "db-password")
        conn.execute(sa.text("UPDATE secrets SET ciphertext=:b WHERE name='other'"), {"b": blob})
    with pytest.raises(InternalError, match="fails authentication"):
        builtin.get("other")
    assert "correct horse" not in repr(builtin.get("db-password"))


def test_master_key_rotation(engine: sa.Engine, tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    (tmp_path / "k1").write_text(old + "\n")
    BuiltinSecretBackend(engine, file_keys(tmp_path / "k1")).put("s", "value-1")
    (tmp_path / "k2").write_text(f"# current first\n{new}\n{old}\n")
    both = BuiltinSecretBackend(engine, file_keys(tmp_path / "k2"))
    assert both.get("s").value == "value-1"  # the old key still decrypts
    assert both.rekey() == 1 and both.rekey() == 0
    (tmp_path / "k3").write_text(new)
    assert BuiltinSecretBackend(engine, file_keys(tmp_path / "k3")).get("s").value == "value-1"
    only_old = BuiltinSecretBackend(engine, file_keys(tmp_path / "k1"))
    with pytest.raises(InternalError, match="no longer holds"):
        only_old.get("s")


def test_env_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_SECRET_SLACK_URL", "https://hooks.example/x")
    monkeypatch.setenv("LOOPML_SECRET_TEAM_A__TOKEN", "team-token")
    b = EnvSecretBackend()
    assert b.get("slack-url").value == "https://hooks.example/x"
    assert b.get("token", "team-a").value == "team-token"
    assert "slack_url" in [i.name for i in b.list_names()]
    assert "team_a__token" not in [i.name for i in b.list_names()]
    with pytest.raises(ResourceDoesNotExist, match="LOOPML_SECRET_NOPE"):
        b.get("nope")
    with pytest.raises(InvalidState, match="read-only"):
        b.put("x", "y")


def test_files_backend_reads_a_kubernetes_style_mount(tmp_path: Path) -> None:
    (tmp_path / "..data").mkdir()  # the kubelet's own entries are skipped
    (tmp_path / "..data" / "api-key").write_text("k8s-value\n")
    (tmp_path / "api-key").symlink_to(tmp_path / "..data" / "api-key")
    (tmp_path / "team-a").mkdir()
    (tmp_path / "team-a" / "api-key").write_text("team-value")
    b = FileSecretBackend(tmp_path)
    assert b.get("api-key").value == "k8s-value"
    assert b.get("api-key", "team-a").value == "team-value"
    assert [i.name for i in b.list_names()] == ["api-key"]
    with pytest.raises(InvalidParameterValue):
        b.get("../etc/passwd")
    with pytest.raises(ResourceDoesNotExist):
        b.get("missing")


class DictBackend(SecretBackend):
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str, workspace: str = "default",
            version: int | None = None) -> SecretValue:
        if name not in self.values:
            raise ResourceDoesNotExist(name)
        return SecretValue(name, workspace, 1, self.values[name])

    def list_names(self, workspace: str = "default") -> list[SecretInfo]:
        return [SecretInfo(n, workspace, 1) for n in sorted(self.values)]


_names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
_literal = st.text(st.characters(blacklist_characters="$", blacklist_categories=("Cs",)),
                   max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_literal, _names), max_size=5), _literal)
def test_reference_parser_round_trips(parts: list[tuple[str, str]], tail: str) -> None:
    text = "".join(f"{lit}${{secret:{name}}}" for lit, name in parts) + tail
    assert parse_refs(text) == [name for _, name in parts]
    values = {name: f"<{name}>" for _, name in parts}
    out = resolve_refs(text, DictBackend(values))
    assert out == "".join(f"{lit}<{name}>" for lit, name in parts) + tail
    assert resolve_refs({"k": [text]}, DictBackend(values)) == {"k": [out]}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_reference_parser_never_lets_a_malformed_reference_through(inner: str) -> None:
    text = f"a ${{secret:{inner}"
    try:
        names = parse_refs(text)
    except InvalidParameterValue:
        return
    # Accepted only when the text really is well-formed references.
    assert "${secret:" + names[-1] + "}" in text


def test_malformed_references_fail_loudly() -> None:
    for bad in ("${secret:}", "${secret:a b}", "x ${secret:open", "${secret:.hidden}"):
        with pytest.raises(InvalidParameterValue):
            parse_refs(bad)
    assert parse_refs("no refs ${other} $secret") == []


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12))
def test_settings_loader_accepts_only_known_backends(value: str) -> None:
    old = os.environ.get("LOOPML_SECRETS_BACKEND")
    try:
        if "\x00" in value:
            return
        os.environ["LOOPML_SECRETS_BACKEND"] = value
        try:
            s = load_settings()
        except InvalidConfig as e:
            assert "secrets_backend" in str(e) or "LOOPML_SECRETS" in str(e)
            return
        assert s.secrets_backend in ("builtin", "env", "files")
    finally:
        os.environ.pop("LOOPML_SECRETS_BACKEND", None)
        if old is not None:
            os.environ["LOOPML_SECRETS_BACKEND"] = old


def test_builtin_backend_without_a_key_exits_2_with_the_fix(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from loopml.cli.main import app

    monkeypatch.setenv("LOOPML_HOME", str(tmp_path))
    monkeypatch.delenv("LOOPML_SECRETS_KEY", raising=False)
    monkeypatch.delenv("LOOPML_SECRETS_KEY_FILE", raising=False)
    with pytest.raises(InvalidConfig, match="keygen"):
        load_settings(secrets_backend="builtin")
    with pytest.raises(InvalidConfig, match="keygen"):
        get_secret_backend(load_settings())  # the default backend, used without a key
    monkeypatch.setenv("LOOPML_SECRETS_BACKEND", "builtin")
    result = CliRunner().invoke(app, ["secrets", "list"])
    assert result.exit_code == 2, result.output
    assert "keygen" in result.output
    monkeypatch.setenv("LOOPML_SECRETS_BACKEND", "files")
    assert CliRunner().invoke(app, ["secrets", "list"]).exit_code == 2


def test_cli_set_get_list_rotate_delete(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from loopml.cli.main import app

    monkeypatch.setenv("LOOPML_HOME", str(tmp_path))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    monkeypatch.setenv("LOOPML_SECRETS_KEY", generate_key())
    r = CliRunner()
    assert r.invoke(app, ["secrets", "set", "hook"], input="v1-secret\n").output.strip() \
        == "hook: version 1"
    assert "version 2" in r.invoke(app, ["secrets", "rotate", "hook"], input="v2-secret").output
    listed = r.invoke(app, ["secrets", "list"]).output
    assert "hook" in listed and "v2-secret" not in listed
    assert r.invoke(app, ["secrets", "get", "hook"]).exit_code == 2  # needs --reveal
    assert r.invoke(app, ["secrets", "get", "hook", "--reveal"]).output.strip() == "v2-secret"
    out = r.invoke(app, ["secrets", "get", "hook", "--reveal", "--version", "1"]).output
    assert out.strip() == "v1-secret"
    binary = tmp_path / "key.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    nontext = r.invoke(app, ["secrets", "set", "bin", "--from-file", str(binary)])
    assert nontext.exit_code == 2 and "UTF-8" in nontext.output, nontext.output
    nobody = r.invoke(app, ["secrets", "grant", "hook", "trainer"])
    assert nobody.exit_code == 2 and "service-accounts create trainer" in nobody.output
    assert r.invoke(app, ["service-accounts", "create", "trainer"]).exit_code == 0
    assert r.invoke(app, ["secrets", "grant", "hook", "trainer"]).exit_code == 0
    assert r.invoke(app, ["secrets", "revoke", "hook", "trainer"]).exit_code == 0
    assert r.invoke(app, ["secrets", "delete", "hook"]).exit_code == 0
    assert r.invoke(app, ["secrets", "get", "hook", "--reveal"]).exit_code == 2
    assert len(r.invoke(app, ["secrets", "keygen"]).output.strip()) == 44


def test_resolved_values_are_redacted_in_logs_and_messages(
        caplog: pytest.LogCaptureFixture) -> None:
    out = resolve_refs("Bearer ${secret:api}", DictBackend({"api": "tok-9f8e7d6c5b"}))
    assert out == "Bearer tok-9f8e7d6c5b"
    with caplog.at_level(logging.INFO, logger="loopml.test"):
        logging.getLogger("loopml.test").info("calling with %s", out)
    assert "tok-9f8e7d6c5b" not in caplog.text and "Bearer ***" in caplog.text
    assert _redact.redact_text(f"error: {out}") == "error: Bearer ***"


def test_webhook_secret_is_a_reference_resolved_at_delivery(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from loopml.monitoring import webhooks

    sent: list[dict[str, str]] = []

    def post(url: str, **kw: object) -> httpx.Response:
        sent.append({"url": url, **kw["headers"]})  # type: ignore[dict-item]
        return httpx.Response(200)

    monkeypatch.setattr(webhooks.httpx, "post", post)
    backend = DictBackend({"hook-key": "whsec-123456", "hook-host": "127.0.0.1"})
    [hook] = webhooks.parse_hooks([{"url": "http://${secret:hook-host}:9/alerts",
                                    "secret": "${secret:hook-key}", "allow": ["127.0.0.1"]}])
    hook.secrets = backend
    assert webhooks.deliver(hook, {"type": "alert.firing"}).ok
    assert hook.secret == "${secret:hook-key}"  # never kept resolved
    h = sent[0]
    assert h["url"] == "http://127.0.0.1:9/alerts"
    body = b'{"type":"alert.firing"}'
    assert webhooks.verify_signature("whsec-123456", h[webhooks.TIMESTAMP_HEADER], body,
                                     h[webhooks.SIGNATURE_HEADER])
    backend.values["hook-key"] = "whsec-rotated"  # a rotation applies at the next delivery
    assert webhooks.deliver(hook, {"type": "alert.firing"}).ok
    assert webhooks.verify_signature("whsec-rotated", sent[1][webhooks.TIMESTAMP_HEADER], body,
                                     sent[1][webhooks.SIGNATURE_HEADER])
    with pytest.raises(InvalidParameterValue):
        webhooks.parse_hooks([{"url": "http://x", "secret": "${secret:bad name}"}])


def test_pipeline_parameter_reference_resolved_only_for_the_step(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from loopml.tracking._client import TrackingClient
    from tests.security import secret_flows

    monkeypatch.setenv("LOOPML_SECRETS_BACKEND", "env")
    monkeypatch.setenv("LOOPML_SECRET_API_TOKEN", "tok-live-123456")
    monkeypatch.setenv("EXPECTED_TOKEN", "tok-live-123456")
    client = TrackingClient(store=SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}",
                                           str(tmp_path / "artifacts")))
    res = secret_flows.uses_secret.run({"token": "${secret:api-token}"}, client=client)
    assert res.succeeded, res.run.error
    assert res.run.params == {"token": "${secret:api-token}"}
    assert res.steps["call_api"].inputs["token"] == {"value": "${secret:api-token}"}
    parent = client.get_run(str(res.run.tracking_run_id))
    assert parent.data.params["token"] == "${secret:api-token}"
    assert "tok-live" not in str(client.store.read_events())


def test_builtin_on_postgresql(postgres_uri: str, tmp_path: Path) -> None:
    store = SqlStore(postgres_uri, str(tmp_path / "a"))
    try:
        b = BuiltinSecretBackend(store.engine, StaticKeys([decode_key(generate_key(), "t")]))
        assert b.put("pg", "pg-value-1") == 1 and b.rotate("pg", "pg-value-2") == 2
        assert b.get("pg").value == "pg-value-2" and b.get("pg", version=1).value == "pg-value-1"
        assert [i.name for i in b.list_names()] == ["pg"]
        b.delete("pg")
        assert b.list_names() == []
    finally:
        store.close()
