"""What the control plane and ``loopml serve`` hold for features: the views and one online
store, plus the request bodies of the HTTP API (validated with pydantic, one message per
problem naming the key)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loopml.errors import InvalidParameterValue
from loopml.features.store import OnlineStore, get_online_store
from loopml.features.views import FeatureView, load_views

_MAX_ENTITIES = 10_000  # one request; more is a batch job (get_historical_features)
_Scalar = str | int | float | bool | None


class OnlineRequest(BaseModel):
    """``POST /api/loopml/v1/features/online``: ``entities`` {entity column: keys},
    ``features`` ["view:feature" | "view:*" | "view"], ``full_names``."""

    model_config = ConfigDict(extra="forbid")
    entities: dict[str, list[str | int]] = Field(min_length=1)
    features: list[str] = Field(min_length=1, max_length=1000)
    full_names: bool = False


class WriteRequest(BaseModel):
    """``POST /api/loopml/v1/features/views/{view}/rows``: ``keys`` (entity keys), ``columns``
    {feature: values, one per key}, ``event_ms`` (one per key, or one for all)."""

    model_config = ConfigDict(extra="forbid")
    keys: list[str | int] = Field(min_length=1, max_length=_MAX_ENTITIES)
    columns: dict[str, list[_Scalar]]
    event_ms: list[int] | int


def parse(model: type[BaseModel], data: Any, where: str) -> Any:
    """``data`` as ``model``, or InvalidParameterValue (a 400) naming the key path."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        path = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidParameterValue(f"{where}: '{path}': {err['msg']}"
                                    + (f" ({len(e.errors())} problems)" if len(e.errors()) > 1 else "")
                                    + ".") from None


@dataclass
class FeatureService:
    """The views and the online store one process serves."""

    views: dict[str, FeatureView]
    store: OnlineStore

    @classmethod
    def open(cls, views_file: str, store_uri: str | None = None) -> FeatureService:
        """Views from a YAML file and the store at ``store_uri`` (default in-process).
        Raises InvalidConfig / InvalidParameterValue naming the problem."""
        views = load_views(views_file)
        return cls(views, get_online_store(store_uri, views))

    def online(self, req: OnlineRequest) -> dict[str, list[Any]]:
        n = {len(v) for v in req.entities.values()}
        if max(n) > _MAX_ENTITIES:
            raise InvalidParameterValue(f"At most {_MAX_ENTITIES} entities per request; got {max(n)}.")
        ents: Mapping[str, list[Any]] = {k: [str(x) for x in v] for k, v in req.entities.items()}
        return self.store.get_online_features(ents, req.features, req.full_names)

    def write(self, view: str, req: WriteRequest) -> int:
        return self.store.write(view, [str(k) for k in req.keys], req.columns, req.event_ms)

    def describe(self) -> list[dict[str, Any]]:
        return [v.model_dump() for v in self.views.values()]


__all__ = ["FeatureService", "OnlineRequest", "WriteRequest", "parse"]
