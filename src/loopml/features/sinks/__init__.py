"""Streaming sinks that fill the feature stores (the ``Sink`` protocol of the streaming apps:
``write(table, offsets)`` durable when it returns and idempotent on replay, ``flush``,
``close``). ``SINK_KINDS`` maps the rule file's sink kind to its class."""

from __future__ import annotations

from typing import Any

SINK_KINDS: dict[str, str] = {
    "online_store": "loopml.features.sinks.online:OnlineStoreSink",
    "offline_parquet": "loopml.features.sinks.offline:OfflineParquetSink",
}


def sink_class(kind: str) -> Any:
    """The class of a built-in sink kind (imported on first use: pyarrow.fs, boto3)."""
    import importlib

    module, _, name = SINK_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


__all__ = ["SINK_KINDS", "sink_class"]
