"""Metadata stores. ``get_store(uri)`` picks the backend by URI scheme from ``BACKENDS``."""

from __future__ import annotations

import importlib
from typing import Any

from loopml.config import default_artifact_root, default_backend_uri
from loopml.errors import InvalidParameterValue
from loopml.store.base import TrackingStore

# scheme -> "module:Class". Built-ins use the same table a plugin would add to.
BACKENDS: dict[str, str] = {
    "sqlite": "loopml.store.sql:SqlStore",
    "postgresql": "loopml.store.sql:SqlStore",
    "postgres": "loopml.store.sql:SqlStore",
    "postgresql+psycopg": "loopml.store.sql:SqlStore",
    "http": "loopml.store.rest:RestStore",
    "https": "loopml.store.rest:RestStore",
}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def get_store(uri: str | None = None, default_artifact_root_uri: str | None = None) -> TrackingStore:
    uri = uri or default_backend_uri()
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme not in BACKENDS:
        raise InvalidParameterValue(
            f"No metadata store for URI {uri!r}. Supported schemes: {sorted(BACKENDS)}."
        )
    cls = _load(BACKENDS[scheme])
    if scheme in ("http", "https"):
        return cls(uri)  # type: ignore[no-any-return]
    return cls(uri, default_artifact_root_uri or default_artifact_root())  # type: ignore[no-any-return]


__all__ = ["BACKENDS", "TrackingStore", "get_store"]
