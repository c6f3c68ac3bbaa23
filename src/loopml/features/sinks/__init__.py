"""Streaming sinks that fill the feature stores (the ``Sink`` protocol of the streaming apps:
``write(table, offsets)`` durable when it returns and idempotent on replay, ``flush``,
``close``). ``SINK_KINDS`` maps the rule file's sink kind to its class."""

from __future__ import annotations

from collections.abc import Mapping
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


def _online_store(name: str, spec: Mapping[str, Any]) -> Any:
    """App-file sink ``{kind: online_store, views: FILE, view: NAME, store: URI}`` (store:
    ``memory://`` by default, or ``redis://...``; ``time_col`` optional)."""
    from loopml.features.store import get_online_store
    from loopml.features.views import load_views

    _need(spec, "online_store", "views", "view")
    store = get_online_store(str(spec.get("store") or "memory://"), load_views(str(spec["views"])))
    kw = {"time_col": str(spec["time_col"])} if spec.get("time_col") else {}
    return sink_class("online_store")(name, store, str(spec["view"]), **kw)


def _offline_parquet(name: str, spec: Mapping[str, Any]) -> Any:
    """App-file sink ``{kind: offline_parquet, root: DIR | s3://..., table:, dataset:,
    register: true}``: hive-partitioned Parquet named by offsets, each partition a dataset
    version."""
    _need(spec, "offline_parquet", "root")
    kw = {k: spec[k] for k in ("table", "dataset", "time_col", "compression") if spec.get(k)}
    return sink_class("offline_parquet")(name, str(spec["root"]),
                                         register=bool(spec.get("register", True)), **kw)


def _need(spec: Mapping[str, Any], kind: str, *keys: str) -> None:
    from loopml.errors import InvalidConfig

    missing = [k for k in keys if not spec.get(k)]
    if missing:
        raise InvalidConfig(f"a {kind!r} sink needs {', '.join(missing)}")


def register_app_sinks() -> None:
    """Make ``online_store`` and ``offline_parquet`` usable as sink kinds in streaming app
    files (loopml.streaming.io imports loopml.features for this before checking kinds)."""
    from loopml.streaming.io._base import register_sink

    register_sink("online_store", _online_store)
    register_sink("offline_parquet", _offline_parquet)


__all__ = ["SINK_KINDS", "register_app_sinks", "sink_class"]
