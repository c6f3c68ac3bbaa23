"""Metadata stores. ``get_store(uri)`` picks the backend by URI scheme from ``BACKENDS``."""

from __future__ import annotations

import importlib
from typing import Any

from loopml.config import default_artifact_root, default_backend_uri
from loopml.errors import InvalidParameterValue
from loopml.store.base import TrackingStore
from loopml.store.deployments_base import DeploymentStore
from loopml.store.registry_base import RegistryStore

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


def get_registry_store(tracking: TrackingStore) -> RegistryStore:
    """The registry that lives beside ``tracking``: the same database, or the same server."""
    from loopml.store.rest import RestStore
    from loopml.store.sql import SqlStore

    if isinstance(tracking, SqlStore):
        from loopml.store.registry_sql import SqlRegistryStore

        return SqlRegistryStore(tracking.engine)
    if isinstance(tracking, RestStore):
        from loopml.store.registry_rest import RestRegistryStore

        return RestRegistryStore(tracking)
    raise InvalidParameterValue(f"No model registry for a {type(tracking).__name__}.")


def get_deployment_store(tracking: TrackingStore) -> DeploymentStore:
    """The deployment store beside ``tracking``: the same database, or the same server."""
    from loopml.store.rest import RestStore
    from loopml.store.sql import SqlStore

    if isinstance(tracking, SqlStore):
        from loopml.store.deployments_sql import SqlDeploymentStore

        return SqlDeploymentStore(tracking.engine)
    if isinstance(tracking, RestStore):
        from loopml.store.deployments_rest import RestDeploymentStore

        return RestDeploymentStore(tracking)
    raise InvalidParameterValue(f"No deployment store for a {type(tracking).__name__}.")


__all__ = ["BACKENDS", "DeploymentStore", "get_deployment_store", "RegistryStore", "TrackingStore", "get_registry_store", "get_store"]
