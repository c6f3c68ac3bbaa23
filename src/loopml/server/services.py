"""What the server's routes are given: stores and settings, built once in ``create_app``'s
caller. Routes never reach for globals."""

from __future__ import annotations

from dataclasses import dataclass, field

from loopml.artifacts import BlobStore
from loopml.server._permissions import Authenticator
from loopml.store.base import TrackingStore

PROXY_SCHEME = "mlflow-artifacts:"


@dataclass
class Services:
    store: TrackingStore
    blobs: BlobStore  # the artifact root served through the mlflow-artifacts proxy
    auth: Authenticator = field(default_factory=Authenticator)
    max_body_bytes: int = 64 * 1024 * 1024
    max_artifact_bytes: int = 10 * 1024 * 1024 * 1024
