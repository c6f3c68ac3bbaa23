"""One autologged training call: the run it logs to and the logging helpers the flavors share.

A session starts a run when none is active and ends it when the call returns (FAILED when
the call raised), as ``mlflow.autolog`` does. Logging problems never break the user's
training: they are reported once as a warning (or not at all with ``silent=True``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# MLflow's limit on a param value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
MAX_PARAM_LENGTH = 6000


@dataclass(frozen=True)
class Options:
    """What ``loopml.autolog`` was asked to log."""

    log_models: bool = True
    log_input_examples: bool = True
    log_model_signatures: bool = True
    log_datasets: bool = True
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: Mapping[str, str] = field(default_factory=dict)


class Session:
    """The run one outermost training call logs to; ``step`` counters per metric key."""

    def __init__(self, options: Options, flavor: str) -> None:
        from loopml.tracking import _fluent

        self.options, self.flavor = options, flavor
        self._fluent = _fluent
        self.own_run = not _fluent.has_run()
        if self.own_run:
            _fluent.start_run(tags=dict(options.extra_tags) or None)
        elif options.extra_tags:
            self.guard(lambda: _fluent.set_tags(dict(options.extra_tags)))
        self.run_id = _fluent.current_run_id()

    def end(self, failed: bool) -> None:
        if self.own_run:
            self._fluent.end_run("FAILED" if failed else "FINISHED")

    def guard(self, fn: Callable[[], Any]) -> Any:
        """Run a logging action; a failure becomes a warning, never an exception."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - autologging must not break training
            if not self.options.silent:
                warnings.warn(f"loopml.autolog ({self.flavor}): {type(e).__name__}: {e}",
                              stacklevel=3)
            return None

    def log_params(self, params: Mapping[str, Any]) -> None:
        clean = {str(k): _param_text(v) for k, v in params.items()}
        self.guard(lambda: self._fluent.log_params(clean))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        finite = {k: float(v) for k, v in metrics.items() if _is_number(v)}
        if finite:
            self.guard(lambda: self._fluent.log_metrics(finite, step=step))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.guard(lambda: self._fluent.set_tags(dict(tags)))

    def log_text(self, text: str, artifact_file: str) -> None:
        self.guard(lambda: self._fluent.log_text(text, artifact_file))

    def log_json(self, obj: Any, artifact_file: str) -> None:
        self.log_text(json.dumps(obj, indent=2, default=str), artifact_file)

    def log_dataset(self, x: Any, context: str = "train") -> None:
        if self.options.log_datasets and x is not None:
            self.guard(lambda: self._fluent.log_input(x, name="dataset", context=context))

    def log_model(self, model: Any, x: Any, predict: Callable[[Any], Any] | None = None) -> None:
        """Log ``model`` at ``model/`` with a signature inferred from up to 100 training rows
        and their predictions, and the first 5 rows as the input example."""
        if not self.options.log_models:
            return

        def log() -> None:
            from loopml.models import log_model
            from loopml.models.signature import infer_signature

            sample = _head(x, 100) if x is not None else None
            signature = None
            if self.options.log_model_signatures and sample is not None:
                out = (predict or model.predict)(sample)
                signature = infer_signature(sample, out)
            example = _head(x, 5) if self.options.log_input_examples and x is not None else None
            log_model(model, "model", signature=signature, input_example=example,
                      registered_model_name=self.options.registered_model_name)

        self.guard(log)


def _head(x: Any, n: int) -> Any:
    return x.iloc[:n] if hasattr(x, "iloc") else x[:n]


def _is_number(v: Any) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return f == f and f not in (float("inf"), float("-inf"))


def _param_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[:MAX_PARAM_LENGTH]


def run_session(options: Options, flavor: str, body: Callable[[Session], Any]) -> Any:
    """Run ``body(session)`` as the outermost call: the session is current inside it and the
    run it started (if any) ends when it returns or raises."""
    from loopml.tracking.autolog._patch import in_session

    session = Session(options, flavor)
    failed = True
    try:
        result = in_session(session, lambda: body(session))
        failed = False
        return result
    finally:
        session.end(failed)
