"""Feature enrichment for ``loopml serve``: a request whose rows carry an entity key gets
the view's online features joined before predict.

``loopml serve MODEL --features features.yaml --feature-view machine_stats
[--online-store redis://...]``: on ``/invocations`` (tabular bodies), when a row has the
view's entity column, each of the view's features that the request does not already give
is filled from the online store (None/NaN when the entity has no fresh row); the entity
column is then dropped unless the model's signature has it. Values sent in the request
(non-null) win over stored ones, so a caller can override a feature. The store read is one pipelined
round trip per request (Redis) or a dict lookup (in-process).
"""

from __future__ import annotations

from typing import Any

from loopml.features.store import OnlineStore, get_online_store
from loopml.features.views import load_views


class FeatureEnricher:
    """``enrich(frame, signature columns) -> frame``; see the module docstring."""

    def __init__(self, store: OnlineStore, view: str) -> None:
        self.store = store
        self.view = store.view(view)
        self.names = list(self.view.features)

    @classmethod
    def open(cls, views_file: str, view: str, store_uri: str | None = None) -> FeatureEnricher:
        """Raises InvalidConfig (bad file) or InvalidParameterValue (unknown view or URI)."""
        views = load_views(views_file)
        return cls(get_online_store(store_uri, views), view)

    def __call__(self, data: Any, signature: list[str] | None = None) -> Any:
        if not (hasattr(data, "columns") and self.view.entity in data.columns):
            return data  # arrays and tensors carry no entity key: unchanged
        # a feature the request leaves out, or leaves null in some rows, comes from the store
        missing = [n for n in self.names if n not in data.columns or data[n].isna().any()]
        if missing:
            keys = data[self.view.entity].astype(str).tolist()
            rows = self.store.read(self.view.name, keys, missing)
            data = data.copy()
            for j, n in enumerate(missing):
                stored = [None if r is None else r[j] for r in rows]
                data[n] = stored if n not in data.columns else data[n].where(data[n].notna(), stored)
        if signature is not None and self.view.entity not in signature:
            data = data.drop(columns=[self.view.entity])
        return data


__all__ = ["FeatureEnricher"]
