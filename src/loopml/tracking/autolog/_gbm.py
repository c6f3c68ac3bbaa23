"""What LightGBM and XGBoost autologging share: a ``train`` wrapper that adds a per-iteration
metrics callback, and a scikit-learn-API ``fit`` wrapper whose run the inner ``train`` joins.

Metric keys are MLflow's: ``<data name>-<metric>`` per boosting iteration (step = iteration),
plus ``best_iteration`` / ``stopped_iteration`` with early stopping. Feature importances go to
``feature_importance_<type>.json``; the model to ``model/`` (the Booster for ``train``, the
estimator for ``fit``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loopml.tracking.autolog._patch import current_session
from loopml.tracking.autolog._session import Options, Session, run_session
from loopml.tracking.autolog._sklearn import fit_inputs


@dataclass(frozen=True)
class Library:
    """How one boosting library is autologged."""

    flavor: str
    callbacks_arg: str                                         # train()'s callbacks parameter
    make_callback: Callable[[Session], Any]                    # logs metrics per iteration
    train_params: Callable[[Mapping[str, Any]], dict[str, Any]]  # bound train() args -> params
    train_data: Callable[[Mapping[str, Any]], Any]             # bound train() args -> X or None
    after_train: Callable[[Session, Any], None]                # booster -> importances, best it.


def train_wrapper(fn: Any, lib: Library, options: Options) -> Any:
    signature = inspect.signature(fn)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = current_session()
        if outer is not None and outer.flavor != lib.flavor:
            return fn(*args, **kwargs)  # e.g. inside an sklearn meta-estimator's fit

        def train(s: Session) -> Any:
            bound = signature.bind(*args, **kwargs)
            given = list(bound.arguments.get(lib.callbacks_arg) or [])
            bound.apply_defaults()
            call = dict(bound.arguments)
            bound.arguments[lib.callbacks_arg] = [*given, lib.make_callback(s)]
            if outer is None:
                s.log_params(lib.train_params(call))
            booster = fn(*bound.args, **bound.kwargs)
            s.guard(lambda: lib.after_train(s, booster))
            if outer is None:
                s.log_dataset(lib.train_data(call))
                s.log_model(booster, None)  # no raw rows here: the flavor saves the booster
            return booster

        if outer is not None:
            return train(outer)
        return run_session(options, lib.flavor, train)

    return wrapper


def fit_wrapper(fn: Any, lib: Library, options: Options) -> Any:
    """``LGBMClassifier.fit`` and friends: params from ``get_params``, metrics from the inner
    ``train`` (same session), the fitted estimator as the model."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if current_session() is not None:
            return fn(self, *args, **kwargs)

        def fit(s: Session) -> Any:
            x, _y, _w = fit_inputs(fn, self, args, kwargs)
            s.log_params(self.get_params(deep=False))
            cls = type(self)
            s.set_tags({"estimator_name": cls.__name__,
                        "estimator_class": f"{cls.__module__}.{cls.__qualname__}"})
            result = fn(self, *args, **kwargs)
            s.log_dataset(x)
            s.log_model(self, x)
            return result

        return run_session(options, lib.flavor, fit)

    return wrapper


def log_importances(s: Session, names: list[str], by_type: Mapping[str, list[float]]) -> None:
    for kind, values in by_type.items():
        s.log_json({n: float(v) for n, v in zip(names, values, strict=False)},
                   f"feature_importance_{kind}.json")
