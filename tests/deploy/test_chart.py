"""The chart and ``loopml k8s render`` cannot drift: same values contract, same objects.

The Python model (src/loopml/k8s/_values.py) is the values contract: values.yaml and
values.schema.json are generated from it and checked here; real Helm renders the chart for
every values file under values/ and each object must equal the Python renderer's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.errors import InvalidConfig
from loopml.k8s import default_values, load_values, values_schema
from loopml.k8s._render import ADAPTER_RULES
from tests.deploy._chart import CHART, VALUES, helm, key, render_helm, render_python

INSECURE = [
    ({"podSecurity": {"runAsUser": 0}}, "runAsUser"),
    ({"controlPlane": {"resources": {"limits": None}}}, "limits"),
    ({"modelServers": [{"name": "a", "deployment": "a",
                        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}, "limits"),
    ({"modelServerDefaults": {"resources": {"limits": {"memory": None}}}}, "memory"),
    ({"image": {"tag": "latest"}}, "tag"),
    ({"credentials": {"existingSecret": ""}}, "authToken"),
    ({"controlPlane": {"port": 80}}, "port"),
    ({"controlPlane": {"rbacRules": [{"apiGroups": [""], "resources": ["*"],
                                      "verbs": ["get"]}]}}, "resources"),
    ({"modelServers": [{"name": "a", "deployment": "a", "rbacRules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]}]}, "verbs"),
]


def _normal(o: dict[str, Any]) -> dict[str, Any]:
    """Embedded documents compare as data (Helm's toYaml and PyYAML format differently)."""
    o = json.loads(json.dumps(o))
    if o["kind"] == "ConfigMap":
        o["data"] = {k: yaml.safe_load(v) if k.endswith((".yaml", ".json")) else v
                     for k, v in (o.get("data") or {}).items()}
    return o


def test_values_yaml_and_schema_are_generated_from_the_model() -> None:
    assert yaml.safe_load((CHART / "values.yaml").read_text()) == default_values(), \
        "regenerate: loopml k8s values > deploy/helm/loopml/values.yaml (keep the header)"
    assert json.loads((CHART / "values.schema.json").read_text()) == values_schema(), \
        "regenerate: loopml k8s schema > deploy/helm/loopml/values.schema.json"
    rules = yaml.safe_load((CHART / "files" / "prometheus-adapter-rules.yaml").read_text())
    assert rules == {"rules": ADAPTER_RULES}


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_helm_and_python_render_the_same_objects(values: Path) -> None:
    by_helm = {key(o): _normal(o) for o in render_helm(values)}
    by_python = {key(o): _normal(o) for o in render_python(values)}
    assert sorted(by_helm) == sorted(by_python)
    for k, o in by_python.items():
        assert by_helm[k] == o, k


def test_helm_lint_is_clean() -> None:
    report = helm().lint(str(CHART), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(("bad", "word"), INSECURE, ids=[f"{i}-{w}" for i, (_, w) in enumerate(INSECURE)])
def test_insecure_values_fail_both_renders_with_the_reason(bad: dict[str, Any],
                                                           word: str) -> None:
    with pytest.raises(InvalidConfig, match=word):
        load_values([bad])
    h = helm()
    with pytest.raises(h.HelmValuesError, match=word):
        render_helm(bad)


def test_cli_renders_to_a_folder_and_refuses_bad_values(tmp_path: Path) -> None:
    runner = CliRunner()
    full = next(p for p in VALUES if p.stem == "full")
    r = runner.invoke(app, ["k8s", "render", "-f", str(full), "--output", str(tmp_path / "o"),
                            "--release-name", "rel", "-n", "ml"])
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "o").glob("*.yaml"))
    assert [key(yaml.safe_load(f.read_text())) for f in files] == \
        [key(o) for o in render_python(full)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("podSecurity: {runAsUser: 0}\nmodelServerz: []\n")
    r = runner.invoke(app, ["k8s", "render", "-f", str(bad)])
    assert r.exit_code == 2
    assert "runAsUser" in r.output and "modelServerz" in r.output
    r = runner.invoke(app, ["k8s", "render"])
    assert r.exit_code == 0 and "kind: Deployment" in r.output
