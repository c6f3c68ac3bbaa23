"""The in-process online store (the embedded default): one dict per view, entity key ->
(event ms, row). A read is a dict lookup per key: microseconds, no serialisation. State
lives as long as the process; a streaming worker rebuilds it from the offline store or the
broker on restart."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loopml.features.store import Clock, OnlineStore, register_backend
from loopml.features.views import FeatureView


class InProcessStore(OnlineStore):
    """``memory://``; see :class:`~loopml.features.store.OnlineStore` for the contract."""

    scheme = "memory"

    def __init__(self, views: Sequence[FeatureView] | Mapping[str, FeatureView],
                 clock: Clock | None = None) -> None:
        super().__init__(views, clock)
        self._data: dict[str, dict[str, tuple[int, list[Any], str]]] = {v: {} for v in self.views}
        self._lock = threading.Lock()  # writers from sink threads; reads of a dict are atomic

    def write(self, view: str, keys: Sequence[Any] | np.ndarray, columns: Mapping[str, Any],
              event_ms: Sequence[int] | np.ndarray | int) -> int:
        v = self.view(view)
        skeys, rows, times = self._rows(v, keys, columns, event_ms)
        data = self._data[view]
        sv = v.schema_version
        with self._lock:
            for k, row, t in zip(skeys, rows, times, strict=True):
                old = data.get(k)
                if old is None or old[0] <= t:
                    data[k] = (t, row, sv)
        return len(skeys)

    def read(self, view: str, keys: Sequence[Any], names: Sequence[str] | None = None
             ) -> list[list[Any] | None]:
        v = self.view(view)
        idx = v.index(names)
        data = self._data[view]
        now = self.clock() if v.ttl is not None else 0
        sv = v.schema_version
        out: list[list[Any] | None] = []
        for k in keys:
            got = data.get(k if isinstance(k, str) else str(k))
            if got is None or got[2] != sv or (v.ttl is not None and got[0] + v.ttl < now):
                out.append(None)
            else:
                row = got[1]
                out.append([row[i] for i in idx])
        return out

    def delete(self, view: str, keys: Sequence[Any]) -> None:
        data = self._data[self.view(view).name]
        with self._lock:
            for k in keys:
                data.pop(str(k), None)

    def share(self, other: InProcessStore) -> None:
        """Serve ``other``'s rows (its views' data), as a second Redis client would see the
        same keys: a view whose schema changed reads them as missing."""
        for name in self.views:
            self._data[name] = other._data.setdefault(name, {})

    def __len__(self) -> int:
        return sum(len(d) for d in self._data.values())


def _open(uri: str, views: Any, clock: Clock | None = None) -> InProcessStore:
    return InProcessStore(views, clock)


register_backend("memory", _open)

__all__ = ["InProcessStore"]
