"""``module:attr`` references to pipelines and steps (what the CLI, resume and triggers use)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from loopml.errors import InvalidParameterValue


def import_ref(ref: str, what: str = "pipeline") -> Any:
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise InvalidParameterValue(
            f"{what.capitalize()} reference {ref!r} must be module:attribute, e.g. "
            f"mypackage.flows:training.")
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # like `python -m`: modules in the current folder
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise InvalidParameterValue(
            f"Cannot import module {module!r} for {what} {ref!r}: {e}. Run from the folder that "
            "holds it, or install its package.") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidParameterValue(f"Module {module!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    return obj


def load_pipeline(ref: str) -> Any:
    from loopml.pipelines._dsl import Pipeline

    obj = import_ref(ref)
    if not isinstance(obj, Pipeline):
        raise InvalidParameterValue(
            f"{ref!r} is a {type(obj).__name__}, not a pipeline: decorate the function with "
            "@loopml.pipelines.pipeline.")
    if obj.ref is None:
        obj.ref = ref
    return obj
