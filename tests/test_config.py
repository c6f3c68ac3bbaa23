"""The validation layer (loopml._config) and the loaders built on it: messages name the
source, the key path and the closest valid choice; random input never escapes as anything
but InvalidConfig (Hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopml._config import read_yaml, suggest, validate
from loopml.automation.policy import Policy, load_policies
from loopml.config import load_settings
from loopml.errors import InvalidConfig, InvalidParameterValue
from loopml.monitoring.spec import MonitorSpec, load_specs

_TMP = Path(tempfile.mkdtemp(prefix="loopml-config-test-"))

# Keys of the models (so generated input reaches the deeper checks) plus noise.
KEYS = ["name", "deployment", "log_dir", "rules", "metric", "op", "threshold", "for_windows",
        "task", "window_seconds", "window_count", "webhooks", "url", "secret", "allow",
        "reference_profile", "schema", "labels", "monitors", "policies", "model", "trigger",
        "alerts", "schedule", "retrain", "pipeline", "params", "executor", "evaluate", "gate",
        "min", "canary", "weight", "dry_run", "tracking_uri", "home", "debug"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["drift.share_drifted", ">=",
                                                           "classification", "a:b", "* * * * *"]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner,
                        max_size=6)),
    max_leaves=25)


def _file(data: Any, name: str) -> Path:
    p = _TMP / name
    p.write_text(yaml.safe_dump(data))
    return p


def _names_a_path(e: InvalidConfig, source: str) -> None:
    assert e.message.startswith(f"{source}: ") and len(e.message) > len(source) + 3, e.message
    assert "\n" not in e.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_monitor_loader_only_raises_invalid_config(data: Any) -> None:
    f = _file(data, "monitors.yaml")
    try:
        specs = load_specs(f)
    except InvalidConfig as e:
        _names_a_path(e, str(f))
    else:
        assert specs and all(isinstance(s, MonitorSpec) for s in specs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_policy_loader_only_raises_invalid_config(data: Any) -> None:
    f = _file(data, "policies.yaml")
    try:
        pols = load_policies(f)
    except InvalidConfig as e:
        _names_a_path(e, str(f))
    else:
        assert pols and all(isinstance(p, Policy) for p in pols)


@settings(max_examples=100, deadline=None)
@given(VALUES)
def test_settings_file_only_raises_invalid_config(data: Any) -> None:
    f = _file(data, "loopml.yaml")
    try:
        load_settings(config_file=f)
    except InvalidConfig as e:
        assert str(f) in e.message and "\n" not in e.message


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_yaml_or_a_located_syntax_error(text: str) -> None:
    f = _TMP / "any.yaml"
    f.write_text(text)
    try:
        read_yaml(f)
    except InvalidConfig as e:
        assert e.message.startswith(f"{f}: ")


def test_messages_name_file_path_and_suggestion(tmp_path) -> None:
    f = tmp_path / "monitors.yaml"
    f.write_text(yaml.safe_dump({"monitors": [{
        "name": "m", "deployment": "d", "log_dir": ".", "rules": [
            {"name": "a", "metric": "requests", "op": ">", "threshold": 1},
            {"name": "b", "metric": "drift.shared_drifted", "op": ">", "threshold": 1}]}]}))
    with pytest.raises(InvalidConfig) as e:
        load_specs(f)
    assert e.value.message == (f"{f}: monitors[0].rules[1].metric: unknown metric "
                               "'drift.shared_drifted'; did you mean 'drift.share_drifted'?")
    assert isinstance(e.value, InvalidParameterValue) and e.value.http_status == 400


def test_monitor_layouts(tmp_path) -> None:
    spec = {"name": "m", "deployment": "d", "log_dir": "."}
    for layout in ([spec], {"monitors": [spec]}, spec):  # a single mapping: a list of one
        assert [s.name for s in load_specs(_file(layout, "m.yaml"))] == ["m"]
    for bad, msg in (({"monitors": []}, "no monitors"), ({}, "monitors: required"),
                     ([spec, spec], "unique"), (None, "empty"), (5, "expected a mapping")):
        with pytest.raises(InvalidConfig, match=msg):
            load_specs(_file(bad, "m.yaml"))


def test_direct_construction_raises_invalid_config() -> None:
    from loopml.monitoring.alerts import AlertRule

    with pytest.raises(InvalidConfig, match="op: '=>' is not valid"):
        AlertRule("x", "requests", "=>", 1)


def test_validate_and_suggest() -> None:
    assert suggest("f2", ["f1", "accuracy"]) == "; expected one of 'accuracy', 'f1'"
    assert suggest("acuracy", ["f1", "accuracy"]) == "; did you mean 'accuracy'?"
    with pytest.raises(InvalidConfig, match=r"^body: \[1\]: expected an integer, got 'x'$"):
        validate(list[int], [1, "x"], "body")


def test_settings_precedence(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    f = tmp_path / "s.yaml"
    f.write_text("tracking_uri: from-file\ndebug: true\n")
    monkeypatch.setenv("LOOPML_CONFIG", str(f))
    assert load_settings().tracking_uri == "from-file" and load_settings().debug
    monkeypatch.setenv("LOOPML_TRACKING_URI", "from-env")
    assert load_settings().tracking_uri == "from-env"
    assert load_settings(tracking_uri="from-flag").tracking_uri == "from-flag"
    monkeypatch.setenv("LOOPML_DEBUG", "perhaps")
    with pytest.raises(InvalidConfig, match="debug: "):
        load_settings()


def test_api_bodies_get_the_same_400(tmp_path) -> None:
    """Deployments through the API: a route to a version that does not exist, or weights
    that do not sum to 100, are a 400 naming the problem (main stored both)."""
    import httpx

    from tests.server.conftest import start_server

    srv = start_server(tmp_path)
    try:
        url = f"{srv.url}/api/loopml/v1/deployments"
        r = httpx.post(url, json={"name": "d", "routes": [
            {"model_uri": "models:/cancer/9", "weight": 100}]})
        assert r.status_code == 400 and "models:/cancer/9 does not exist" in r.json()["message"]
        r = httpx.post(url, json={"name": "d", "routes": [
            {"model_uri": "runs:/a/m", "weight": 50}, {"model_uri": "runs:/b/m", "weight": 20}]})
        assert r.status_code == 400 and "must sum to 100" in r.json()["message"]
        assert httpx.get(url).json()["deployments"] == []
    finally:
        srv.stop()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["cron", "event", "other"]), VALUES, VALUES)
def test_trigger_validation_only_raises_invalid_parameter(kind: str, spec: Any, params: Any) -> None:
    from loopml.pipelines.triggers import validate_trigger
    from loopml.store.pipelines_base import Trigger

    spec = spec if isinstance(spec, dict) else {"cron": spec, "types": spec}
    try:
        validate_trigger(Trigger("t", "m:p", kind, spec, params if isinstance(params, dict) else {}))
    except InvalidParameterValue as e:
        assert "\n" not in e.message


def test_server_guard_settings_keep_their_variables(monkeypatch) -> None:
    """The HTTP guard's variables (set by `loopml server` for its workers) read as before:
    comma-separated lists, LOOPML_SERVER_HOST, and an empty variable as not set."""
    from loopml.config import load_settings

    monkeypatch.setenv("LOOPML_SERVER_HOST", "0.0.0.0")
    monkeypatch.setenv("LOOPML_ALLOWED_HOSTS", "a.example, b.example")
    monkeypatch.setenv("LOOPML_TRUST_PROXY", "")
    s = load_settings()
    assert s.bind_host == "0.0.0.0" and s.allowed_hosts == ("a.example", "b.example")
    assert s.trust_proxy is False and s.max_body_bytes == 64 * 1024 * 1024


def test_tracking_token_file_fills_the_token(tmp_path, monkeypatch) -> None:
    """A mounted Secret (the chart's model servers) gives the token without an env value."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    monkeypatch.delenv("LOOPML_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("LOOPML_TRACKING_TOKEN_FILE", str(token))
    assert load_settings().tracking_token == "s3cret"
    monkeypatch.setenv("LOOPML_TRACKING_TOKEN", "direct")  # a token given directly wins
    assert load_settings().tracking_token == "direct"
    monkeypatch.delenv("LOOPML_TRACKING_TOKEN")
    token.write_text("\n")
    with pytest.raises(InvalidConfig, match="tracking_token_file .* empty"):
        load_settings()
    monkeypatch.setenv("LOOPML_TRACKING_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(InvalidConfig, match="cannot read it"):
        load_settings()
