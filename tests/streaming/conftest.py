from __future__ import annotations

from typing import Any

import numpy as np

SCHEMA = {"m": "str", "v": "float64", "f": "int64", "ts": "int64"}


def app(*rules: dict[str, Any], lateness: str | int = 0, **extra: Any) -> dict[str, Any]:
    """A one-source rule app (source ``s``: m, v, f, ts) around ``rules``."""
    return {"app": "t", "time": {"lateness": lateness},
            "sources": {"s": {"key": "m", "event_time": "ts", "schema": dict(SCHEMA)}},
            "rules": list(rules), **extra}


def events(*rows: tuple[str, float, int, int]) -> dict[str, np.ndarray]:
    """Rows (m, v, f, ts) as a dict of arrays."""
    return {"m": np.array([r[0] for r in rows], dtype=object), "v": np.array([float(r[1]) for r in rows]),
            "f": np.array([r[2] for r in rows], dtype=np.int64), "ts": np.array([r[3] for r in rows], dtype=np.int64)}


def random_trace(n: int, seed: int, keys: int = 3, max_gap: int = 400) -> dict[str, np.ndarray]:
    """Non-decreasing times with many ties and exact-boundary gaps."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice([0, 0, 1, 250, 500, 999, 1000, 1001, max_gap], n)
    return {"m": np.array([f"k{i}" for i in rng.integers(0, keys, n)], dtype=object),
            "v": rng.integers(0, 100, n).astype(float), "f": (rng.random(n) < 0.3).astype(np.int64),
            "ts": 10_000 + np.cumsum(gaps).astype(np.int64)}


def split(cols: dict[str, np.ndarray], size: int) -> list[tuple[str, dict[str, np.ndarray]]]:
    n = len(cols["ts"])
    return [("s", {k: v[i:i + size] for k, v in cols.items()}) for i in range(0, n, size)]
