"""The labeling queue: requests from a deployment's inference log, ranked by what a label is
worth, de-duplicated and without those already labelled or skipped.

Only single-row requests become items: feedback is keyed by request id (``POST
/feedback``), and a batched request's label would have to be a list with one value per row,
which no one labels by hand. Refused requests (status >= 400) are left out.

Ranking (``strategy``, see ``_scores``): ``entropy``, ``margin`` or ``least_confidence``
of the class probabilities, taken from the log when the model logged them (an output that
is a probability row, or an object with ``probabilities``) and otherwise from
``model.predict_proba`` (re-scoring); ``disagreement`` between the champion's answer and
the challenger's (its shadow answer in the log, or ``challenger.predict``); ``drift``
(rows in the bins that moved most against ``reference``); ``random``.

The pre-label is the champion's prediction: ``model.predict`` when a model is given, else
what the deployment answered.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.errors import InvalidParameterValue
from loopml.labeling import _scores
from loopml.labeling._scores import STRATEGIES, UNCERTAINTY

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class QueueItem:
    """One request to label. ``row``: {column: JSON value}; ``image``: the value of the
    row's first column that names an image (a path or URI ending in an image suffix), or
    None; ``probabilities``: the class probabilities scored (None if none); ``score``: the
    strategy's score (higher first); ``time_ms``: when it was answered."""

    request_id: str
    deployment: str
    version: str
    time_ms: int
    row: dict[str, Any]
    prediction: Any
    prelabel: Any
    probabilities: list[float] | None
    score: float
    strategy: str
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Candidates:
    """The single-row, answered requests of a log window, aligned by position: ``frame``
    (the log's columns), ``feats`` (one feature row each), ``preds`` and ``probs`` (the
    logged prediction and probability row or None), ``shadow`` (request id -> the shadow
    model's answer)."""

    deployment: str
    frame: pd.DataFrame
    feats: pd.DataFrame
    preds: list[Any]
    probs: list[list[float] | None]
    shadow: dict[str, Any]


def json_value(v: Any) -> Any:
    """A numpy or pandas scalar (or array) as plain JSON-able Python."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if hasattr(v, "item"):
        return v.item()
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if type(v).__name__ in ("NAType", "NaTType"):
        return None
    return v


def _is_probs(v: Any) -> bool:
    if not isinstance(v, list) or len(v) < 2:
        return False
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        return False
    return all(0.0 <= x <= 1.0 for x in v) and abs(sum(v) - 1.0) < 1e-3


def split_output(v: Any) -> tuple[Any, list[float] | None]:
    """(prediction, probability row or None) of one request's logged answer: a value, a
    one-row list, a probability row (its prediction is the argmax index), or an object with
    ``prediction(s)``/``label`` and ``probabilities``/``proba``."""
    if isinstance(v, dict):
        p = next((v[k] for k in ("probabilities", "proba", "probs") if k in v), None)
        if isinstance(p, list) and p and isinstance(p[0], list):
            p = p[0]
        pred = next((v[k] for k in ("prediction", "predictions", "label") if k in v), None)
        if isinstance(pred, list) and len(pred) == 1:
            pred = pred[0]
        probs = p if _is_probs(p) else None
        if pred is None and probs is not None:
            pred = int(np.argmax(probs))
        return pred, probs
    if isinstance(v, list) and len(v) == 1:
        v = v[0]
    if _is_probs(v):
        return int(np.argmax(v)), v
    return v, None


def _rows_of(inputs: Any) -> int:
    if inputs is None:
        return 0
    if isinstance(inputs, str | bytes):
        inputs = orjson.loads(inputs)
        return 1 if not isinstance(inputs, list) else len(inputs)
    first = next(iter(inputs.values()), None) if isinstance(inputs, dict) else None
    return 0 if first is None else len(first)


def candidates(log_dir: str, deployment: str, since_ms: int = 0,
               max_requests: int = 20_000) -> Candidates:
    """Read the newest ``max_requests`` single-row answered requests of ``deployment``
    logged under ``log_dir`` since ``since_ms`` (ms)."""
    from loopml.inference_log import InferenceLogReader, features

    log = InferenceLogReader(log_dir).read(deployment, since_ms, roles=("primary", "shadow"))
    ok = log[log.status.astype(int) < 400] if len(log) else log
    shadow_rows = ok[ok.role == "shadow"] if len(ok) else ok
    shadow = {str(r): split_output(orjson.loads(o) if isinstance(o, str | bytes) else o)[0]
              for r, o in zip(shadow_rows.request_id, shadow_rows.outputs, strict=True)}
    prim = ok[ok.role == "primary"] if len(ok) else ok
    if len(prim):
        prim = prim[[_rows_of(x) == 1 for x in prim.inputs]]
        prim = prim.drop_duplicates("request_id", keep="last").tail(max_requests)
    prim = prim.reset_index(drop=True)
    feats = features(prim.inputs) if len(prim) else pd.DataFrame()
    split = [split_output(orjson.loads(o) if isinstance(o, str | bytes) else o)
             for o in prim.outputs] if len(prim) else []
    return Candidates(deployment, prim, feats, [s[0] for s in split], [s[1] for s in split],
                      shadow)


def _model_probs(model: Any, feats: pd.DataFrame) -> np.ndarray | None:
    fn = getattr(model, "predict_proba", None)
    if fn is None:
        return None
    try:
        return np.asarray(fn(feats), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a model without probabilities (regressor, ONNX labels)
        return None


def _image_of(row: dict[str, Any]) -> str | None:
    for v in row.values():
        if isinstance(v, str) and v.lower().endswith(IMAGE_SUFFIXES):
            return v
    return None


def _scores_for(c: Candidates, strategy: str, model: Any, challenger: Any, reference: Any,
                seed: int, prelabels: list[Any],
                probs: list[list[float] | None]) -> np.ndarray:
    n = len(c.frame)
    if strategy in UNCERTAINTY:
        have = [i for i, p in enumerate(probs) if p is not None]
        if not have:
            raise InvalidParameterValue(
                f"No class probabilities were logged for deployment {c.deployment!r} and no "
                "model was given to re-score with: pass the champion's model URI (--model) "
                "or rank with strategy 'disagreement', 'drift' or 'random'.")
        widths = {len(probs[i]) for i in have}  # type: ignore[arg-type]
        out = np.full(n, -1.0)  # rows without probabilities rank last
        for k in widths:
            idx = [i for i in have if len(probs[i]) == k]  # type: ignore[arg-type]
            out[idx] = _scores.uncertainty(np.asarray([probs[i] for i in idx]), strategy)
        return out
    if strategy == "disagreement":
        if challenger is not None:
            other = list(np.asarray(challenger.predict(c.feats)).tolist())
            cp = _model_probs(challenger, c.feats)
            mp = None if model is None else _model_probs(model, c.feats)
            return _scores.disagreement(prelabels, other, mp, cp)
        if not c.shadow:
            raise InvalidParameterValue(
                f"Deployment {c.deployment!r} logged no challenger (shadow) answers: mirror a "
                "challenger (deployment shadow routes) or pass its model URI (--challenger).")
        rids = c.frame.request_id.astype(str).tolist()
        out = _scores.disagreement([json_value(p) for p in prelabels],
                                   [c.shadow.get(r, p) for r, p in zip(rids, prelabels,
                                                                        strict=True)])
        return out
    if strategy == "drift":
        if reference is None:
            raise InvalidParameterValue(
                "Strategy 'drift' needs a reference (a profile or the training data): pass "
                "--reference.")
        return _scores.drift_region(reference, c.feats)
    if strategy == "random":
        return np.random.default_rng(seed).random(n)
    raise InvalidParameterValue(
        f"Unknown queue strategy {strategy!r}; use one of {list(STRATEGIES)}.")


def rank(c: Candidates, strategy: str = "entropy", limit: int = 20,
         exclude: Collection[str] = (), model: Any = None, challenger: Any = None,
         reference: Any = None, seed: int = 0) -> list[QueueItem]:
    """The ``limit`` best items of ``c`` by ``strategy`` (see the module doc), highest score
    first (newest first among equals); one item per distinct feature row, none in
    ``exclude`` (request ids already labelled or skipped). ``model``/``challenger``: the
    champion's and the challenger's models (anything with ``predict`` and, optionally,
    ``predict_proba``), or None. Raises ``InvalidParameterValue`` for an unknown strategy, a
    ``limit`` outside 1..10000, or a strategy whose inputs are missing."""
    if strategy not in STRATEGIES:
        raise InvalidParameterValue(
            f"Unknown queue strategy {strategy!r}; use one of {list(STRATEGIES)}.")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameterValue(f"The queue limit must be in [1, {MAX_LIMIT}], not {limit}.")
    if c.frame.empty:
        return []
    prelabels, probs = list(c.preds), list(c.probs)
    if model is not None:
        prelabels = list(np.asarray(model.predict(c.feats)).tolist())
        mp = _model_probs(model, c.feats)
        if mp is not None and mp.ndim == 2:
            probs = [p if p is not None else mp[i].tolist() for i, p in enumerate(probs)]
    score = _scores_for(c, strategy, model, challenger, reference, seed, prelabels, probs)
    keys = pd.util.hash_pandas_object(c.feats.astype(str), index=False).to_numpy()
    order = np.lexsort((-c.frame.ts_ms.to_numpy(np.int64), -score))
    excluded, out = set(exclude), []
    rids = c.frame.request_id.astype(str).tolist()
    # A row equal to one already labelled is not worth a second label either.
    seen = {keys[i] for i, r in enumerate(rids) if r in excluded}
    records = c.feats.to_dict("records")
    for i in order:
        rid = rids[i]
        if rid in excluded or keys[i] in seen:
            continue
        seen.add(keys[i])
        row = {str(k): json_value(v) for k, v in records[i].items()}
        out.append(QueueItem(rid, c.deployment, str(c.frame.version.iloc[i]),
                             int(c.frame.ts_ms.iloc[i]), row, json_value(c.preds[i]),
                             json_value(prelabels[i]), probs[i], float(score[i]), strategy,
                             _image_of(row)))
        if len(out) >= limit:
            break
    return out


def coerce_label(text: Any, classes: Collection[Any] = ()) -> Any:
    """A label as a form or an import gives it (text) in the type the model answers: the
    class among ``classes`` whose text it is, else a JSON number when it is one, else the
    text itself. Non-text values are returned as they are."""
    if not isinstance(text, str):
        return text
    for c in classes:
        if str(c) == text:
            return c
    try:
        v = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return v if isinstance(v, int | float) and not isinstance(v, bool) else text


__all__ = ["IMAGE_SUFFIXES", "MAX_LIMIT", "Candidates", "QueueItem", "candidates",
           "coerce_label", "json_value", "rank", "split_output"]
