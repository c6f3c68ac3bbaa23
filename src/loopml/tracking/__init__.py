"""Experiment tracking: the fluent API (``loopml.start_run`` ...) and ``TrackingClient``."""

from loopml.tracking._client import TrackingClient
from loopml.tracking._evaluate import EvaluationResult, evaluate
from loopml.tracking._fluent import (
    ActiveRun,
    active_run,
    client,
    current_run_id,
    end_run,
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
from loopml.tracking.autolog import autolog

__all__ = [
    "ActiveRun", "EvaluationResult", "TrackingClient", "active_run", "autolog", "client", "current_run_id",
    "end_run", "evaluate", "flush", "get_tracking_uri", "last_active_run", "log_artifact", "log_artifacts",
    "log_dict", "log_figure", "log_input", "log_metric", "log_metrics", "log_param",
    "log_params", "log_table", "log_text", "set_experiment", "set_tag", "set_tags",
    "set_tracking_uri", "start_run",
]
