"""``module:attr`` references to pipelines and steps.

Importing a reference runs the module's top-level code, so only the user's own input may
name one: the local CLI's argument, a library call, the operator's ``loopml server
--pipelines``. A server never imports what a request names (see ``_registry``), and nothing
here puts the working directory or an artifact folder on ``sys.path``: a module is found
on the normal Python path (installed, ``PYTHONPATH``, or the script's folder). The one
exception is ``allow_cwd_imports``, which the local ``loopml pipeline``/``loopml loop``
commands call so that ``loopml pipeline run flows:training`` finds ``./flows.py`` the way
``python -m`` would; the user runs it in their own shell, on their own files.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from loopml.errors import InvalidParameterValue


def allow_cwd_imports() -> None:
    """Let ``module:attr`` name modules in the current folder, like ``python -m``. For the
    local CLI only (the user's own shell); never called by the server."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_ref(ref: str, what: str = "pipeline") -> Any:
    """Import ``module`` and return ``module.attr`` (``attr`` may be dotted). Raises
    ``InvalidParameterValue`` when the reference is malformed or does not resolve."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise InvalidParameterValue(
            f"{what.capitalize()} reference {ref!r} must be module:attribute, e.g. "
            f"mypackage.flows:training.")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise InvalidParameterValue(
            f"Cannot import module {module!r} for {what} {ref!r}: {e}. Install its package "
            "or put its folder on PYTHONPATH.") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidParameterValue(f"Module {module!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    return obj


def load_pipeline(ref: str) -> Any:
    """The ``@pipeline`` at ``ref`` (imported). Raises ``InvalidParameterValue`` if it is
    something else."""
    from loopml.pipelines._dsl import Pipeline

    obj = import_ref(ref)
    if not isinstance(obj, Pipeline):
        raise InvalidParameterValue(
            f"{ref!r} is a {type(obj).__name__}, not a pipeline: decorate the function with "
            "@loopml.pipelines.pipeline.")
    if obj.ref is None:
        obj.ref = ref
    return obj
