"""Ranking scores for the labeling queue, on arrays (no per-row Python).

Uncertainty of class probabilities ``p`` (n rows x k classes, rows summing to 1), higher =
more worth labelling (Settles, "Active Learning Literature Survey", 2009, §3.1):

- ``least_confidence``: 1 - max_k p
- ``margin``: 1 - (p_(1) - p_(2)), the two largest probabilities
- ``entropy``: -sum_k p log p (natural log, so at most log k)

``disagreement``: how far two models' answers are apart: the total variation distance
0.5 * sum_k |p - q| when both gave probabilities, else 1.0 where their labels differ.

``drift_region``: rows that fall where the current traffic's distribution moved most from
the reference: per column, the share of current rows in the row's histogram bin (numeric)
or category (categorical) minus the reference's share there (0 where it shrank); a row's
score is the sum over the columns. The bins are the reference profile's (``data.profile``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import InvalidParameterValue

UNCERTAINTY = ("entropy", "margin", "least_confidence")
STRATEGIES = (*UNCERTAINTY, "disagreement", "drift", "random")


def _probs(p: Any) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim == 1:  # one probability per row: a binary classifier's P(class 1)
        a = np.stack([1.0 - a, a], axis=1)
    if a.ndim != 2 or a.shape[1] < 2:
        raise InvalidParameterValue(
            f"Probabilities must be n x k with k >= 2 classes, not shape {a.shape}.")
    return np.clip(a, 0.0, 1.0)


def least_confidence(p: Any) -> np.ndarray:
    """1 - the largest class probability, per row (shape n)."""
    return 1.0 - _probs(p).max(axis=1)


def margin(p: Any) -> np.ndarray:
    """1 - (largest - second largest probability), per row (shape n)."""
    a = np.sort(_probs(p), axis=1)
    return 1.0 - (a[:, -1] - a[:, -2])


def entropy(p: Any) -> np.ndarray:
    """Shannon entropy in nats, per row (shape n)."""
    a = _probs(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(a > 0, np.log(np.where(a > 0, a, 1.0)), 0.0)
    return -(a * logs).sum(axis=1)


def uncertainty(p: Any, strategy: str) -> np.ndarray:
    """The named uncertainty score of probabilities ``p`` (one of ``UNCERTAINTY``)."""
    fns = {"entropy": entropy, "margin": margin, "least_confidence": least_confidence}
    if strategy not in fns:
        raise InvalidParameterValue(
            f"Unknown uncertainty strategy {strategy!r}; use one of {list(UNCERTAINTY)}.")
    return fns[strategy](p)


def disagreement(a_labels: Any, b_labels: Any, a_probs: Any = None,
                 b_probs: Any = None) -> np.ndarray:
    """Per row: total variation distance of the two probability rows when both are given
    (same class order), else 1.0 where the labels differ and 0.0 where they agree."""
    if a_probs is not None and b_probs is not None:
        pa, pb = _probs(a_probs), _probs(b_probs)
        if pa.shape == pb.shape:
            return 0.5 * np.abs(pa - pb).sum(axis=1)  # type: ignore[no-any-return]
    la = np.asarray([str(x) for x in a_labels], dtype=object)
    lb = np.asarray([str(x) for x in b_labels], dtype=object)
    return (la != lb).astype(np.float64)  # type: ignore[no-any-return]


def drift_region(reference: Any, current: pd.DataFrame) -> np.ndarray:
    """Per row of ``current``: how over-represented its region is against ``reference``
    (a ``Profile`` or a table), summed over the columns both have (see the module doc)."""
    from loopml.data.profile import CategoricalProfile, NumericProfile, Profile
    from loopml.data.profile import profile as make_profile

    ref = reference if isinstance(reference, Profile) else make_profile(reference)
    score = np.zeros(len(current), dtype=np.float64)
    for name in current.columns:
        rp = ref.columns.get(str(name))
        if rp is None or not rp.count:
            continue
        col = current[name]
        if isinstance(rp, NumericProfile):
            x = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
            edges = rp.edges()
            # Rows outside the reference's range get bins of their own at either end.
            idx = np.searchsorted(edges[1:-1], x, side="right") + 1
            idx = np.where(x < edges[0], 0, np.where(x > edges[-1], len(edges), idx))
            ref_share = np.concatenate([[0.0], rp.hist / max(rp.hist.sum(), 1), [0.0]])
            ok = ~np.isnan(x)
            cur_counts = np.bincount(idx[ok], minlength=len(ref_share))
            cur_share = cur_counts / max(ok.sum(), 1)
            gain = np.clip(cur_share - ref_share, 0.0, None)
            score[ok] += gain[idx[ok]]
        elif isinstance(rp, CategoricalProfile):
            vals = col.astype(str)
            total = max(sum(rp.counts.values()), 1)
            cur_share = vals.map(vals.value_counts(normalize=True))
            ref_share = vals.map({k: n / total for k, n in rp.counts.items()}).fillna(0.0)
            score += np.clip(cur_share.to_numpy(float) - ref_share.to_numpy(float), 0.0, None)
    return score


__all__ = ["STRATEGIES", "UNCERTAINTY", "disagreement", "drift_region", "entropy",
           "least_confidence", "margin", "uncertainty"]
