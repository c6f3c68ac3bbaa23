"""A retried log-batch stores each point once, NaN points included (issue 15), on SQLite and
PostgreSQL, and revision 0007 removes the NaN duplicates an older database already holds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.entities import Metric
from loopml.store.sql import SqlStore


def _uri(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (f"sqlite:///{tmp_path / 'n.db'}" if backend == "sqlite"
            else request.getfixturevalue("postgres_uri"))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_retried_batch_stores_each_point_once(backend: str, request, tmp_path) -> None:
    store = SqlStore(_uri(backend, request, tmp_path), str(tmp_path / "a"))
    rid = store.create_run("0").info.run_id
    batch = [Metric("loss", math.nan, 10, 0), Metric("loss", 0.5, 10, 1),
             Metric("loss", -0.0, 10, 2), Metric("loss", 0.0, 10, 2),
             Metric("loss", math.inf, 10, 3)]
    for _ in range(3):  # a client retrying after a timeout
        store.log_batch(rid, batch, [], [])
    store.log_metric(rid, Metric("loss", math.nan, 10, 0))
    hist = store.get_metric_history(rid, "loss")
    assert len(hist) == 5, [(m.value, m.step) for m in hist]
    values = sorted((m.step, repr(m.value)) for m in hist)
    assert values == [(0, "nan"), (1, "0.5"), (2, "-0.0"), (2, "0.0"), (3, "inf")]
    # A NaN at another timestamp is another point.
    store.log_metric(rid, Metric("loss", math.nan, 11, 0))
    assert len(store.get_metric_history(rid, "loss")) == 6
    store.close()


def test_0007_removes_stored_nan_duplicates(tmp_path) -> None:
    from alembic import command
    from alembic.config import Config

    import loopml.store
    from loopml.store._engine import create_engine, migration_lock

    uri = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(loopml.store.__file__).parent / "migrations"))
    eng = create_engine(uri)
    with migration_lock(eng) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.commit()
    with eng.begin() as c:  # the index as 0001-0006 made it, and the duplicates it let in
        c.execute(sa.text("DROP INDEX IF EXISTS ux_metrics_point_v2"))
        c.execute(sa.text('CREATE UNIQUE INDEX IF NOT EXISTS ux_metrics_point ON metrics '
                          '(run_uuid, "key", step, "timestamp", value_kind, value)'))
        c.execute(sa.text("INSERT INTO runs (run_uuid, experiment_id, name, status, "
                          "artifact_uri) VALUES ('r1', 0, 'r', 'RUNNING', '')"))
        for _ in range(3):
            c.execute(sa.text("INSERT INTO metrics (run_uuid, key, value, value_kind, "
                              "timestamp, step) VALUES ('r1', 'm', NULL, 1, 5, 0)"))
    with migration_lock(eng) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM metrics")).scalar() == 1
        names = set(c.execute(sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics'"
        )).scalars())
        assert "ux_metrics_point_v2" in names and "ux_metrics_point" not in names
    eng.dispose()
