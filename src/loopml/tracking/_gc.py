"""Permanent deletion of soft-deleted runs and their artifacts.

Order matters for crash safety: artifacts are deleted first, the database row last. A crash
in between leaves a deleted run whose artifacts are already gone, and the next collection
finishes the job (deleting absent artifacts is a no-op). The other order could leave
artifacts that no row points to, which nothing would ever clean up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from loopml.artifacts import BlobStore, get_blob_store
from loopml.artifacts._paths import confine
from loopml.store.base import TrackingStore

PROXY_SCHEME = "mlflow-artifacts:"


def blob_resolver(artifacts_destination: str | None) -> Callable[[str], tuple[BlobStore, str]]:
    """Map an artifact URI to (store, path): ``mlflow-artifacts:/x`` lives under the server's
    artifacts destination, anything else is its own root."""
    proxy_root = get_blob_store(artifacts_destination) if artifacts_destination else None

    def resolve(uri: str) -> tuple[BlobStore, str]:
        if uri.startswith(PROXY_SCHEME):
            if proxy_root is None:
                raise ValueError(f"{uri} needs --artifacts-destination to be collected")
            return proxy_root, confine(uri[len(PROXY_SCHEME):].lstrip("/"))
        return get_blob_store(uri), ""

    return resolve


def collect_garbage(
    store: TrackingStore,
    resolve: Callable[[str], tuple[BlobStore, str]],
    older_than_ms: int | None = None,
    run_ids: Sequence[str] | None = None,
) -> list[str]:
    """Purge deleted runs (all, those deleted more than ``older_than_ms`` ago, or the given
    ids) and their artifacts. Returns the purged run ids."""
    targets = list(run_ids) if run_ids is not None else store.list_deleted_run_ids(older_than_ms)
    purged = []
    for rid in targets:
        uri = store.get_run(rid).info.artifact_uri
        blobs, path = resolve(uri)
        if path:
            blobs.delete(path)
        else:
            blobs.delete("")  # the run's own root: delete its contents
        store.permanently_delete_run(rid)
        purged.append(rid)
    return purged
