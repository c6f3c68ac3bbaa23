"""loopml: the whole ML lifecycle as one closed loop.

The public Python API is re-exported here and listed in ``__all__``; everything else lives in
private modules and may change. The tracking names are imported on first use (PEP 562
``__getattr__``), so ``import loopml`` (and every ``loopml`` command's start) does not pay
for the tracking client, the stores and the settings layer until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loopml._version import __version__

if TYPE_CHECKING:
    from loopml.tracking import (
        ActiveRun,
        EvaluationResult,
        TrackingClient,
        active_run,
        autolog,
        end_run,
        evaluate,
        flush,
        get_tracking_uri,
        last_active_run,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_table,
        log_text,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )

__all__ = [
    "ActiveRun", "EvaluationResult", "TrackingClient", "__version__", "active_run", "autolog",
    "end_run",
    "evaluate", "flush", "get_tracking_uri", "last_active_run", "log_artifact", "log_artifacts", "log_dict",
    "log_figure", "log_input", "log_metric", "log_metrics", "log_param", "log_params",
    "log_table", "log_text", "set_experiment", "set_tag", "set_tags", "set_tracking_uri",
    "start_run",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module("loopml.tracking"), name)
        globals()[name] = value  # once: later lookups are plain attribute reads
        return value
    if not name.startswith("_"):  # ``loopml.tracking`` etc. without importing it first
        try:
            return importlib.import_module(f"loopml.{name}")
        except ModuleNotFoundError:
            pass
    raise AttributeError(f"module 'loopml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
