"""Every rendered object: strict Kubernetes OpenAPI validation (kubernetes-validate, the
oldest and newest minor the chart supports), KubeRay's documented RayCluster fields, the
security properties of every pod, and references that resolve inside the render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopml.errors import InvalidConfig
from loopml.k8s import load_values, render
from tests.deploy._chart import NAMESPACE, VALUES, pods, render_python, values_of
from tests.deploy._checks import reference_problems, security_problems, with_bare_workload

KUBE_VERSIONS = ("1.27", "1.37")  # Chart.yaml kubeVersion >=1.27; the newest schemas shipped

# KubeRay ray.io/v1 RayCluster, from its API types (ray-project/kuberay,
# ray-operator/apis/ray/v1/raycluster_types.go; the API reference at
# ray-project.github.io/kuberay/reference/api/): the fields a RayCluster spec, its head
# group and its worker groups may have. Pod templates are checked as core/v1 PodTemplates.
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
RAYCLUSTER_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "ray.io/v1"}, "kind": {"const": "RayCluster"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["headGroupSpec"], "additionalProperties": False,
                 "properties": {
                     "headGroupSpec": {
                         "type": "object", "required": ["rayStartParams", "template"],
                         "additionalProperties": False, "properties": {
                             "serviceType": {"enum": ["ClusterIP", "NodePort",
                                                      "LoadBalancer"]},
                             "headService": {"type": "object"},
                             "enableIngress": {"type": "boolean"},
                             "rayStartParams": _STR_MAP, "template": {"type": "object"}}},
                     "workerGroupSpecs": {"type": "array", "items": {
                         "type": "object",
                         "required": ["groupName", "minReplicas", "maxReplicas",
                                      "rayStartParams", "template"],
                         "additionalProperties": False, "properties": {
                             "groupName": {"type": "string", "minLength": 1},
                             "replicas": {"type": "integer", "minimum": 0},
                             "minReplicas": {"type": "integer", "minimum": 0},
                             "maxReplicas": {"type": "integer", "minimum": 0},
                             "numOfHosts": {"type": "integer", "minimum": 1},
                             "rayStartParams": _STR_MAP, "template": {"type": "object"},
                             "scaleStrategy": {"type": "object"}}}},
                     "rayVersion": {"type": "string"},
                     "enableInTreeAutoscaling": {"type": "boolean"},
                     "autoscalerOptions": {"type": "object"},
                     "headServiceAnnotations": _STR_MAP,
                     "suspend": {"type": "boolean"}}}}}


def _existing_secrets(path: Path) -> set[str]:
    v = load_values([values_of(path)])
    return {s for s in (v.credentials.existingSecret, v.workspaceSecrets) if s}


@pytest.fixture(scope="module", params=VALUES, ids=lambda p: p.stem)
def rendered(request: pytest.FixtureRequest) -> tuple[Path, list[dict[str, Any]]]:
    return request.param, render_python(request.param)


def test_every_object_passes_strict_schema_validation(
        rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    _, objs = rendered
    for o in objs:
        if o["kind"] == "RayCluster":
            jsonschema.validate(o, RAYCLUSTER_SCHEMA)
            groups = [o["spec"]["headGroupSpec"], *o["spec"].get("workerGroupSpecs", [])]
            for g in groups:
                assert all(isinstance(v, str) for v in g["rayStartParams"].values())
                assert g.get("maxReplicas", 0) >= g.get("minReplicas", 0)
                for version in KUBE_VERSIONS:
                    kubernetes_validate.validate(
                        {"apiVersion": "v1", "kind": "PodTemplate",
                         "metadata": {"name": "t"}, "template": g["template"]},
                        version, strict=True)
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(o, version, strict=True)


def test_every_pod_is_locked_down(rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    path, objs = rendered
    netpol = load_values([values_of(path)]).networkPolicy.enabled
    assert pods(objs), "no workload rendered"
    assert security_problems(objs, netpol) == []


def test_every_reference_resolves_in_the_render(
        rendered: tuple[Path, list[dict[str, Any]]]) -> None:
    path, objs = rendered
    assert reference_problems(objs, _existing_secrets(path)) == []


def test_a_bare_new_workload_is_caught() -> None:
    full = next(p for p in VALUES if p.stem == "full")
    objs = with_bare_workload(render_python(full), NAMESPACE)
    problems = "\n".join(security_problems(objs) + reference_problems(objs, set()))
    for want in ("no ServiceAccount of its own", "mounts a ServiceAccount token",
                 "may run as root", "writable root filesystem", "no limits for cpu, memory",
                 "capabilities not all dropped", "no default-deny NetworkPolicy",
                 "no NetworkPolicy allows", "ConfigMap ml/nope is not in the render"):
        assert want in problems


_CPU = st.sampled_from(["100m", "1", "2500m", "0", "-1", "1.5", "lots", ""])
_MEM = st.sampled_from(["64Mi", "1Gi", "512", "1.5Gi", "-1Mi", ""])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uid=st.integers(-2, 70000), port=st.integers(0, 70000),
       cpu=_CPU, mem=_MEM, limits=st.booleans(), replicas=st.integers(-1, 5),
       name=st.sampled_from(["fraud", "Fraud", "a" * 41, "x-1", "-x"]))
def test_values_either_fail_with_a_reason_or_render_a_locked_down_release(
        uid: int, port: int, cpu: str, mem: str, limits: bool, replicas: int,
        name: str) -> None:
    res: dict[str, Any] = {"requests": {"cpu": cpu, "memory": mem}}
    if limits:
        res["limits"] = {"cpu": cpu, "memory": mem}
    values = {"podSecurity": {"runAsUser": uid},
              "modelServers": [{"name": name, "deployment": "d", "port": port,
                                "resources": res, "replicas": replicas}]}
    try:
        v = load_values([values])
    except InvalidConfig as e:
        assert e.message.startswith("values: ") and len(e.message) > 20
        return
    objs = render(v, "rel", "ml")
    assert security_problems(objs) == []
    assert reference_problems(objs, {"loopml-credentials"}) == []
