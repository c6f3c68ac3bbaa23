"""The one inference-log writer: records -> write-ahead file -> Parquet in a blob store.

Layout (a folder, or any ``BlobStore`` root such as ``s3://bucket/prefix``)::

    <root>/deployment=<name>/date=<YYYY-MM-DD>/part-<written ms>-<uuid>.parquet

Durability, the bound the docs state: ``write`` appends the record to a write-ahead file
(one JSON line, one ``write(2)``) before it returns, so once a server has answered, the
record is in the operating system's hands: a killed process (``kill -9``, OOM) loses **no
acknowledged record**; the next writer that opens the same write-ahead folder (the
restarted server) compacts what it finds into Parquet. A power loss can lose what the OS had
not yet written back, unless ``fsync=True`` (one ``fsync`` per record). Without a
write-ahead folder (object-store roots, unless one is given) a kill loses at most the
records of the last ``flush_ms`` milliseconds, and never more than ``flush_records`` plus
the records of one write.

A background thread compacts: every ``flush_ms`` milliseconds, or as soon as
``flush_records`` records wait, it writes them as Parquet (atomically: readers never see a
partial file) and then deletes the write-ahead segment that held them. ``write`` never
blocks on that: when ``capacity`` records already wait, new ones are dropped and counted
(``dropped``, ``on_drop``), never waited for.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopml.artifacts import BlobStore, get_blob_store
from loopml.inference_log.record import InferenceRecord, arrow_inputs, inputs_type, to_table

log = logging.getLogger("loopml.inference_log")

WAL_DIRNAME = "_wal"  # under a local root; "_" keeps it out of Parquet dataset discovery


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


class InferenceLogWriter:
    """Append records; see the module docstring for when they reach Parquet.

    ``uri``: a folder or a blob-store URI. ``wal_dir``: the write-ahead folder (local);
    default ``<root>/_wal`` for a folder root and none for an object store. Raises
    ``OSError`` when the write-ahead folder cannot be created."""

    def __init__(self, uri: str | Path, *, wal_dir: str | Path | None = None,
                 flush_ms: int = 1000, flush_records: int = 5000, capacity: int = 100_000,
                 fsync: bool = False, on_drop: Callable[[int], None] | None = None) -> None:
        uri = str(uri)
        self.store: BlobStore = get_blob_store(uri)
        self.flush_ms = flush_ms
        self.flush_records = flush_records
        self.capacity = capacity
        self.fsync = fsync
        self.on_drop = on_drop
        self.dropped = 0
        self.written = 0
        self._buf: list[InferenceRecord] = []
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()  # one compaction at a time
        self._stop = False
        if wal_dir is None and _is_local(uri):
            wal_dir = Path(self.store.root_uri) / WAL_DIRNAME
        self.wal_root = Path(wal_dir) if wal_dir is not None else None
        self._seg_fd = -1
        self._seg_path: Path | None = None
        self._seg_n = 0
        self._kept = False  # a segment could not be compacted: leave it for recovery
        if self.wal_root is not None:
            self._wal = self.wal_root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            self._wal.mkdir(parents=True, exist_ok=True)
            # Held while this writer lives; a killed writer's lock is released by the OS,
            # which is how recovery tells an orphan from a live neighbour.
            self._lock_fd = os.open(self._wal / "lock", os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._open_segment()
        self._thread = threading.Thread(target=self._loop, name="inference-log", daemon=True)
        self._thread.start()

    # -- the request path --------------------------------------------------------------
    def record(self, deployment: str, request_id: str, model: str, version: str,
               inputs: Any, outputs: Any, latency_ms: float, status: int = 200,
               role: str = "primary") -> None:
        """``write`` of ``InferenceRecord.of(...)``: what the servers call per request."""
        self.write(InferenceRecord.of(deployment, request_id, model, version, inputs, outputs,
                                      latency_ms, status, role))

    def write(self, rec: InferenceRecord) -> None:
        """Log one record: durable against a killed process when this returns (with a
        write-ahead folder). Never raises: a failing disk is logged and counted."""
        with self._cond:
            if len(self._buf) >= self.capacity:
                self._drop(1)
                return
            if self._seg_fd >= 0:
                try:
                    os.write(self._seg_fd, rec.to_json_line())
                    if self.fsync:
                        os.fsync(self._seg_fd)
                except (OSError, TypeError):
                    log.exception("inference log: write-ahead append failed")
                    self._drop(1)
                    return
            self._buf.append(rec)
            if len(self._buf) >= self.flush_records:
                self._cond.notify()

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self.on_drop:
            self.on_drop(n)

    # -- compaction -----------------------------------------------------------------------
    def _open_segment(self) -> None:
        self._seg_n += 1
        self._seg_path = self._wal / f"seg-{self._seg_n:08d}.jsonl"
        self._seg_fd = os.open(self._seg_path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)

    def _loop(self) -> None:
        if self.wal_root is not None:
            try:
                self.recover()
            except Exception:  # never let recovery stop the compaction of new records
                log.exception("inference log: recovery of %s failed", self.wal_root)
        while True:
            with self._cond:
                if not self._stop and len(self._buf) < self.flush_records:
                    self._cond.wait(self.flush_ms / 1000)
                stop = self._stop
            self.flush()
            if stop:
                return

    def flush(self) -> None:
        """Write every waiting record as Parquet now, then drop their write-ahead segment."""
        with self._write_lock:
            with self._cond:
                batch, self._buf = self._buf, []
                old_fd, old_path = self._seg_fd, self._seg_path
                if old_fd >= 0 and batch:
                    self._open_segment()  # new records go to a fresh segment
            if not batch:
                return
            try:
                self._write(batch)
            except Exception:  # a full disk must not take serving down with it
                log.exception("inference log write failed; %d records kept in %s",
                              len(batch), old_path)
                self._drop(len(batch))
                if old_fd >= 0:  # the segment stays, for the next writer's recovery
                    os.close(old_fd)
                    self._kept = True
                return
            if old_fd >= 0:
                os.close(old_fd)
                if old_path is not None:
                    old_path.unlink(missing_ok=True)

    def _write(self, batch: list[InferenceRecord]) -> None:
        import pyarrow.parquet as pq

        arrays = [arrow_inputs(r.inputs) for r in batch]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, r in enumerate(batch):
            day = dt.datetime.fromtimestamp(r.timestamp_us / 1e6, dt.UTC).strftime("%Y-%m-%d")
            groups.setdefault((r.deployment, day, inputs_type(arrays[i])), []).append(i)
        # Refused requests (no inputs) join a file of their deployment and day.
        for key in [k for k in groups if k[2] == ()]:
            home = next((k for k in groups if k[:2] == key[:2] and k[2] != ()), None)
            if home is not None:
                groups[home] += groups.pop(key)
        for (deployment, day, _), idx in groups.items():
            idx.sort()
            table = to_table([batch[i] for i in idx], [arrays[i] for i in idx])
            buf = io.BytesIO()
            pq.write_table(table, buf)
            name = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
            self.store.put_bytes(f"deployment={deployment}/date={day}/{name}", buf.getvalue())
            self.written += len(idx)

    def recover(self) -> int:
        """Compact the write-ahead segments of writers that are gone (killed); return how
        many records were recovered. A torn last line (the kill landed mid-write) is the
        only thing skipped: its request was never answered."""
        assert self.wal_root is not None
        total = 0
        for d in sorted(p for p in self.wal_root.iterdir() if p.is_dir() and p != self._wal):
            fd = os.open(d / "lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live writer
                os.close(fd)
                continue
            try:
                recs = [r for seg in sorted(d.glob("seg-*.jsonl")) for r in _read_segment(seg)]
                if recs:
                    self._write(recs)
                total += len(recs)
                shutil.rmtree(d, ignore_errors=True)
            except Exception:
                log.exception("inference log: cannot recover %s", d)
            finally:
                os.close(fd)
        if total:
            log.info("inference log: recovered %d records of a stopped writer", total)
        return total

    def close(self) -> None:
        """Flush and stop; the write-ahead folder of this writer is removed when empty."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(30)
        if self.wal_root is not None and not self._buf and not self._kept:
            if self._seg_fd >= 0:
                os.close(self._seg_fd)
                self._seg_fd = -1
            os.close(self._lock_fd)
            shutil.rmtree(self._wal, ignore_errors=True)


def _read_segment(path: Path) -> list[InferenceRecord]:
    out = []
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        try:
            out.append(InferenceRecord.from_json_line(line))
        except Exception:  # noqa: BLE001 - the torn tail of a killed write
            log.warning("inference log: skipped a torn record in %s", path)
    return out


__all__ = ["WAL_DIRNAME", "InferenceLogWriter"]
