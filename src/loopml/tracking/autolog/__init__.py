"""``loopml.autolog()``: log params, metrics, the model and the training data of the training
calls a script already makes, as ``mlflow.autolog()`` does.

Supported: scikit-learn (every estimator's ``fit``), LightGBM and XGBoost (``train`` and their
scikit-learn APIs; metrics per boosting iteration), PyTorch Lightning's ``Trainer.fit`` (metrics
per epoch) and TensorBoard's ``SummaryWriter`` in plain PyTorch loops. Libraries are patched
when they are imported, so calling ``autolog()`` first costs nothing for those never used.
What each logs, and under which names, is in the docstring of its module and in
docs/tracking.md; the names are MLflow's so that runs from either tool compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from loopml.errors import InvalidParameterValue
from loopml.tracking.autolog import _lightgbm, _pytorch, _sklearn, _xgboost
from loopml.tracking.autolog._patch import Patches
from loopml.tracking.autolog._session import Options

__all__ = ["FLAVORS", "autolog"]

#: flavor name -> installer (patches now or right after the library is imported).
FLAVORS = {"sklearn": _sklearn.install, "lightgbm": _lightgbm.install,
           "xgboost": _xgboost.install, "pytorch": _pytorch.install}

# autolog patches library classes, which are process-wide; one record of what it patched lets
# ``autolog(disable=True)`` (or a new ``autolog(...)`` call) put every original back.
_PATCHES = Patches()


def autolog(*, log_models: bool = True, log_input_examples: bool = True,
            log_model_signatures: bool = True, log_datasets: bool = True,
            disable: bool = False, silent: bool = False,
            flavors: Iterable[str] | None = None,
            registered_model_name: str | None = None,
            extra_tags: Mapping[str, str] | None = None) -> None:
    """Turn autologging on for ``flavors`` (default: all of :data:`FLAVORS`), or off.

    Each outermost training call logs to the active run, or to a run it starts and ends
    (FAILED if training raised). Calls nested in it (a Pipeline's steps, ``lightgbm.train``
    inside ``LGBMClassifier.fit``) add to the same run. ``registered_model_name`` registers
    each logged model as a new version. Logging errors become warnings (none with
    ``silent``): autologging never breaks training. Calling ``autolog`` again replaces the
    previous settings. Raises InvalidParameterValue for an unknown flavor name.
    """
    chosen = list(FLAVORS) if flavors is None else list(flavors)
    unknown = [f for f in chosen if f not in FLAVORS]
    if unknown:
        raise InvalidParameterValue(
            f"The 'flavors' parameter of autolog must name flavors in {sorted(FLAVORS)}. "
            f"Got {unknown}.")
    _PATCHES.undo_all()
    if disable:
        return
    options = Options(log_models=log_models, log_input_examples=log_input_examples,
                      log_model_signatures=log_model_signatures, log_datasets=log_datasets,
                      silent=silent, registered_model_name=registered_model_name,
                      extra_tags=dict(extra_tags or {}))
    for flavor in chosen:
        FLAVORS[flavor](_PATCHES, options)
