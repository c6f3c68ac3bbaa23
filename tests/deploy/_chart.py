"""Rendering the chart for the deploy tests: with real Helm (helm-python-sdk: Helm's Go
engine as a library) and with ``loopml k8s render``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopml.k8s import load_values, render

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "loopml"
VALUES = sorted((Path(__file__).parent / "values").glob("*.yaml"))
RELEASE, NAMESPACE = "rel", "ml"
Obj = dict[str, Any]


def helm() -> Any:
    """The helm_python module; a skip (a failure under CI=true) where it is missing."""
    try:
        import helm_python
    except ImportError as e:  # pragma: no cover - dev dependency
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"helm-python-sdk is not installed ({e}); pip install -e '.[dev]'")
    return helm_python


def values_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def render_python(path: Path) -> list[Obj]:
    return render(load_values([values_of(path)], str(path)), RELEASE, NAMESPACE)


def render_helm(path: Path | dict[str, Any]) -> list[Obj]:
    h = helm()
    values = path if isinstance(path, dict) else values_of(path)
    out = h.Chart.load(str(CHART)).render(values=values, name=RELEASE, namespace=NAMESPACE)
    return [d for text in out.values() for d in yaml.safe_load_all(text) if d]


def key(o: Obj) -> tuple[str, str, str]:
    return o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]


def pods(objs: list[Obj]) -> list[tuple[Obj, Obj]]:
    """(object, pod template) of every workload, RayCluster groups included."""
    out: list[tuple[Obj, Obj]] = []
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            out.append((o, o["spec"]["template"]))
        elif o["kind"] == "CronJob":
            out.append((o, o["spec"]["jobTemplate"]["spec"]["template"]))
        elif o["kind"] == "Pod":
            out.append((o, {"metadata": o["metadata"], "spec": o["spec"]}))
        elif o["kind"] == "RayCluster":
            out.append((o, o["spec"]["headGroupSpec"]["template"]))
            out += [(o, g["template"]) for g in o["spec"].get("workerGroupSpecs", [])]
    return out
