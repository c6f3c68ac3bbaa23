"""The online feature store interface: the latest feature row per (view, entity), read by
entity key in well under a millisecond.

Contract (``loopml.testing.feature_store_contract`` runs it on every backend):

- ``write(view, keys, columns, event_ms)`` upserts one row per key. A row replaces the
  stored one only when its event time is at least as recent (latest wins; replaying the same
  rows is a no-op in effect, so a sink that re-delivers a batch after a crash is idempotent).
  Missing columns are stored as null. Returns the number of keys given.
- ``read(view, keys, names)`` returns, per key, the values of ``names`` (a list in that
  order) or None when the entity has no row, the row was written under another schema, or
  the row is older than the view's TTL (event time + ttl < now).
- ``get_online_features(entities, features)`` is the one convenience on top: entity columns
  in, ``{entity column..., feature...: list}`` out, Feast-style.

Backends (one file each), chosen by URI scheme in :func:`get_online_store`: ``memory://``
(the embedded default, in-process) and ``redis://`` / ``rediss://`` / ``unix://``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.features.views import FeatureView, parse_refs, views_by_name

Clock = Callable[[], int]  # now, in ms since the epoch


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class OnlineStore(ABC):
    """See the module docstring for the contract. ``views``: the views this store serves;
    ``clock``: now in ms (TTL checks; tests pass a fixed one)."""

    scheme = ""

    def __init__(self, views: Sequence[FeatureView] | Mapping[str, FeatureView],
                 clock: Clock | None = None) -> None:
        self.views = dict(views) if isinstance(views, Mapping) else views_by_name(views)
        self.clock = clock or wall_ms

    def view(self, name: str) -> FeatureView:
        v = self.views.get(name)
        if v is None:
            raise InvalidParameterValue(f"Unknown feature view {name!r}; this store serves "
                                        f"{sorted(self.views)}.")
        return v

    # ---- primitives (per backend) ------------------------------------------------------------
    @abstractmethod
    def write(self, view: str, keys: Sequence[Any] | np.ndarray, columns: Mapping[str, Any],
              event_ms: Sequence[int] | np.ndarray | int) -> int:
        """Upsert one row per key (latest event time wins). ``columns``: {feature: 1-D
        array, one value per key}; ``event_ms``: one time per key, or one for all."""

    @abstractmethod
    def read(self, view: str, keys: Sequence[Any], names: Sequence[str] | None = None
             ) -> list[list[Any] | None]:
        """Per key, the values of ``names`` (None: all features, in view order), or None."""

    @abstractmethod
    def delete(self, view: str, keys: Sequence[Any]) -> None:
        """Forget the rows of ``keys`` (absent keys are ignored)."""

    def close(self) -> None:  # noqa: B027  (optional: only networked backends hold anything)
        """Release connections (a no-op for in-process stores)."""

    # ---- helpers shared by backends ----------------------------------------------------------
    def _rows(self, view: FeatureView, keys: Sequence[Any] | np.ndarray, columns: Mapping[str, Any],
              event_ms: Sequence[int] | np.ndarray | int) -> tuple[list[Any], list[list[Any]], list[int]]:
        """(keys as str, rows as lists in view order, event times) of a write."""
        n = len(keys)
        unknown = [c for c in columns if c not in view.features and c != view.entity]
        if unknown:
            raise InvalidParameterValue(f"View {view.name!r} has no feature(s) {unknown}; it has "
                                        f"{list(view.features)}.")
        cols = []
        for f in view.features:
            c = columns.get(f)
            if c is None:
                cols.append([None] * n)
                continue
            arr = c.tolist() if isinstance(c, np.ndarray) else list(c)
            if len(arr) != n:
                raise InvalidParameterValue(f"Column {f!r} has {len(arr)} values for {n} keys.")
            cols.append(arr)
        rows = [list(r) for r in zip(*cols, strict=True)] if cols else [[] for _ in range(n)]
        if isinstance(event_ms, int | np.integer):
            times = [int(event_ms)] * n
        else:
            times = [int(t) for t in (event_ms.tolist() if isinstance(event_ms, np.ndarray) else event_ms)]
            if len(times) != n:
                raise InvalidParameterValue(f"event_ms has {len(times)} values for {n} keys.")
        skeys = [str(k) for k in (keys.tolist() if isinstance(keys, np.ndarray) else keys)]
        return skeys, rows, times

    def _fresh(self, view: FeatureView, ts: int, now: int) -> bool:
        return view.ttl is None or ts + view.ttl >= now

    # ---- the convenience --------------------------------------------------------------------
    def get_online_features(self, entities: Mapping[str, Sequence[Any]], features: Sequence[str],
                            full_names: bool = False) -> dict[str, list[Any]]:
        """Feature values for the given entity rows, Feast-style.

        ``entities``: {entity column: keys} (one list per entity column, equal lengths);
        ``features``: ``"view:feature"``, ``"view:*"`` or ``"view"``. Returns the entity
        columns, then one list per feature (``view:feature`` names with ``full_names`` or
        when two views share a feature name), None where a value is missing or expired.
        Raises InvalidParameterValue for an unknown view/feature or a missing entity column."""
        refs = parse_refs(features, self.views)
        lengths = {len(v) for v in entities.values()}
        if len(lengths) > 1:
            raise InvalidParameterValue(f"Entity columns have different lengths {sorted(lengths)}.")
        out: dict[str, list[Any]] = {k: list(v) for k, v in entities.items()}
        seen: dict[str, int] = {}
        for names in refs.values():
            for n in names:
                seen[n] = seen.get(n, 0) + 1
        for view_name, names in refs.items():
            view = self.views[view_name]
            keys = entities.get(view.entity)
            if keys is None:
                raise InvalidParameterValue(f"View {view_name!r} is keyed by {view.entity!r}; give "
                                            f"entities={{{view.entity!r}: [...]}}.")
            rows = self.read(view_name, list(keys), names)
            for j, n in enumerate(names):
                col = f"{view_name}:{n}" if full_names or seen[n] > 1 else n
                out[col] = [None if r is None else r[j] for r in rows]
        return out


_BACKENDS: dict[str, Callable[..., OnlineStore]] = {}


def register_backend(scheme: str, factory: Callable[..., OnlineStore]) -> None:
    """Make ``scheme://...`` URIs open ``factory(uri, views, clock=...)``."""
    _BACKENDS[scheme] = factory


def get_online_store(uri: str | None, views: Sequence[FeatureView] | Mapping[str, FeatureView],
                     clock: Clock | None = None) -> OnlineStore:
    """The store a URI names: ``memory://`` (or None/empty: in-process), ``redis://host:port/db``
    (``?prefix=lo:team`` sets the key prefix). Raises InvalidParameterValue for another scheme."""
    if not _BACKENDS:
        from loopml.features import memory, redis_store  # noqa: F401  (they register themselves)
    scheme = (uri or "memory://").split("://", 1)[0] if "://" in (uri or "memory://") else ""
    factory = _BACKENDS.get(scheme)
    if factory is None:
        raise InvalidParameterValue(f"Online store URI {uri!r}: unknown scheme {scheme!r}; use "
                                    f"one of {sorted(s + '://' for s in _BACKENDS)}.")
    return factory(uri or "memory://", views, clock=clock)


__all__ = ["Clock", "OnlineStore", "get_online_store", "register_backend", "wall_ms"]
