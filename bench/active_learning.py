"""Active learning: loopml's uncertainty sampling vs random sampling, same data, same seeds,
same model, same run.

    .venv/bin/python bench/active_learning.py [--dataset digits|shuttle] [--seeds 5]
                                              [--budget 400] [--batch 20] [--strategy margin]

A data set with a held-back label pool: a stratified test split (30%) is set aside; the
rest is the pool, whose labels are "held back" and revealed only for the rows a strategy
picks. Both strategies start from the same seed set (2 labels per class), then add
``--batch`` labels per round up to ``--budget``: uncertainty sampling picks the pool rows
with the highest ``loopml.labeling`` score (margin, entropy or least_confidence of the
model's ``predict_proba``: what ``loopml label queue`` ranks by); random sampling picks at
random. After each round a logistic regression is refit and scored on the test split.
Curves are averaged over ``--seeds`` seeds (each seed: its own split, seed set and random
order, shared by both strategies).

Reported: the learning curves as a table, random's final accuracy (at the full budget) and
the label count at which uncertainty sampling's mean curve first reaches it; the goal is
at most 60% of random's labels.

Data sets ship inside packages: scikit-learn's digits (1,797 8x8 images, 10 classes) and
river's shuttle sensor data (58,000 rows, binary anomaly label; a 6,000-row stratified
sample is used so each refit stays quick).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any

# One BLAS/OpenMP thread: the fits are small, and on a shared 2-core machine more threads
# only contend.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402


def load(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.data / 16.0, d.target
    if name == "shuttle":
        import pandas as pd
        import river

        path = os.path.join(os.path.dirname(river.__file__), "datasets", "shuttle.csv.gz")
        df = pd.read_csv(path)
        y = df.pop("anomaly").to_numpy()
        rng = np.random.default_rng(seed)
        keep = np.concatenate([rng.choice(np.flatnonzero(y == c),
                                          min(3000, int((y == c).sum())), replace=False)
                               for c in np.unique(y)])
        X = df.to_numpy(np.float64)[keep]
        X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
        return X, y[keep]
    raise SystemExit(f"unknown --dataset {name!r}: digits or shuttle")


def model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=200)


def curve(X: np.ndarray, y: np.ndarray, seed: int, strategy: str, budget: int,
          batch: int) -> tuple[list[int], list[float]]:
    """Accuracy on the test split after each round; ``strategy`` "random" or a loopml
    uncertainty strategy."""
    from sklearn.model_selection import train_test_split

    from loopml.labeling import _scores

    pool_idx, test_idx = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y,
                                          random_state=seed)
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    labelled = [int(i) for c in classes
                for i in rng.choice(pool_idx[y[pool_idx] == c], 2, replace=False)]
    order = rng.permutation(pool_idx)  # the random strategy's order (same for every run)
    counts, accs = [], []
    while True:
        m = model().fit(X[labelled], y[labelled])
        counts.append(len(labelled))
        accs.append(float((m.predict(X[test_idx]) == y[test_idx]).mean()))
        if len(labelled) >= budget:
            return counts, accs
        taken = set(labelled)
        rest = np.asarray([i for i in pool_idx if i not in taken])
        k = min(batch, budget - len(labelled), len(rest))
        if strategy == "random":
            pick = [int(i) for i in order if i not in taken][:k]
        else:
            score = _scores.uncertainty(m.predict_proba(X[rest]), strategy)
            pick = [int(i) for i in rest[np.argsort(-score, kind="stable")[:k]]]
        labelled += pick


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=400)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--strategy", default="margin",
                    choices=["margin", "entropy", "least_confidence"])
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    runs: dict[str, list[list[float]]] = {"random": [], a.strategy: []}
    counts: list[int] = []
    for seed in range(a.seeds):
        X, y = load(a.dataset, seed)
        for strat in runs:
            counts, accs = curve(X, y, seed, strat, a.budget, a.batch)
            runs[strat].append(accs)
    mean = {k: np.mean(np.asarray(v), axis=0) for k, v in runs.items()}
    target = float(mean["random"][-1])
    reach = next((c for c, v in zip(counts, mean[a.strategy], strict=True) if v >= target),
                 None)
    print(f"active learning on {a.dataset}: {len(y)} rows, {a.seeds} seeds, batch {a.batch}, "
          f"budget {a.budget} labels, logistic regression ({time.perf_counter() - t0:.0f} s; "
          "machine shared by several engineers, timings not the point)")
    print(f"{'labels':>7} {'random':>8} {a.strategy:>17}")
    step = max(1, len(counts) // 25)
    for i in list(range(0, len(counts), step)) + ([len(counts) - 1]
                                                   if (len(counts) - 1) % step else []):
        print(f"{counts[i]:>7} {mean['random'][i]:>8.4f} {mean[a.strategy][i]:>17.4f}")
    print(f"random sampling's final accuracy: {target:.4f} with {counts[-1]} labels")
    if reach is None:
        print(f"{a.strategy} sampling did not reach it within {a.budget} labels: goal MISSED")
        return
    share = reach / counts[-1]
    print(f"{a.strategy} sampling reaches it with {reach} labels = {share:.0%} of random's "
          f"(ratio {counts[-1] / reach:.2f}x fewer labels); goal <= 60%: "
          f"{'met' if share <= 0.6 else 'MISSED'}")


if __name__ == "__main__":
    main()
