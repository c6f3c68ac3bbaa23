"""Artifact (blob) stores. ``get_blob_store(uri)`` picks the backend by scheme from
``BACKENDS``: a folder path or ``file://`` for the local store, ``s3://`` for S3."""

from __future__ import annotations

import importlib
from typing import Any

from loopml._redact import redact_uri
from loopml.artifacts._paths import confine
from loopml.artifacts.base import BlobStore, FileInfo, PutResult
from loopml.errors import InvalidParameterValue

BACKENDS: dict[str, str] = {
    "": "loopml.artifacts.local:LocalBlobStore",
    "file": "loopml.artifacts.local:LocalBlobStore",
    "s3": "loopml.artifacts.s3:S3BlobStore",
}


def get_blob_store(uri: str) -> BlobStore:
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme not in BACKENDS:
        raise InvalidParameterValue(
            f"No artifact store for {redact_uri(uri)!r}. Use a folder path, file://, or "
            "s3://bucket/prefix."
        )
    module, _, name = BACKENDS[scheme].partition(":")
    cls: Any = getattr(importlib.import_module(module), name)
    return cls(uri)  # type: ignore[no-any-return]


__all__ = ["BACKENDS", "BlobStore", "FileInfo", "PutResult", "confine", "get_blob_store"]
