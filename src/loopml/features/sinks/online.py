"""The ``online_store`` sink: upsert the latest feature row per entity of a rule's output
into an online store (in-process or Redis).

``write(table, offsets)`` keeps, per entity key, the row with the largest event time
(``_time``) of the batch, and upserts those rows with their event times. The store writes a
row only when it is at least as recent as the stored one, so a batch replayed after a crash
(same offsets, same rows) changes nothing, and a late batch never overwrites newer values:
the sink is idempotent. Columns that are not features of the view are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loopml.errors import InvalidParameterValue
from loopml.features.store import OnlineStore

TIME = "_time"


def latest_per_key(keys: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Indices of the last row (largest time; equal times: the later row) of each key."""
    order = np.lexsort((np.arange(len(keys)), times, keys))
    ks = keys[order]
    last = np.ones(len(ks), bool)
    last[:-1] = ks[1:] != ks[:-1]
    return order[last]  # type: ignore[no-any-return]


class OnlineStoreSink:
    """``name``; ``store``: an :class:`~loopml.features.store.OnlineStore`; ``view``: the
    view written (its ``entity`` column must be in the rows); ``time_col``: event time, ms."""

    def __init__(self, name: str, store: OnlineStore, view: str, *, time_col: str = TIME) -> None:
        self.name, self.store, self.time_col = name, store, time_col
        self.view = store.view(view)
        self.rows_written = 0

    def write(self, table: pa.Table, offsets: Mapping[str, str]) -> None:
        """Upsert the batch's latest row per entity. Raises InvalidParameterValue when the
        rows lack the entity or time column; store errors (Redis down) propagate, so the
        batch is not acked."""
        if table.num_rows == 0:
            return
        for col in (self.view.entity, self.time_col):
            if col not in table.column_names:
                raise InvalidParameterValue(f"Sink {self.name!r}: the rows have no column {col!r} "
                                            f"(view {self.view.name!r} needs it); columns: {table.column_names}.")
        keys = np.asarray(table.column(self.view.entity).cast(pa.string()).to_numpy(zero_copy_only=False),
                          dtype=object).astype(str)
        t = table.column(self.time_col)
        if pa.types.is_timestamp(t.type):
            t = pc.cast(t, pa.timestamp("ms", t.type.tz)).cast(pa.int64())
        times = np.asarray(t.to_numpy(zero_copy_only=False), dtype=np.int64)
        idx = latest_per_key(keys, times)
        rows = table.take(pa.array(idx))
        cols: dict[str, Any] = {f: rows.column(f).to_numpy(zero_copy_only=False)
                                for f in self.view.features if f in rows.column_names}
        self.store.write(self.view.name, keys[idx], cols, times[idx])
        self.rows_written += len(idx)

    def flush(self) -> None:
        """Nothing is buffered: each ``write`` reached the store when it returned."""

    def close(self) -> None:
        """The store belongs to the caller (it may serve reads too); it stays open."""


__all__ = ["OnlineStoreSink", "latest_per_key"]
