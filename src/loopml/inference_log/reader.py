"""The one inference-log reader, and the decoding every consumer shares (monitors, the
loop's gate and canary, retraining data): typed feature frames and predictions."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.artifacts import BlobStore, get_blob_store
from loopml.inference_log.record import COLUMN_ORDER, to_columns


def written_ms(name: str) -> int:
    """The write time in a part file's name (part-<ms>-<id>.parquet); every record in the
    file was written before it. Files not named so are always read."""
    try:
        return int(name.rsplit("/", 1)[-1].split("-", 2)[1])
    except (IndexError, ValueError):
        return 1 << 62


class InferenceLogReader:
    """Reads what ``InferenceLogWriter`` wrote under ``uri`` (a folder or blob-store URI)."""

    def __init__(self, uri: str | Any) -> None:
        self.store: BlobStore = get_blob_store(str(uri))

    def files(self, deployment: str, since_ms: int = 0) -> list[str]:
        """The deployment's part files written at or after ``since_ms`` (ms), oldest
        first."""
        base = f"deployment={deployment}"
        names = [f"{base}/{e.path}" for e in self.store.list(base, recursive=True)
                 if not e.is_dir and e.path.rsplit("/", 1)[-1].startswith("part-")
                 and e.path.endswith(".parquet")]
        return sorted((n for n in names if written_ms(n) >= since_ms), key=written_ms)

    def read(self, deployment: str, since_ms: int = 0, since_us: int | None = None,
             roles: tuple[str, ...] = ("primary",)) -> pd.DataFrame:
        """The deployment's records of ``roles``, oldest first, as a DataFrame of the log's
        columns plus ``ts_ms`` (int, ms) and ``ts_us``. ``inputs`` holds per request a
        mapping {column: typed array} (or None). With ``since_ms``, files written before
        it are not read; with ``since_us``, only records stamped at or after it are kept."""
        import pyarrow.parquet as pq

        start = since_ms if since_us is None else max(since_ms, since_us // 1000)
        frames = [pq.read_table(io.BytesIO(self.store.get_bytes(f))).to_pandas()
                  for f in self.files(deployment, start)]
        frames = [f for f in frames if len(f)]
        if not frames:
            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMN_ORDER})
            empty["ts_ms"] = pd.Series(dtype="int64")
            empty["ts_us"] = pd.Series(dtype="int64")
            return empty
        frame = pd.concat(frames, ignore_index=True)
        if "role" in frame:
            frame = frame[frame.role.isin(roles)]
        frame["ts_us"] = frame.timestamp.astype("int64")
        if str(frame.timestamp.dtype).endswith("[ns, UTC]"):  # pandas may widen to ns
            frame["ts_us"] //= 1000
        frame["ts_ms"] = frame.ts_us // 1000
        if since_us is not None:
            frame = frame[frame.ts_us >= since_us]
        return frame.sort_values("ts_us", ignore_index=True, kind="stable")


def read_log(log_dir: str, deployment: str, since_ms: int = 0) -> pd.DataFrame:
    """``InferenceLogReader(log_dir).read(deployment, since_ms)``."""
    return InferenceLogReader(log_dir).read(deployment, since_ms)


def _columns_of(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes):  # files written before the typed schema
        return to_columns(orjson.loads(value))
    return value  # type: ignore[no-any-return]


def features(inputs: pd.Series, names: list[str] | None = None) -> pd.DataFrame:
    """The rows of every request in ``inputs`` (a ``read`` frame's column) as one frame,
    column types as logged. Unnamed columns (``f0..``) take ``names`` when the widths match
    (the reference profile's columns)."""
    cols = [c for c in (_columns_of(v) for v in inputs) if c]
    if not cols:
        return pd.DataFrame()
    keys = list(cols[0])
    if all(list(c) == keys for c in cols):
        frame = pd.DataFrame({k: _concat([np.asarray(c[k]) for c in cols]) for k in keys})
    else:  # the signature changed within the window: align by name
        frame = pd.concat([pd.DataFrame({k: np.asarray(v) for k, v in c.items()})
                           for c in cols], ignore_index=True)
    unnamed = [f"f{i}" for i in range(frame.shape[1])]
    if names and list(frame.columns) == unnamed and len(names) == frame.shape[1]:
        frame.columns = pd.Index(names)
    return frame


def _concat(parts: list[np.ndarray]) -> Any:
    if any(p.ndim > 1 for p in parts):  # higher-rank tensors: one sub-array per row
        return [row for p in parts for row in p]
    return np.concatenate(parts)


def outputs(series: pd.Series) -> list[Any]:
    """Every prediction of every request, flattened."""
    out: list[Any] = []
    for raw in series:
        v = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        if isinstance(v, list):
            out += v
        else:
            out.append(v)
    return out


def per_request(series: pd.Series) -> list[Any]:
    """One prediction per request (the first row's, for single-row requests)."""
    out = []
    for raw in series:
        v = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        out.append(v[0] if isinstance(v, list) and v else v)
    return out


__all__ = ["InferenceLogReader", "features", "outputs", "per_request", "read_log",
           "written_ms"]
