"""Schema inference, quality and leakage checks, and the task suggested by the label column.

``inspect_frame(frame, target_column, task)`` returns a JSON-able report::

    {"task": "binary", "suggested_task": "binary", "rows": 569, "features": [...],
     "numeric": [...], "categorical": [...], "dropped": {"id": "ID-like ..."},
     "classes": [0, 1], "warnings": [...], "schema": {...}}

Problems that make a build meaningless raise ``BuildInputError`` (an
``InvalidParameterValue``: exit 2 in the CLI, a message in the form) with a message that
names the column and says what to do: an empty file, a missing target column, a label with
one class, a target that is an ID, a column that mixes numbers and text, a feature that
predicts the label almost perfectly on its own (leakage), a class too small to split.
Constant and ID-like *feature* columns are dropped with a warning; class imbalance is a
warning (models get balanced class weights).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue

TASKS = ("auto", "binary", "multiclass", "regression")
_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key)$", re.IGNORECASE)
_NA = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
LEAK_SCORE = 0.99  # a single feature this good (balanced accuracy or R^2) is a leak
MIN_CLASS_ROWS = 3  # fewer rows than this in a class cannot be split stratified


class BuildInputError(InvalidParameterValue):
    """The data cannot be built into a model as given; the message says why and what to do."""


def _numeric_share(values: Any) -> float:
    """Share of the non-missing values of an object column that parse as numbers."""
    import pandas as pd

    s = values.dropna().astype(str).str.strip()
    s = s[~s.str.lower().isin(_NA)]
    if len(s) == 0:
        return 0.0
    return float(pd.to_numeric(s, errors="coerce").notna().mean())


def _examples(values: Any) -> tuple[str, str]:
    import pandas as pd

    s = values.dropna().astype(str)
    num = pd.to_numeric(s, errors="coerce")
    return str(s[num.notna()].iloc[0]), str(s[num.isna()].iloc[0])


def suggest_task(y: Any) -> str:
    """binary / multiclass / regression from the label values: non-integer numbers or many
    distinct integers -> regression; two values -> binary; otherwise multiclass."""
    import pandas as pd

    values = y.dropna()
    n_unique = int(values.nunique())
    if pd.api.types.is_bool_dtype(values) or n_unique == 2:
        return "binary"
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy(dtype=float)
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            return "regression"
        if n_unique > max(20, int(0.05 * len(values)) if len(values) < 2000 else 50):
            return "regression"
    return "multiclass"


def _is_id_like(col: Any, name: str) -> bool:
    import pandas as pd

    n = len(col)
    if n < 20:
        return False
    nun = int(col.nunique(dropna=True))
    if pd.api.types.is_float_dtype(col):
        return False
    if pd.api.types.is_integer_dtype(col):
        if nun != n:
            return False
        span = int(col.max()) - int(col.min()) + 1
        return span == n or bool(_ID_NAME.search(name))
    return nun > 0.95 * n  # text with (almost) one value per row: names, ids, free text


def _check_mixed(frame: Any) -> None:
    import pandas as pd

    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            share = _numeric_share(col)
            if 0.0 < share < 1.0 and not (share < 0.02 and col.nunique() < 50):
                num, txt = _examples(col)
                raise BuildInputError(
                    f"Column {c!r} mixes numbers and text ({share:.0%} numbers, e.g. {num!r} "
                    f"and {txt!r}). Clean the column so that it holds only numbers or only "
                    "categories, or drop it, then build again.")


def _leak(frame: Any, y: Any, task: str, features: list[str]) -> None:
    """Raise when one feature alone scores >= LEAK_SCORE (a shallow tree, 2-fold CV, on
    up to 4,000 rows): it is the label in disguise, and a model built on it is useless
    once the label is not known in advance."""
    import pandas as pd
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    n = min(len(frame), 4000)
    idx = np.random.default_rng(0).permutation(len(frame))[:n]
    yy = y.to_numpy()[idx]
    if task != "regression" and np.min(np.unique(yy, return_counts=True)[1]) < 2:
        return
    for c in features:
        x = frame[c].iloc[idx]
        if not (pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)):
            x = x.astype("category").cat.codes
        xv = np.nan_to_num(x.to_numpy(dtype=float), nan=-1e12).reshape(-1, 1)
        if task == "regression":
            model: Any = DecisionTreeRegressor(max_depth=8, random_state=0)
            score = float(np.mean(cross_val_score(model, xv, yy, cv=2, scoring="r2")))
        else:
            model = DecisionTreeClassifier(max_depth=8, random_state=0)
            score = float(np.mean(cross_val_score(model, xv, yy, cv=2,
                                                  scoring="balanced_accuracy")))
        if score >= LEAK_SCORE:
            metric = "R^2" if task == "regression" else "balanced accuracy"
            raise BuildInputError(
                f"Target leakage: column {c!r} alone predicts the label with {metric} "
                f"{score:.3f}. It is probably derived from the label or only known after it; "
                "drop the column and build again.")


def inspect_frame(frame: Any, target_column: str, task: str = "auto") -> dict[str, Any]:
    """Check ``frame`` (a pandas DataFrame) for a build predicting ``target_column`` and
    return the report described in the module docstring. Raises ``BuildInputError``."""
    import pandas as pd

    from loopml._config import suggest

    if task not in TASKS:
        raise BuildInputError(f"task must be one of {', '.join(TASKS)}; got {task!r}.")
    if frame.shape[1] == 0 or len(frame) == 0:
        raise BuildInputError("The data is empty (no rows or no columns); upload a CSV or "
                              "Parquet file with a header row and at least 20 rows.")
    if target_column not in frame.columns:
        raise BuildInputError(f"No target column {target_column!r}"
                              f"{suggest(target_column, [str(c) for c in frame.columns])}.")
    if frame.shape[1] < 2:
        raise BuildInputError("The data has only the target column; add feature columns.")
    _check_mixed(frame)
    y = frame[target_column]
    if y.isna().any():
        raise BuildInputError(f"The target column {target_column!r} has {int(y.isna().sum())} "
                              "missing values; drop those rows or fill them, then build again.")
    if len(frame) < 20:
        raise BuildInputError(f"Only {len(frame)} rows; a build needs at least 20.")
    if y.nunique() < 2:
        raise BuildInputError(f"The target column {target_column!r} has one class "
                              f"({y.iloc[0]!r}) in all {len(y)} rows; a model needs examples "
                              "of at least two classes (or varying values for regression).")
    suggested = suggest_task(y)
    if _is_id_like(y, target_column) and suggested != "regression":
        raise BuildInputError(f"The target column {target_column!r} looks like an ID (one "
                              "distinct value per row); choose the column holding the label.")
    chosen = suggested if task == "auto" else task
    _check_task(chosen, y, target_column)
    warnings: list[str] = []
    dropped: dict[str, str] = {}
    features = []
    for c in frame.columns:
        if c == target_column:
            continue
        col = frame[c]
        if col.nunique(dropna=False) <= 1:
            dropped[str(c)] = "constant"
            warnings.append(f"Column {c!r} is constant; dropped.")
        elif _is_id_like(col, str(c)):
            dropped[str(c)] = "ID-like"
            warnings.append(f"Column {c!r} looks like an ID (one distinct value per row); "
                            "dropped.")
        else:
            features.append(str(c))
    if not features:
        raise BuildInputError("No usable feature columns are left after dropping constant and "
                              f"ID-like ones ({', '.join(dropped)}); add informative columns.")
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])
               or pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in features if c not in numeric]
    report: dict[str, Any] = {"task": chosen, "suggested_task": suggested, "rows": len(frame),
                              "target_column": target_column, "features": features,
                              "numeric": numeric, "categorical": categorical,
                              "dropped": dropped, "warnings": warnings, "classes": None}
    if chosen != "regression":
        counts = y.value_counts()
        report["classes"] = sorted(counts.index.tolist(), key=str)
        if int(counts.min()) < MIN_CLASS_ROWS:
            raise BuildInputError(
                f"Class {counts.idxmin()!r} of {target_column!r} has only {int(counts.min())} "
                f"row(s); each class needs at least {MIN_CLASS_ROWS} to be split into training "
                "and test data. Add examples or merge the class into another.")
        ratio = float(counts.max() / counts.min())
        if ratio >= 10:
            warnings.append(f"Class imbalance: {counts.idxmax()!r} has {ratio:.0f}x the rows of "
                            f"{counts.idxmin()!r}; models use balanced class weights and the "
                            "score is balanced accuracy.")
            report["imbalanced"] = True
    _leak(frame, y, chosen, features)
    report["schema"] = {c: str(frame[c].dtype) for c in features}
    return report


def _check_task(task: str, y: Any, target: str) -> None:
    import pandas as pd

    n = int(y.nunique())
    if task == "binary" and n != 2:
        raise BuildInputError(f"task binary needs exactly two classes in {target!r}; it has {n}. "
                              "Use --task multiclass or --task auto.")
    if task == "regression" and not pd.api.types.is_numeric_dtype(y):
        raise BuildInputError(f"task regression needs a numeric target; {target!r} holds "
                              f"{y.dtype} values. Use --task auto.")
    if task == "multiclass" and n > 200:
        raise BuildInputError(f"{target!r} has {n} distinct values, too many classes for "
                              "multiclass; use --task regression.")


__all__ = ["BuildInputError", "LEAK_SCORE", "TASKS", "inspect_frame", "suggest_task"]
