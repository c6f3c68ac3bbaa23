"""SHAP explanations of a model's predictions, through the ``shap`` library.

Which explainer:

- tree models (scikit-learn tree ensembles and HistGradientBoosting, LightGBM, XGBoost):
  ``shap.TreeExplainer`` with the background sample (interventional TreeSHAP: exact SHAP
  values of the model's raw output, log-odds for a classifier);
- anything else: ``shap.KernelExplainer`` over the background (KernelSHAP, an
  approximation whose cost grows with features x background rows), on the positive-class
  probability of a binary classifier, all class probabilities of a multi-class one, or the
  prediction of a regressor.

The background sample comes from the training data and is stored with the model: pass
``background=X_train`` to ``save_model``/``log_model``; at most ``MAX_BACKGROUND_ROWS``
rows are kept (a seeded sample). A model without one falls back to its input example when
that has at least ``MIN_BACKGROUND_ROWS`` rows; else explaining it is a ``NoBackground``
(a 400 that says how to add one). Saving a tree model with a background also writes its
global importance (mean absolute SHAP value per feature over the background) to
``explain/importance.json``, computed once at training time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from loopml.errors import InvalidParameterValue

__all__ = ["BACKGROUND_FILE", "IMPORTANCE_FILE", "ExplainTooSlow", "Explainer", "Explanation",
           "NoBackground", "global_importance", "read_background", "write_background",
           "write_importance"]

BACKGROUND_FILE = "explain/background.json"
IMPORTANCE_FILE = "explain/importance.json"
MAX_BACKGROUND_ROWS = 100
MIN_BACKGROUND_ROWS = 10
MAX_EXPLAIN_ROWS = 100  # per request: the server's latency budget also applies
# Estimator classes TreeExplainer reads exactly (by class name: no import of their modules).
TREE_MODELS = frozenset({
    "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier",
    "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
    "GradientBoostingClassifier", "GradientBoostingRegressor",
    "HistGradientBoostingClassifier", "HistGradientBoostingRegressor", "IsolationForest",
    "LGBMClassifier", "LGBMRegressor", "Booster", "XGBClassifier", "XGBRegressor",
})


class NoBackground(InvalidParameterValue):
    """The model has no background sample to explain against (HTTP 400)."""


class ExplainTooSlow(InvalidParameterValue):
    """An explanation exceeded its latency budget (HTTP 400: send fewer rows)."""


# ---- background sample, written at save time ------------------------------------------------
def write_background(folder: Path, data: Any, seed: int = 0) -> Any:
    """Store up to MAX_BACKGROUND_ROWS rows of ``data`` (a DataFrame or 2-D array) in
    ``folder/explain/background.json``; returns the rows kept."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data if len(data) <= MAX_BACKGROUND_ROWS else \
            data.sample(MAX_BACKGROUND_ROWS, random_state=seed)
        body: dict[str, Any] = orjson.loads(frame.to_json(orient="split", index=False))
        kept: Any = frame
    else:
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise InvalidParameterValue(f"background must be a table (rows x features); got "
                                        f"an array of shape {list(arr.shape)}.")
        if len(arr) > MAX_BACKGROUND_ROWS:
            arr = arr[np.random.default_rng(seed).choice(len(arr), MAX_BACKGROUND_ROWS,
                                                         replace=False)]
        body, kept = {"data": arr.tolist()}, arr
    if not body["data"]:
        raise InvalidParameterValue("background has no rows; pass a sample of training data.")
    (folder / "explain").mkdir(exist_ok=True)
    (folder / BACKGROUND_FILE).write_bytes(orjson.dumps(body))
    return kept


def read_background(model: Any) -> tuple[Any, str]:
    """(the background rows, where they came from: "background" or "input_example") of a
    loaded ``Model``; raises ``NoBackground`` with the fix."""
    import pandas as pd

    folder: Path = model.folder
    path = folder / BACKGROUND_FILE
    source = "background"
    if not path.is_file():
        info = model.meta.saved_input_example_info or {}
        path, source = folder / str(info.get("artifact_path", "input_example.json")), \
            "input_example"
    body = orjson.loads(path.read_bytes()) if path.is_file() else None
    if isinstance(body, dict) and "columns" in body:
        rows: Any = pd.DataFrame(body.get("data") or [], columns=body["columns"])
    elif isinstance(body, dict):
        rows = np.asarray(body.get("data", body.get("inputs")) or [], dtype=np.float64)
    else:
        rows = None
    if rows is None or len(rows) < (1 if source == "background" else MIN_BACKGROUND_ROWS):
        raise NoBackground(
            f"Model {model.uri or folder} has no background sample to explain against "
            f"(an input example of at least {MIN_BACKGROUND_ROWS} rows also serves). Save it "
            "again with a sample of its training data: save_model(model, path, "
            "background=X_train) or log_model(model, name, background=X_train).")
    return model.prepare(rows), source


def _shap() -> Any:
    try:
        import shap
    except ImportError:
        raise InvalidParameterValue("SHAP explanations need the shap package: pip install "
                                    "'loopml[explain]'.") from None
    return shap


def is_tree_model(native: Any) -> bool:
    return type(native).__name__ in TREE_MODELS


# ---- the explainer ----------------------------------------------------------------------
@dataclass(frozen=True)
class Explanation:
    """SHAP values of ``rows`` rows: ``values`` [rows, features] (or [rows, features,
    classes]), ``base_values`` [rows] (or [rows, classes]): ``base + sum(values)`` is the
    explained output."""

    values: np.ndarray
    base_values: np.ndarray
    feature_names: list[str]
    explainer: str  # "tree" or "kernel"
    output: str  # what is explained: "raw" (margin/log-odds), "probability" or "prediction"
    background_rows: int
    background_source: str
    elapsed_ms: float

    def to_json(self) -> dict[str, Any]:
        return {"explainer": self.explainer, "output": self.output,
                "feature_names": self.feature_names, "shap_values": self.values,
                "base_values": self.base_values, "background_rows": self.background_rows,
                "background_source": self.background_source,
                "elapsed_ms": round(self.elapsed_ms, 3)}


class Explainer:
    """Built once per model (the background is read and the shap explainer constructed),
    then ``explain(rows)`` per request. ``rows`` are what the model's ``prepare`` returns."""

    def __init__(self, model: Any, nsamples: int | str = "auto") -> None:
        shap = _shap()

        self.model = model
        background, self.source = read_background(model)
        self.background_rows = len(background)
        native = model.native
        self.names = _feature_names(model, background)
        if is_tree_model(native):
            self.kind, self.output = "tree", "raw"
            self._shap = shap.TreeExplainer(native, data=background)
        else:
            fn, self.output = _output_fn(model)
            # KernelSHAP, not shap's Permutation explainer: that one compiles numba code on
            # its first call (~15 s), too long for a server's first explanation.
            self.kind = "kernel"
            self._nsamples = nsamples
            self._shap = shap.KernelExplainer(fn, np.asarray(background, dtype=np.float64))

    def explain(self, rows: Any, budget_ms: float | None = None) -> Explanation:
        """SHAP values of ``rows``; ``budget_ms`` refuses (``ExplainTooSlow``) a request
        whose estimated cost, from the first row's, exceeds the budget."""
        if len(rows) > MAX_EXPLAIN_ROWS:
            raise InvalidParameterValue(f"Explain at most {MAX_EXPLAIN_ROWS} rows per request; "
                                        f"got {len(rows)}.")
        t0 = time.perf_counter()
        first = self._run(rows[:1])
        one_ms = (time.perf_counter() - t0) * 1000
        if budget_ms is not None and one_ms * len(rows) > budget_ms and len(rows) > 1:
            raise ExplainTooSlow(
                f"Explaining {len(rows)} rows would take about {one_ms * len(rows):.0f} ms "
                f"({one_ms:.1f} ms a row), over the budget of {budget_ms:.0f} ms. Send fewer "
                "rows per request (or raise the server's --explain-budget-ms).")
        sv = first if len(rows) == 1 else self._run(rows)
        # C order: orjson serialises only contiguous arrays (shap may hand back views)
        return Explanation(np.ascontiguousarray(sv.values, dtype=np.float64),
                           np.ascontiguousarray(sv.base_values, dtype=np.float64), self.names,
                           self.kind, self.output, self.background_rows, self.source,
                           (time.perf_counter() - t0) * 1000)

    def _run(self, rows: Any) -> Any:
        if self.kind == "tree":
            return self._shap(rows, check_additivity=False)
        values = np.asarray(self._shap.shap_values(np.asarray(rows, dtype=np.float64),
                                                   nsamples=self._nsamples, silent=True))
        base = np.asarray(self._shap.expected_value, dtype=np.float64)
        if values.ndim == 3 and values.shape[0] != len(rows):  # older shap: [classes][rows]
            values = np.moveaxis(values, 0, -1)
        return _Values(values, np.broadcast_to(base, (len(rows), *base.shape)))


@dataclass(frozen=True)
class _Values:
    """KernelExplainer's answer in the shape of shap's ``Explanation``."""

    values: np.ndarray
    base_values: np.ndarray


def _feature_names(model: Any, background: Any) -> list[str]:
    names = getattr(model.native, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if hasattr(background, "columns"):
        return [str(c) for c in background.columns]
    if model.signature is not None and model.signature.inputs.specs:
        specs = model.signature.inputs.specs
        if len(specs) > 1:
            return [str(getattr(s, "name", f"f{i}")) for i, s in enumerate(specs)]
    return [f"f{i}" for i in range(np.asarray(background).shape[1])]


def _output_fn(model: Any) -> tuple[Any, str]:
    """The function a model-agnostic explainer explains, and its name."""
    native, flavor = model.native, model.flavor
    names = getattr(native, "feature_names_in_", None)

    def frame(a: np.ndarray) -> Any:
        if names is None:
            return a
        import pandas as pd

        return pd.DataFrame(a, columns=list(names))

    classes = getattr(native, "classes_", None)
    if classes is not None and hasattr(native, "predict_proba"):
        if len(classes) == 2:
            return (lambda a: np.asarray(flavor.predict_proba(native, frame(a)))[:, 1]), \
                "probability"
        return (lambda a: np.asarray(flavor.predict_proba(native, frame(a)))), "probability"
    return (lambda a: np.asarray(flavor.predict(native, frame(a)), dtype=np.float64)), \
        "prediction"


def global_importance(model: Any, background: Any) -> dict[str, float] | None:
    """Mean |SHAP| per feature over ``background`` for a tree model (None otherwise):
    cheap enough to compute at save time (one TreeSHAP pass over at most 100 rows)."""
    if not is_tree_model(model):
        return None
    try:
        import shap
    except ImportError:  # explanations are an extra: the model saves without importance
        return None

    sv = shap.TreeExplainer(model, data=background)(background, check_additivity=False)
    vals = np.abs(np.asarray(sv.values))
    per_feature = vals.mean(axis=0) if vals.ndim == 2 else vals.mean(axis=(0, 2))
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = [str(c) for c in background.columns] if hasattr(background, "columns") \
            else [f"f{i}" for i in range(len(per_feature))]
    ranked = sorted(zip(map(str, names), per_feature.tolist(), strict=True),
                    key=lambda kv: -kv[1])
    return dict(ranked)


def write_importance(folder: Path, model: Any, background: Any) -> dict[str, float] | None:
    """Global importance of a tree model into ``folder/explain/importance.json``."""
    imp = global_importance(model, background)
    if imp is not None:
        (folder / "explain").mkdir(exist_ok=True)
        (folder / IMPORTANCE_FILE).write_bytes(orjson.dumps(
            {"method": "mean_abs_shap", "background_rows": len(background),
             "importance": imp}, option=orjson.OPT_INDENT_2))
    return imp
