"""Metadata stores. ``get_store(uri)`` picks the backend by URI scheme from ``BACKENDS``."""

from __future__ import annotations

import importlib
from typing import Any

from loopml._redact import redact_uri
from loopml.config import default_artifact_root, default_backend_uri
from loopml.errors import InvalidParameterValue
from loopml.store.base import TrackingStore
from loopml.store.datasets_base import DatasetStore
from loopml.store.deployments_base import DeploymentStore
from loopml.store.loops_base import LoopStore
from loopml.store.monitoring_base import MonitoringStore
from loopml.store.pipelines_base import PipelineStore
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
            f"No metadata store for URI {redact_uri(uri)!r}. Supported schemes: "
            f"{sorted(BACKENDS)}."
        )
    cls = _load(BACKENDS[scheme])
    if scheme in ("http", "https"):
        return cls(uri)  # type: ignore[no-any-return]
    return cls(uri, default_artifact_root_uri or default_artifact_root())  # type: ignore[no-any-return]


def _beside(tracking: TrackingStore, sql_cls: str, rest_cls: str, what: str) -> Any:
    """A store that lives beside ``tracking``: in the same database (sharing its engine, so
    changes and their events commit together) or behind the same server."""
    from loopml.store.rest import RestStore
    from loopml.store.sql import SqlStore

    if isinstance(tracking, SqlStore):
        return _load(sql_cls)(tracking.engine)
    if isinstance(tracking, RestStore):
        return _load(rest_cls)(tracking)
    raise InvalidParameterValue(f"No {what} for a {type(tracking).__name__}.")


def get_registry_store(tracking: TrackingStore) -> RegistryStore:
    return _beside(tracking, "loopml.store.registry_sql:SqlRegistryStore",  # type: ignore[no-any-return]
                   "loopml.store.registry_rest:RestRegistryStore", "model registry")


def get_deployment_store(tracking: TrackingStore) -> DeploymentStore:
    return _beside(tracking, "loopml.store.deployments_sql:SqlDeploymentStore",  # type: ignore[no-any-return]
                   "loopml.store.deployments_rest:RestDeploymentStore", "deployment store")


def get_monitoring_store(tracking: TrackingStore) -> MonitoringStore:
    return _beside(tracking, "loopml.store.monitoring_sql:SqlMonitoringStore",  # type: ignore[no-any-return]
                   "loopml.store.monitoring_rest:RestMonitoringStore", "monitoring store")


def get_pipeline_store(tracking: TrackingStore) -> PipelineStore:
    return _beside(tracking, "loopml.store.pipelines_sql:SqlPipelineStore",  # type: ignore[no-any-return]
                   "loopml.store.pipelines_rest:RestPipelineStore", "pipeline store")


def get_identity_store(tracking: TrackingStore) -> Any:
    """Users, service accounts and API tokens beside ``tracking`` (SQL only: a client talks
    to a server's identities through its REST API, never to its store)."""
    from loopml.store.sql import SqlStore

    if not isinstance(tracking, SqlStore):
        raise InvalidParameterValue(
            "Identities live in the server's database: run `loopml users|tokens|"
            "service-accounts` with --tracking-uri set to the database (sqlite:///... or "
            "postgresql://...), or use the server's /api/loopml/v1 identity API.")
    return _load("loopml.store.identities_sql:SqlIdentityStore")(tracking.engine)


def get_loop_store(tracking: TrackingStore) -> LoopStore:
    return _beside(tracking, "loopml.store.loops_sql:SqlLoopStore",  # type: ignore[no-any-return]
                   "loopml.store.loops_rest:RestLoopStore", "loop store")


def get_dataset_store(tracking: TrackingStore) -> DatasetStore:
    return _beside(tracking, "loopml.store.datasets_sql:SqlDatasetStore",  # type: ignore[no-any-return]
                   "loopml.store.datasets_rest:RestDatasetStore", "dataset registry")


__all__ = [
    "BACKENDS", "DatasetStore", "get_dataset_store", "DeploymentStore", "LoopStore", "get_loop_store", "RegistryStore", "TrackingStore", "get_deployment_store", "get_identity_store",
    "MonitoringStore", "PipelineStore", "get_monitoring_store", "get_pipeline_store", "get_registry_store", "get_store",
]
