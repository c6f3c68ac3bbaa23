"""Content checks for the two trusted types whose *values* can hurt: tree node arrays.

The type allow-list (``_skops_policy``) stops code from running while a file loads. Two
trusted classes still hold raw indices that scikit-learn's Cython code follows without
bounds checks at predict time: ``sklearn.tree._tree.Tree`` (decision trees, forests,
gradient boosting, isolation forests) and HistGradientBoosting's ``TreePredictor``. A
crafted file could set a child or feature index out of range and make ``predict`` read
outside its arrays or loop forever (see skops' ``UNTRUSTED_TYPE_REASONS`` and
scikit-learn PR 34558). ``tree_problems`` checks those indices after the model is built and
before anything predicts with it:

- node count within the allocated capacity, and at least one node;
- every internal node's children point forward (``i < child < n``), which also rules out
  cycles; leaves have no children;
- every split feature indexes a column the enclosing estimators accept (the smallest
  ``n_features_in_`` of the tree and the tree ensembles that hold it, which is the width of
  the rows that reach the Cython code);
- categorical splits point at an existing bitset row, on a feature the binner marks
  categorical; HistGradientBoosting's categorical preprocessor is the one scikit-learn
  builds (so the rows reaching the trees keep their width); Bagging and IsolationForest
  trees stay inside their feature subsets.

What is not checked: threshold values and leaf values (wrong numbers, not unsafe reads).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

# Estimators that pass their own validated rows straight to the trees they hold: the width
# they check bounds the trees' feature indices. Other containers (Pipeline, ColumnTransformer,
# Stacking's final estimator) change the width, so the bound is reset below them.
_TREE_HOLDERS = ("sklearn.tree.", "sklearn.ensemble._forest", "sklearn.ensemble._gb",
                 "sklearn.ensemble._iforest", "sklearn.ensemble._bagging",
                 "sklearn.ensemble._weight_boosting", "sklearn.ensemble._hist_gradient_boosting")
_MAX_OBJECTS = 1_000_000  # a bound on the walk; real models hold far fewer objects


def _children(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):
        yield from obj.values()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        yield from obj
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            yield from obj.ravel()
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        yield from vars(obj).values()


def _width(obj: Any, width: int | None) -> int | None:
    """The column bound that applies below ``obj``: containers keep it, tree holders narrow
    it to their ``n_features_in_``, any other object (Pipeline, ColumnTransformer) clears it."""
    if isinstance(obj, (dict, list, tuple, set, frozenset, np.ndarray)):
        return width
    if not type(obj).__module__.startswith(_TREE_HOLDERS):
        return None
    n = getattr(obj, "n_features_in_", None)
    if isinstance(n, (int, np.integer)):
        return int(n) if width is None else min(width, int(n))
    return width


def _check_links(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, n: int) -> str | None:
    idx = np.arange(n)
    inner = ~leaf
    for name, child in (("left", left), ("right", right)):
        c = child[inner].astype(np.int64)
        if np.any(c <= idx[inner]) or np.any(c >= n):
            return f"a {name} child index outside ({n} nodes, children must point forward)"
    return None


def _sklearn_tree(tree: Any, width: int | None) -> str | None:
    n, cap = int(tree.node_count), int(tree.capacity)
    if not 1 <= n <= cap:
        return f"node_count {n} outside [1, capacity {cap}]"
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    leaf = left == -1
    if not np.array_equal(leaf, right == -1):
        return "a node with only one child"
    if problem := _check_links(left, right, leaf, n):
        return problem
    bound = int(tree.n_features) if width is None else min(width, int(tree.n_features))
    f = feature[~leaf]
    if np.any(f < 0) or np.any(f >= bound):
        return f"a split on feature {int(f.max(initial=0))} of {bound}"
    return None


def _hgb_predictor(pred: Any, width: int | None, categorical: np.ndarray | None) -> str | None:
    """``categorical``: HistGradientBoosting's ``_bin_mapper.is_categorical_`` (which columns
    ``f_idx_map`` maps to a known-categories bitset); None outside an estimator."""
    nodes = pred.nodes
    n = len(nodes)
    if n < 1:
        return "no nodes"
    leaf = nodes["is_leaf"].astype(bool)
    if problem := _check_links(nodes["left"], nodes["right"], leaf, n):
        return problem
    f = nodes["feature_idx"][~leaf]
    if width is None or np.any(f < 0) or np.any(f >= width):
        return f"a split on feature {int(f.max(initial=0))} of {width}"
    cat = (~leaf) & nodes["is_categorical"].astype(bool)
    rows = min(len(pred.raw_left_cat_bitsets), len(pred.binned_left_cat_bitsets))
    if np.any(nodes["bitset_idx"][cat] >= rows):
        return f"a categorical split pointing past the {rows} bitsets"
    cat_features = nodes["feature_idx"][cat]
    if cat_features.size and (categorical is None or np.any(cat_features >= len(categorical))
                              or not np.all(categorical[cat_features])):
        return "a categorical split on a feature the binner does not mark categorical"
    return None


def _hgb_preprocessor(pre: Any, width: int | None) -> str | None:
    """HistGradientBoosting's categorical preprocessor must be the ColumnTransformer sklearn
    builds (an OrdinalEncoder and a check_array FunctionTransformer over complementary
    column masks), so the rows reaching the trees keep ``n_features_in_`` columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    if type(pre) is not ColumnTransformer or width is None:
        return "a preprocessor other than the ColumnTransformer scikit-learn builds"
    kinds = {"encoder": OrdinalEncoder, "numerical": FunctionTransformer}
    out = 0
    for name, step, cols in getattr(pre, "transformers_", []):
        mask = np.asarray(cols)
        if mask.dtype != bool or mask.shape != (width,):
            return f"a preprocessor step {name!r} whose columns are not a mask of {width}"
        if isinstance(step, str) and step == "drop":
            continue
        if type(step) is not kinds.get(name):
            return f"an unexpected preprocessor step {name!r}"
        out += int(mask.sum())
    return None if out == width else f"a preprocessor that outputs {out} of {width} columns"


def _hgb(obj: Any) -> tuple[list[str], list[tuple[Any, int | None, np.ndarray | None]]]:
    """Problems of a HistGradientBoosting estimator itself, and its predictors with the
    context they are checked in (row width and categorical mask)."""
    n = getattr(obj, "n_features_in_", None)
    width = int(n) if isinstance(n, (int, np.integer)) else None
    problems = []
    pre = getattr(obj, "_preprocessor", None)
    if pre is not None and (problem := _hgb_preprocessor(pre, width)):
        problems.append(f"{type(obj).__name__}: {problem}")
    mask = getattr(getattr(obj, "_bin_mapper", None), "is_categorical_", None)
    categorical = None if mask is None else np.asarray(mask).astype(bool).ravel()
    preds = [p for it in getattr(obj, "_predictors", None) or [] for p in it]
    return problems, [(p, width, categorical) for p in preds]


def _feature_subsets(obj: Any) -> list[tuple[Any, int | None, None]]:
    """Bagging and IsolationForest hand each sub-estimator ``X[:, features]`` (isolation
    trees without re-validating it): that subset's size bounds their features."""
    feats, ests = getattr(obj, "estimators_features_", None), getattr(obj, "estimators_", None)
    if not isinstance(feats, list) or not isinstance(ests, list):
        return []
    return [(e, len(f), None) for e, f in zip(ests, feats, strict=False)]


def tree_problems(model: Any) -> list[str]:
    """Describe every tree in ``model`` whose node arrays could make predict read out of
    bounds; an empty list means all are sound. Walks attributes, lists, dicts and object
    arrays (bounded, cycle-safe). Context-specific entries (a HistGradientBoosting's
    predictors, a Bagging's sub-estimators) are pushed last, so they are visited first."""
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
        BaseHistGradientBoosting,
    )
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    problems: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[Any, int | None, np.ndarray | None]] = [(model, None, None)]
    while stack and len(seen) < _MAX_OBJECTS:
        obj, width, categorical = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(obj))
        if isinstance(obj, Tree):
            if problem := _sklearn_tree(obj, width):
                problems.append(f"sklearn.tree._tree.Tree: {problem}")
            continue
        if isinstance(obj, TreePredictor):
            if problem := _hgb_predictor(obj, width, categorical):
                problems.append(f"TreePredictor: {problem}")
            continue
        inner = _width(obj, width)
        stack.extend((child, inner, None) for child in _children(obj))
        if isinstance(obj, BaseHistGradientBoosting):
            found, predictors = _hgb(obj)
            problems += found
            stack.extend(predictors)
        stack.extend(_feature_subsets(obj))
    return problems
