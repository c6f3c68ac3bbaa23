"""Stale-model metrics: how old the serving model is, how old its training data is, and how
long since the last ground-truth label arrived, in days, as monitor metrics that alert rules
read like any other ("champion older than 30 days": ``staleness.model_age_days > 30``; "no
labels for 7 days": ``staleness.labels_age_days > 7``), so the loop can trigger on them.

- ``staleness.model_age_days``: since the registered version was created.
- ``staleness.data_age_days``: since the newest dataset the version's run read was
  registered (the dataset registry; the run's start when it logged none).
- ``staleness.labels_age_days``: since the newest label of any request was logged
  (``loopml feedback``); labels are keyed by request id only, so this is store-wide. Absent
  on a store without direct SQL access (a REST monitoring store) or before any label.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DAY_MS", "model_age_days", "staleness_metrics"]

DAY_MS = 86_400_000


def _data_time(client: Any, run_id: str | None) -> int | None:
    if not run_id:
        return None
    import sqlalchemy as sa

    from loopml.store import _schema as t

    engine = getattr(client.store, "engine", None)
    if engine is not None:
        d, ri, v = t.datasets.c, t.run_dataset_inputs.c, t.dataset_versions.c
        q = (sa.select(sa.func.max(v.created_time))
             .select_from(t.run_dataset_inputs.join(t.datasets, d.dataset_uuid == ri.dataset_uuid)
                          .join(t.experiments, t.experiments.c.experiment_id == d.experiment_id)
                          .join(t.dataset_versions, (v.name == d.name) & (v.digest == d.digest)
                                & (v.workspace == t.experiments.c.workspace)))
             .where(ri.run_uuid == run_id))
        with engine.connect() as conn:
            found = conn.execute(q).scalar()
        if found:
            return int(found)
    run = client.store.get_run(run_id)
    return int(run.info.start_time) if run.info.start_time else None


def _labels_time(monitoring: Any) -> int | None:
    engine = getattr(monitoring, "engine", None)
    if engine is None:
        return None
    import sqlalchemy as sa

    from loopml.store import _schema as t

    with engine.connect() as conn:
        v = conn.execute(sa.select(sa.func.max(t.feedback.c.time))).scalar()
    return int(v) if v else None


def model_age_days(version: Any, now_ms: int) -> float:
    return max(0.0, (now_ms - int(version.creation_timestamp)) / DAY_MS)


def staleness_metrics(client: Any, monitoring: Any, version: Any,
                      now_ms: int) -> dict[str, float]:
    """The staleness metrics of registered model ``version`` (a ModelVersion) at
    ``now_ms``; a metric that cannot be known is left out."""
    m = {"staleness.model_age_days": float(model_age_days(version, now_ms))}
    data = _data_time(client, getattr(version, "run_id", None))
    if data is not None:
        m["staleness.data_age_days"] = max(0.0, (now_ms - data) / DAY_MS)
    labels = _labels_time(monitoring)
    if labels is not None:
        m["staleness.labels_age_days"] = max(0.0, (now_ms - labels) / DAY_MS)
    return m
