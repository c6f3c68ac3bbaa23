"""What the server's routes are given: stores and settings, built once in ``create_app``'s
caller. Routes never reach for globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.artifacts import BlobStore
from loopml.security import Authenticator
from loopml.server._guard import GuardPolicy
from loopml.services import PROXY_SCHEME
from loopml.store.base import TrackingStore
from loopml.store.deployments_base import DeploymentStore
from loopml.store.identities_base import IdentityStore
from loopml.store.loops_base import LoopStore
from loopml.store.monitoring_base import MonitoringStore
from loopml.store.pipelines_base import PipelineStore
from loopml.store.registry_base import RegistryStore

if TYPE_CHECKING:  # the pipelines package is imported when a registry is built, not here
    from loopml.pipelines._registry import PipelineRegistry
    from loopml.security.audit import AuditLog
    from loopml.security.entity_scope import EntityScope
    from loopml.services import ProcessServices

__all__ = ["PROXY_SCHEME", "Services"]


def _no_pipelines() -> PipelineRegistry:
    from loopml.pipelines._registry import PipelineRegistry

    return PipelineRegistry()


@dataclass
class Services:
    store: TrackingStore
    blobs: BlobStore  # the artifact root served through the mlflow-artifacts proxy
    registry: RegistryStore
    deployments: DeploymentStore
    monitoring: MonitoringStore
    pipelines: PipelineStore
    loops: LoopStore
    auth: Authenticator = field(default_factory=Authenticator)
    # Users, service accounts and API tokens (None when the store is not SQL).
    identities: IdentityStore | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    max_artifact_bytes: int = 10 * 1024 * 1024 * 1024
    # Run store calls on the event loop instead of the thread pool. Set for SQLite: it
    # serialises writers anyway and its calls take well under a millisecond, so the thread
    # hop (~0.8 ms on 2 cores) costs more than it buys. PostgreSQL keeps the pool, which is
    # what lets one worker serve concurrent requests.
    inline_store_calls: bool = False
    # Where registered model versions may point besides their run's artifact root.
    allowed_model_roots: list[str] = field(default_factory=list)
    # The loop policies this server's controller runs (``--policies``): a manual trigger
    # records the loop with them, and the controller (in any process) drives it.
    policies: list[Any] = field(default_factory=list)
    # Monitor specs this server runs (``--monitors``): the dashboard lists them.
    monitor_specs: list[Any] = field(default_factory=list)
    # Folders whose images the labeling page may show (an item whose input names an image
    # file under one of them); none: image references are shown as text.
    label_image_roots: list[str] = field(default_factory=list)
    # The pipelines requests, triggers and loop policies may run (``--pipelines``); a
    # request names one of these and nothing else is ever imported (403).
    runnable: PipelineRegistry = field(default_factory=_no_pipelines)
    # Host / Origin / content-type checks (``_guard.py``); the default fits a loopback bind.
    guard: GuardPolicy = field(default_factory=lambda: GuardPolicy(form_prefixes=("/ui/",)))
    # Believe X-Forwarded-Proto/-For (only behind a proxy that sets them): the dashboard's
    # session cookie gets Secure, and login attempts are counted per forwarded client.
    trust_proxy: bool = False
    session_max_age_s: int = 12 * 3600  # the dashboard sign-in cookie's lifetime
    # The secrets backend (loopml.security.secrets); None: built from the settings at the
    # first secrets request, in the metadata store's database.
    secrets: Any = None
    # The audit trail (security/audit.py): None for a store without one (REST).
    audit: AuditLog | None = None
    # Resolves the workspace of an entity a route addresses by id or name
    # (security/entity_scope.py); None for a store without one (REST): header checks only.
    entity_scope: EntityScope | None = None
    # Feature views + online store (loopml.features.service.FeatureService; ``--features``);
    # None: the /features routes answer 404 saying how to enable them.
    features: Any = None
    # The process's stores as the composition root built them (loopml.services): the
    # server's background services (monitors, triggers, controller) share them.
    process: ProcessServices | None = None
