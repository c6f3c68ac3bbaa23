"""The composition root: from ``Settings`` to the stores and services of one process.

Every entry point builds its stores here, once: ``loopml server`` (the API, the monitor
scheduler, the trigger runner, the loop controller and the audit monitor all get the same
:class:`ProcessServices`), ``loopml serve`` (``models:/`` resolution, live deployments),
the CLI commands that open a store, and embedded use (``open_services()`` in a notebook or
a job). Backends are chosen by URI scheme through the existing registries
(``loopml.store.BACKENDS``, ``loopml.artifacts``, ``loopml.security.secrets.BACKENDS``);
nothing here is an if-chain over backends.

Library code takes what it needs from a ``ProcessServices`` (or one of its stores) as an
argument; it never reaches for an ambient client. The public fluent API
(``loopml.start_run`` ...) keeps its own default client in ``tracking/_fluent.py``.

Events, the event-log cursors and the loop audit trail live in the metadata database, so
they are methods of the tracking and loop stores (the outbox: a change and its event commit
together); there is no separate event service to build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.artifacts import BlobStore
    from loopml.config import Settings
    from loopml.security.audit import AuditLog
    from loopml.security.entity_scope import EntityScope
    from loopml.security.secrets import SecretBackend
    from loopml.store.base import TrackingStore
    from loopml.store.deployments_base import DeploymentStore
    from loopml.store.identities_base import IdentityStore
    from loopml.store.loops_base import LoopStore
    from loopml.store.monitoring_base import MonitoringStore
    from loopml.store.pipelines_base import PipelineStore
    from loopml.store.registry_base import RegistryStore
    from loopml.tracking._client import TrackingClient

# Runs created by a server get mlflow-artifacts:/ URIs, so remote clients upload through it.
PROXY_SCHEME = "mlflow-artifacts:"


@dataclass
class ProcessServices:
    """The stores and services of one process, all over one metadata store.

    ``tracking`` is the metadata store (``TrackingStore``; it also holds the event log);
    ``registry``, ``deployments``, ``monitoring``, ``pipelines`` and ``loops`` live beside
    it (same database, or same server for a REST store). ``client`` is a
    ``TrackingClient`` over ``tracking``: pass it where a ``models:/`` or ``runs:/`` URI
    must resolve. ``identities``, ``audit`` and ``entity_scope`` are None over a REST
    store (the server keeps them). ``blobs`` and ``proxy_root``: the artifact root a
    server serves (None for a client process). ``inference_log``: the settings' inference
    log location, if any."""

    settings: Settings
    tracking: TrackingStore
    registry: RegistryStore
    deployments: DeploymentStore
    monitoring: MonitoringStore
    pipelines: PipelineStore
    loops: LoopStore
    client: TrackingClient
    identities: IdentityStore | None = None
    audit: AuditLog | None = None
    entity_scope: EntityScope | None = None
    blobs: BlobStore | None = None
    proxy_root: str | None = None
    _secrets: list[SecretBackend] = field(default_factory=list, repr=False)

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine of a SQL metadata store (None over REST)."""
        return getattr(self.tracking, "engine", None)

    def secrets(self) -> SecretBackend:
        """The secrets backend ``settings.secrets_backend`` names, built at first use (a
        process whose operator never configured a key still starts; the first use raises
        ``InvalidConfig`` naming what to set). The built-in backend stores in this
        process's metadata database."""
        if not self._secrets:
            from loopml.security.secrets import get_secret_backend

            self._secrets.append(get_secret_backend(self.settings, engine=self.engine))
        return self._secrets[0]

    def close(self) -> None:
        """Flush the audit queue and close the metadata store's connections."""
        if self.audit is not None:
            self.audit.close()
        close = getattr(self.tracking, "close", None)
        if close is not None:
            close()


def open_services(settings: Settings | None = None, *, server: bool = False,
                  tracking_uri: str | None = None) -> ProcessServices:
    """Build the stores of one process from ``settings`` (default: loaded now).

    ``server=True`` (``loopml server`` and its background services): the metadata store is
    ``settings.backend_uri`` (migrated on open), runs get ``mlflow-artifacts:`` URIs and
    the artifact root ``settings.artifact_root`` is opened as ``blobs``. Otherwise (a
    client: ``loopml serve``, the CLI, embedded use): ``tracking_uri``, else
    ``settings.tracking_uri``, else the embedded SQLite store under ``LOOPML_HOME``.

    Raises ``InvalidParameterValue`` for a URI whose scheme no backend handles; a driver's
    own error (connection refused) passes through."""
    from loopml.config import load_settings
    from loopml.store import get_store

    settings = settings or load_settings()
    blobs = None
    if server:
        from loopml.artifacts import get_blob_store

        tracking = get_store(settings.backend_uri, PROXY_SCHEME)
        blobs = get_blob_store(settings.artifact_root)
        proxy_root: str | None = settings.artifact_root
        uri: str | None = settings.backend_uri
    else:
        # The embedded default comes from these settings (their home), not from a second
        # read of the environment.
        uri = tracking_uri or settings.tracking_uri or settings.backend_uri
        tracking = get_store(uri, settings.artifact_root)
        proxy_root = None
    return services_for_store(tracking, settings, uri=uri, blobs=blobs, proxy_root=proxy_root)


def services_for_store(tracking: TrackingStore, settings: Settings | None = None, *,
                       uri: str | None = None, blobs: BlobStore | None = None,
                       proxy_root: str | None = None,
                       client: TrackingClient | None = None) -> ProcessServices:
    """The services over an already open metadata store (tests, embedded use, a server
    given its store). ``uri``: the store's URI, for the client (default: none);
    ``client``: a TrackingClient over ``tracking`` to use (default: a new one)."""
    from loopml.config import load_settings
    from loopml.security.audit import AuditLog
    from loopml.store import (
        get_deployment_store,
        get_identity_store,
        get_loop_store,
        get_monitoring_store,
        get_pipeline_store,
        get_registry_store,
    )
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient

    settings = settings or load_settings()
    sql = isinstance(tracking, SqlStore)
    scope = None
    if isinstance(tracking, SqlStore):
        from loopml.security.entity_scope import EntityScope

        scope = EntityScope(tracking.engine)
    client = client or TrackingClient(uri, store=tracking, proxy_root=proxy_root)
    return ProcessServices(
        settings=settings, tracking=tracking, registry=get_registry_store(tracking),
        deployments=get_deployment_store(tracking), monitoring=get_monitoring_store(tracking),
        pipelines=get_pipeline_store(tracking), loops=get_loop_store(tracking),
        client=client, identities=get_identity_store(tracking) if sql else None,
        audit=AuditLog.for_store(tracking), entity_scope=scope, blobs=blobs,
        proxy_root=proxy_root,
    )


__all__ = ["PROXY_SCHEME", "ProcessServices", "open_services", "services_for_store"]
