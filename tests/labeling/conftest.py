"""A logged deployment to label: single-row requests of the digits-like ``x0..x2`` columns,
answered with class probabilities (``probs``) or labels (``labels``), some shadowed by a
challenger, one batched request and one refused request (neither is ever an item)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from loopml.labeling import LabelingService
from loopml.store.labeling_sql import SqlLabelingStore
from loopml.store.monitoring_sql import SqlMonitoringStore
from loopml.store.sql import SqlStore


@dataclass
class Logged:
    log_dir: str
    svc: LabelingService
    monitoring: SqlMonitoringStore
    labeling: SqlLabelingStore
    probs: dict[str, list[float]]


def write_log(log_dir: Path, deployment: str, n: int = 30, with_probs: bool = True,
              seed: int = 0, image_dir: Path | None = None) -> dict[str, list[float]]:
    from loopml.inference_log import InferenceLogWriter

    rng = np.random.default_rng(seed)
    w = InferenceLogWriter(log_dir, flush_ms=60_000)
    probs: dict[str, list[float]] = {}
    for i in range(n):
        p = rng.dirichlet([1.0, 1.0, 1.0]).round(4)
        p[-1] = round(1.0 - p[0] - p[1], 4)
        rid = f"{deployment}-r{i:03d}"
        probs[rid] = p.tolist()
        row = {"x0": [float(i % 7)], "x1": [float(rng.normal())], "x2": [int(i)]}
        if image_dir is not None:
            row["img"] = [str(image_dir / f"{i}.png")]
        out = [p.tolist()] if with_probs else [int(np.argmax(p))]
        w.record(deployment, rid, "m", "1", row, out, 1.0)
        if i % 3 == 0:  # the challenger answers every third request in shadow
            w.record(deployment, rid, "m2", "2", row, [int(np.argmax(p)) if i % 2 else 9],
                     1.0, role="shadow")
    w.record(deployment, f"{deployment}-batch", "m", "1",
             {"x0": [1.0, 2.0], "x1": [0.0, 0.0], "x2": [0, 1]}, [[0.5, 0.5, 0.0]] * 2, 1.0)
    w.record(deployment, f"{deployment}-bad", "m", "1", None, {"error": "no"}, 1.0, status=400)
    w.close()
    return probs


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """An empty, migrated SQLite database, copied by each test (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("labeling-db") / "db.sqlite"
    SqlStore(f"sqlite:///{path}", str(path.parent / "art")).engine.dispose()
    return path


@pytest.fixture
def logged(tmp_path: Path, migrated_db: Path) -> Iterator[Logged]:
    log_dir = tmp_path / "log"
    probs = write_log(log_dir, "dep")
    shutil.copy(migrated_db, tmp_path / "db.sqlite")
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "art"))
    mon, lab = SqlMonitoringStore(store.engine), SqlLabelingStore(store.engine)
    yield Logged(str(log_dir), LabelingService(mon, lab, lambda d: str(log_dir)), mon, lab,
                 probs)
    store.engine.dispose()
