"""The inference log: every request's id, time, model version, inputs, outputs and latency,
written in batches to Parquet, partitioned by deployment and day:

    <root>/deployment=<name>/date=<YYYY-MM-DD>/part-<time>-<uuid>.parquet

``record`` never blocks a response: it appends to a bounded in-memory buffer that a
background thread drains (every ``flush_every_s`` or ``batch_size`` records). When the
buffer is full, new records are dropped and counted, never waited for. Files are written to
a temp name and renamed, so readers (monitors, DuckDB, pandas) never see a partial file.
Inputs and outputs are stored as JSON text, which keeps one schema for every model.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("loopml.serving.log")


def _default(obj: Any) -> Any:
    """DataFrames as {"columns", "data"}; arrays orjson cannot take natively as lists."""
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
        return {"columns": [str(c) for c in obj.columns], "data": obj.to_numpy().tolist()}
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot log a {type(obj).__name__}")


class InferenceLogger:
    def __init__(self, root: str | Path, capacity: int = 100_000, batch_size: int = 5_000,
                 flush_every_s: float = 1.0, on_drop: Callable[[int], None] | None = None) -> None:
        self.root = Path(root)
        self.capacity = capacity
        self.batch_size = batch_size
        self.flush_every_s = flush_every_s
        self.on_drop = on_drop
        self.dropped = 0
        self.written = 0
        self._buf: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="inference-log", daemon=True)
        self._thread.start()

    def record(self, deployment: str, request_id: str, model: str, version: str,
               inputs: Any, outputs: Any, latency_ms: float, status: int = 200,
               role: str = "primary") -> None:
        if len(self._buf) >= self.capacity:
            self.dropped += 1
            if self.on_drop:
                self.on_drop(1)
            return
        # deque.append is atomic; serialising happens later, off the request path.
        self._buf.append({"deployment": deployment, "request_id": request_id,
                          "ts": time.time(), "model": model, "version": version,
                          "inputs": inputs, "outputs": outputs, "latency_ms": latency_ms,
                          "status": status, "role": role})

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_every_s):
            self.flush()
        self.flush()

    def flush(self) -> None:
        with self._lock:
            while self._buf:
                n = min(len(self._buf), self.batch_size)
                batch = [self._buf.popleft() for _ in range(n)]
                try:
                    self._write(batch)
                except Exception:  # a full disk must not take serving down with it
                    log.exception("inference log write failed; %d records lost", len(batch))
                    self.dropped += len(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in batch:
            day = dt.datetime.fromtimestamp(r["ts"], dt.UTC).strftime("%Y-%m-%d")
            groups.setdefault((r["deployment"], day), []).append(r)
        opt = orjson.OPT_SERIALIZE_NUMPY

        def enc(obj: Any) -> str:
            return orjson.dumps(obj, default=_default, option=opt).decode()
        for (deployment, day), rows in groups.items():
            table = pa.table({
                "request_id": [r["request_id"] for r in rows],
                "timestamp": pa.array([int(r["ts"] * 1e6) for r in rows], pa.timestamp("us", "UTC")),
                "model": [r["model"] for r in rows],
                "version": [r["version"] for r in rows],
                "inputs": [enc(r["inputs"]) for r in rows],
                "outputs": [enc(r["outputs"]) for r in rows],
                "latency_ms": [float(r["latency_ms"]) for r in rows],
                "status": pa.array([int(r["status"]) for r in rows], pa.int16()),
                # primary: answered the caller; shadow: a mirrored call, never returned
                "role": [r["role"] for r in rows],
            })
            part = self.root / f"deployment={deployment}" / f"date={day}"
            part.mkdir(parents=True, exist_ok=True)
            name = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
            tmp = part / f".{name}.tmp"
            pq.write_table(table, tmp)
            os.replace(tmp, part / name)
            self.written += len(rows)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
