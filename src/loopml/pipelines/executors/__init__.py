"""Executors by name: ``EXECUTORS`` maps a name (or URI scheme) to a factory; the built-ins
use the same table a plugin would add to."""

from __future__ import annotations

import importlib
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.pipelines.executors.base import Executor

EXECUTORS: dict[str, str] = {
    "inprocess": "loopml.pipelines.executors.local:InProcessExecutor",
    "process": "loopml.pipelines.executors.local:ProcessExecutor",
    "ray": "loopml.pipelines.executors.ray:RayExecutor",
}


def parse_spec(spec: str | None) -> tuple[str, str]:
    """Check an executor spec without starting anything: (name, argument)."""
    spec = (spec or "inprocess").strip()
    if spec.startswith("ray://"):
        name, arg = "ray", spec
    else:
        name, _, arg = spec.partition(":")
    if name not in EXECUTORS:
        raise InvalidParameterValue(
            f"Unknown executor {spec!r}. Use one of: inprocess, process[:N], ray, "
            "ray://host:port.")
    if name in ("process", "inprocess") and arg and not (arg.isdigit() and int(arg) > 0):
        raise InvalidParameterValue(f"Executor {spec!r}: use {name}:N with N >= 1.")
    return name, arg


def get_executor(spec: str | Executor | None) -> Executor:
    """``inprocess`` (default; ``inprocess:N`` runs N calls at once on threads, which the
    tuner uses), ``process`` or ``process:N`` (N workers), ``ray`` (local Ray
    or the one already initialised), ``ray://host:port`` or ``ray:host:port`` (a cluster)."""
    if isinstance(spec, Executor):
        return spec
    name, arg = parse_spec(spec)
    module, _, cls_name = EXECUTORS[name].partition(":")
    cls: Any = getattr(importlib.import_module(module), cls_name)
    if name in ("process", "inprocess") and arg:
        return cls(int(arg))  # type: ignore[no-any-return]
    if name == "process":
        return cls(None)  # type: ignore[no-any-return]
    if name == "ray":
        return cls(arg or None)  # type: ignore[no-any-return]
    return cls()  # type: ignore[no-any-return]


__all__ = ["EXECUTORS", "Executor", "get_executor", "parse_spec"]
