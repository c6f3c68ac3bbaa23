"""loopml: the whole ML lifecycle as one closed loop.

The public Python API is re-exported here and listed in ``__all__``; everything else lives in
private modules and may change.
"""

from loopml._version import __version__
from loopml.tracking import (
    ActiveRun,
    EvaluationResult,
    TrackingClient,
    active_run,
    end_run,
    evaluate,
    flush,
    get_tracking_uri,
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
    "ActiveRun", "EvaluationResult", "TrackingClient", "__version__", "active_run", "end_run",
    "evaluate", "flush", "get_tracking_uri", "log_artifact", "log_artifacts", "log_dict",
    "log_figure", "log_input", "log_metric", "log_metrics", "log_param", "log_params",
    "log_table", "log_text", "set_experiment", "set_tag", "set_tags", "set_tracking_uri",
    "start_run",
]
