"""Point-in-time correct reads from the offline store, for training.

For each entity row (entity key, event time ``t``), each view contributes the values of its
**latest row with feature time <= t** (an as-of join, Feast's ``get_historical_features``):
a feature row stamped after the label's time is never used (no leakage), and one older than
the view's TTL (``t - ts > ttl``) gives nulls, as the online store would. Rows with equal
feature time resolve to the one written last.

The offline store is what the ``offline_parquet`` sink writes: hive-partitioned Parquet under
``{root}/{view}/dt=YYYY-MM-DD/hour=HH/*.parquet`` (local folder or ``s3://``), with the
entity column, the features and ``_time`` (event time, int64 ms). Any Arrow table with those
columns works too.

The join is vectorised (numpy, one sort of history + entity rows together): no per-row
Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.errors import InvalidParameterValue
from loopml.features.views import FeatureView, parse_refs

TIME = "_time"


def _ms(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Int64 ms of an integer (ms) or timestamp column."""
    t = col.type
    if pa.types.is_timestamp(t):
        col = pc.cast(col, pa.timestamp("ms", t.tz)).cast(pa.int64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)


def as_of_join(entity_rows: pa.Table, history: pa.Table, view: FeatureView, names: Sequence[str], *,
               event_time: str = "event_time", feature_time: str = TIME,
               prefix: str = "") -> pa.Table:
    """``entity_rows`` (in its order) with the columns ``names`` of ``view`` as of each row's
    ``event_time``. ``history`` holds ``view.entity``, ``feature_time`` and the features.
    Raises InvalidParameterValue for a missing column."""
    for col, tbl, what in ((view.entity, entity_rows, "entity rows"), (event_time, entity_rows, "entity rows"),
                           (view.entity, history, "history"), (feature_time, history, "history")):
        if col not in tbl.column_names:
            raise InvalidParameterValue(f"The {what} have no column {col!r} (columns: {tbl.column_names}).")
    nq, nh = entity_rows.num_rows, history.num_rows
    keys_q = np.asarray(entity_rows.column(view.entity).cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    keys_h = np.asarray(history.column(view.entity).cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    _, codes = np.unique(np.concatenate([keys_h, keys_q]).astype(str), return_inverse=True)
    ts_h, t_q = _ms(history.column(feature_time)), _ms(entity_rows.column(event_time))
    ts_all = np.concatenate([ts_h, t_q])
    kind = np.concatenate([np.zeros(nh, np.int8), np.ones(nq, np.int8)])  # history first at equal times
    arrival = np.arange(nh + nq)
    order = np.lexsort((arrival, kind, ts_all, codes))  # by key, time, history-before-query, arrival
    is_h = kind[order] == 0
    last = np.maximum.accumulate(np.where(is_h, np.arange(nh + nq), -1))
    qpos = np.flatnonzero(~is_h)  # sorted positions of the entity rows
    q_idx = order[qpos] - nh  # which entity row each is
    found = last[qpos]
    h_idx = np.where(found >= 0, order[np.maximum(found, 0)], -1)
    ok = (found >= 0) & (codes[np.maximum(h_idx, 0)] == codes[nh + q_idx])
    if view.ttl is not None:
        ok &= (t_q[q_idx] - ts_h[np.maximum(h_idx, 0)]) <= view.ttl
    take = np.full(nq, -1, np.int64)
    take[q_idx] = np.where(ok, h_idx, -1)
    indices = pa.array(take, mask=take < 0)
    out = entity_rows
    for n in names:
        if n not in history.column_names:
            out = out.append_column(prefix + n, pa.nulls(nq))
        else:
            out = out.append_column(prefix + n, history.column(n).take(indices))
    return out


def read_offline(root: str, view: str, columns: Sequence[str] | None = None) -> pa.Table:
    """The offline rows of ``view`` under ``root`` (folder or ``s3://``), all partitions.
    Raises InvalidParameterValue when there are none."""
    import pyarrow.dataset as ds

    from loopml.features.sinks.offline import filesystem_for

    fs, base = filesystem_for(root)
    path = f"{base.rstrip('/')}/{view}"
    try:
        dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive",
                             exclude_invalid_files=True)
        return dataset.to_table(columns=list(columns) if columns else None)
    except (FileNotFoundError, OSError) as e:
        raise InvalidParameterValue(f"No offline data for view {view!r} under {root!r} ({e}).") from None


def get_historical_features(entity_rows: pa.Table | Mapping[str, Any], features: Sequence[str],
                            views: Mapping[str, FeatureView], *, source: str | Mapping[str, pa.Table],
                            event_time: str = "event_time", full_names: bool = False) -> pa.Table:
    """Training rows: ``entity_rows`` (a table or a dict of columns: the entity key(s) and
    ``event_time``, e.g. label times) joined point-in-time with ``features``
    (``view:feature`` / ``view:*``). ``source``: the offline root (folder or ``s3://``) or
    ``{view: history table}``. Feature columns are named like the feature, or
    ``view:feature`` with ``full_names``."""
    table = entity_rows if isinstance(entity_rows, pa.Table) else pa.table(dict(entity_rows))
    for view_name, names in parse_refs(features, views).items():
        view = views[view_name]
        if isinstance(source, Mapping):
            history = source[view_name]
        else:
            history = read_offline(source, view_name, [view.entity, TIME, *names])
        table = as_of_join(table, history, view, names, event_time=event_time,
                           prefix=f"{view_name}:" if full_names else "")
    return table


__all__ = ["as_of_join", "get_historical_features", "read_offline"]
