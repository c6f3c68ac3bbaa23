"""Kubernetes: the values contract of the Helm chart deploy/helm/loopml and ``loopml k8s
render``, which produces the chart's manifests without Helm (docs/kubernetes.md)."""

from __future__ import annotations

from loopml.k8s._render import render
from loopml.k8s._values import Values, default_values, load_values, values_schema

__all__ = ["Values", "default_values", "load_values", "render", "values_schema"]
