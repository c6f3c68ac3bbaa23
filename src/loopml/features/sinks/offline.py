"""The ``offline_parquet`` sink: stream rows into hive-partitioned Parquet on a local folder or
S3, named by the broker offsets they hold, each synced partition a dataset version.

Layout (research/streaming.md §4.2; Kafka Connect's S3 sink names files the same way)::

    {root}/{table}/dt=YYYY-MM-DD/hour=HH/{stream}-{last offset}[_{stream}-{last}...].parquet
    {root}/_checkpoints/{sink name}.json          the last offsets synced, files, rows

Partitions follow **event time** (``_time``, ms), so late rows land in their own hour.

``write(table, offsets)``, in this order, and only then returns (the caller acks after it):

1. Each partition's rows are written as Parquet (zstd) under the name the offsets give:
   locally to a temporary name, fsynced and renamed; on S3 with one ``PUT`` (an object
   appears whole). The same batch always makes the same names, so a batch redelivered after
   a crash *overwrites* its files instead of duplicating them.
2. Each partition file is registered as a version of the dataset ``{dataset}`` (digest from
   the file name and row count, so a replay finds the version it made:
   no second version, no second ``dataset.version_created`` event). Retraining triggers and
   loop policies consume that event.
3. The checkpoint records the offsets. A batch whose offsets are all at or before the
   checkpoint is skipped (already synced).

A failing write (a bucket that refuses writes, a full disk) raises ``SinkWriteFailed`` so
nothing is acked, appends a ``sink.write_failed`` event to the metadata store (alert rules
and webhooks see it) and calls ``on_error``.

The broker's offsets must make batch boundaries deterministic (a redelivery rebuilds the
same batch, as Redis Streams ``XRANGE``/pending lists do); otherwise a replayed batch may
name its file differently.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopml.errors import LoopmlError

log = logging.getLogger("loopml.features")
TIME = "_time"
_SAFE = re.compile(r"[^A-Za-z0-9_.=@+-]")


class SinkWriteFailed(LoopmlError):
    """The sink could not make a batch durable; the caller must not ack it."""


def _offset_key(offset: str) -> tuple[Any, ...]:
    """Orders broker offsets: Redis ``ms-seq`` and integer offsets numerically, else text."""
    parts = str(offset).split("-")
    if all(p.isdigit() for p in parts):
        return (0, *[int(p) for p in parts])
    return (1, str(offset))


def offsets_name(offsets: Mapping[str, str]) -> str:
    """The file stem for a batch: ``{stream}-{offset}`` per stream, sorted, joined by ``_``
    (characters outside ``[A-Za-z0-9_.=@+-]`` become ``+``). Raises ValueError when empty."""
    if not offsets:
        raise ValueError("a batch without offsets cannot be named; pass the broker offsets it holds")
    stem = "_".join(f"{_SAFE.sub('+', str(k))}-{_SAFE.sub('+', str(v))}" for k, v in sorted(offsets.items()))
    if len(stem) > 180:  # many partitions: keep names short, still deterministic
        stem = stem[:120] + "-" + hashlib.sha256(stem.encode()).hexdigest()[:16]
    return stem


def filesystem_for(root: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path) of a local folder or an ``s3://bucket/prefix`` root. The
    S3 endpoint comes from ``LOOPML_S3_ENDPOINT_URL`` / ``MLFLOW_S3_ENDPOINT_URL``, as for
    the artifact store."""
    import os

    from pyarrow import fs

    if root.startswith("s3://"):
        endpoint = os.environ.get("LOOPML_S3_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
        region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        kwargs: dict[str, Any] = {"region": region}
        if endpoint:
            kwargs["endpoint_override"] = endpoint
            kwargs["scheme"] = "https" if endpoint.startswith("https") else "http"
        return fs.S3FileSystem(**kwargs), root[len("s3://"):]
    path = root[len("file://"):] if root.startswith("file://") else root
    return fs.LocalFileSystem(), path


def partitions(table: pa.Table, time_col: str = TIME) -> dict[str, np.ndarray]:
    """{``dt=YYYY-MM-DD/hour=HH``: row indices} by event time (vectorised)."""
    t = table.column(time_col)
    if pa.types.is_timestamp(t.type):
        t = pc.cast(t, pa.timestamp("ms", t.type.tz)).cast(pa.int64())
    ms = np.asarray(t.to_numpy(zero_copy_only=False), dtype=np.int64)
    hours = ms // 3_600_000
    uniq, inv = np.unique(hours, return_inverse=True)
    out: dict[str, np.ndarray] = {}
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
    for i, h in enumerate(uniq):
        stamp = np.datetime64(int(h), "h").astype("datetime64[s]").item()
        out[f"dt={stamp:%Y-%m-%d}/hour={stamp:%H}"] = order[bounds[i]:bounds[i + 1]]
    return out


class OfflineParquetSink:
    """See the module docstring. ``root``: folder or ``s3://bucket/prefix``; ``table``: the
    folder under it (default: the sink's ``name``); ``dataset``: the registry name of the
    versions (default ``table``; None with ``register=False`` registers nothing);
    ``datasets``: a ``DatasetStore`` (default: the registry beside the current tracking
    store); ``events``: where ``sink.write_failed`` goes (default: that tracking store)."""

    def __init__(self, name: str, root: str, *, table: str | None = None, dataset: str | None = None,
                 register: bool = True, datasets: Any = None, events: Any = None,
                 time_col: str = TIME, compression: str = "zstd",
                 on_error: Callable[[str, Exception], None] | None = None) -> None:
        from loopml.artifacts import get_blob_store

        self.name, self.root = name, root.rstrip("/")
        self.table = table or name
        self.dataset = dataset or self.table
        self.register = register
        self.time_col = time_col
        self.compression = compression
        self.on_error = on_error
        self.blobs = get_blob_store(self.root)
        self._datasets, self._events = datasets, events
        self.checkpoint: dict[str, str] = self._read_checkpoint()
        self.rows_written = 0
        self.files_written = 0
        self.skipped = 0
        self.failures = 0
        self.last_sync_ms = 0

    # ---- checkpoint ---------------------------------------------------------------------------
    def _ckpt_path(self) -> str:
        return f"_checkpoints/{_SAFE.sub('+', self.name)}.json"

    def _read_checkpoint(self) -> dict[str, str]:
        try:
            data = json.loads(self.blobs.get_bytes(self._ckpt_path()))
        except Exception:  # none yet (LoopmlError / FileNotFoundError by backend)
            return {}
        return {str(k): str(v) for k, v in data.get("offsets", {}).items()}

    def synced(self, offsets: Mapping[str, str]) -> bool:
        """Whether every offset is at or before the checkpoint (the batch was synced)."""
        return bool(offsets) and all(k in self.checkpoint and _offset_key(v) <= _offset_key(self.checkpoint[k])
                                     for k, v in offsets.items())

    # ---- the Sink protocol --------------------------------------------------------------------
    def write(self, table: pa.Table, offsets: Mapping[str, str]) -> None:
        """Make ``table`` durable (see the module docstring). Raises SinkWriteFailed (nothing
        may be acked) when a file, the registry or the checkpoint cannot be written."""
        if table.num_rows == 0 or self.synced(offsets):
            self.skipped += table.num_rows
            return
        if self.time_col not in table.column_names:
            raise SinkWriteFailed(f"Sink {self.name!r}: the rows have no {self.time_col!r} column "
                                  "(event time, ms) to partition by.")
        stem = offsets_name(offsets)
        try:
            written = []
            for part, idx in partitions(table, self.time_col).items():
                rows = table.take(pa.array(idx))
                path = f"{self.table}/{part}/{stem}.parquet"
                buf = io.BytesIO()
                pq.write_table(rows, buf, compression=self.compression)
                self.blobs.put_bytes(path, buf.getvalue())
                written.append((part, path, rows))
            if self.register:
                for part, path, rows in written:
                    self._register(part, path, rows, offsets)
            ckpt = {**self.checkpoint, **{str(k): str(v) for k, v in offsets.items()}}
            self.blobs.put_bytes(self._ckpt_path(), json.dumps(
                {"offsets": ckpt, "files": [p for _, p, _ in written], "rows": table.num_rows,
                 "time_ms": int(time.time() * 1000)}).encode())
        except Exception as e:
            self._failed(e, offsets)
            raise SinkWriteFailed(f"Sink {self.name!r}: could not sync {table.num_rows} rows "
                                  f"to {self.root!r}: {type(e).__name__}: {e}") from e
        self.checkpoint = ckpt
        self.rows_written += table.num_rows
        self.files_written += len(written)
        self.last_sync_ms = int(time.time() * 1000)

    def flush(self) -> None:
        """Nothing is buffered: every ``write`` is durable when it returns."""

    def close(self) -> None:
        """Nothing to release (blob stores hold no open files between writes)."""

    # ---- registry and alerts -------------------------------------------------------------------
    def _dataset_store(self) -> Any:
        if self._datasets is None:
            from loopml.data.registry import dataset_store

            self._datasets = dataset_store()
        return self._datasets

    def _register(self, part: str, path: str, rows: pa.Table, offsets: Mapping[str, str]) -> None:
        from loopml.store.datasets_base import DatasetVersion

        digest = hashlib.sha256(f"{path}:{rows.num_rows}".encode()).hexdigest()
        schema = {"columns": [{"name": f.name, "type": str(f.type)} for f in rows.schema]}
        self._dataset_store().create_version(DatasetVersion(
            self.dataset, 0, digest, f"{self.root}/{path}", "parquet", schema, {}, rows.num_rows,
            tags={"partition": part, "offsets": json.dumps(dict(offsets), sort_keys=True),
                  "sink": self.name}))

    def _failed(self, e: Exception, offsets: Mapping[str, str]) -> None:
        self.failures += 1
        log.error("sink %s: write to %s failed (%s: %s); the batch is not acked",
                  self.name, self.root, type(e).__name__, e)
        try:
            events = self._events
            if events is None:
                from loopml.tracking._fluent import client

                events = client().store
            events.append_event("sink.write_failed", self.name, {
                "root": self.root, "table": self.table, "error": f"{type(e).__name__}: {e}",
                "offsets": dict(offsets)})
        except Exception:  # the alert must never mask the write error itself
            log.exception("sink %s: could not record the sink.write_failed event", self.name)
        if self.on_error is not None:
            self.on_error(self.name, e)


__all__ = ["OfflineParquetSink", "SinkWriteFailed", "filesystem_for", "offsets_name", "partitions"]
