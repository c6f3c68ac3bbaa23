"""Batch prediction: a model over any data URI, in chunks, in parallel processes, into one
Parquet file, with every chunk in the inference log (so monitors cover batch scoring).

    from loopml.batch import predict_batch
    predict_batch("models:/fraud/3", "s3://lake/today/*.parquet", "scores.parquet",
                  chunk_rows=100_000, workers=4, inference_log="s3://lake/inference")

How it is safe to kill: chunks are numbered in source order; each scored chunk is written as
``<output>.parts/part-<n>.parquet`` under a temporary name and renamed, and a manifest
(``_manifest.json``: model, input, chunk size, the input's fingerprint) says what the parts
belong to. Run the same command again and the chunks already written are skipped; when all
exist they are joined into ``<output>`` (again through a temporary name and a rename) and the
parts folder is removed. Nothing half-written is ever at ``<output>``. A source whose row
order is not stable (a SQL query without ORDER BY) must not be resumed.

Each output row has a request id ``<job>-<chunk>-<row>``; the inference log holds one record
per chunk, request id ``<job>-<chunk>``, whose inputs are the chunk's signature columns.
Workers pin BLAS/OpenMP to one thread each (``OMP_NUM_THREADS=1`` ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.batch import _worker
from loopml.errors import InvalidParameterValue

__all__ = ["BatchResult", "predict_batch", "required_columns"]


@dataclass(frozen=True)
class BatchResult:
    """What ``predict_batch`` did: the Parquet file written (``output``), its row count,
    the chunks it holds, how many of them an interrupted earlier run had already written
    (``skipped_chunks``, not predicted again), and the wall time in seconds."""

    output: Path
    rows: int
    chunks: int
    skipped_chunks: int  # already written by an interrupted run
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def required_columns(model: Any) -> tuple[list[str], list[str]]:
    """(every signature column, the required ones) of a loaded model; ([], []) when it has
    no column signature (then all input columns go to the model)."""
    from loopml.models.signature import ColSpec

    sig = getattr(model, "signature", None)
    if sig is None or sig.inputs.is_tensor:
        return [], []
    specs = [s for s in sig.inputs.specs if isinstance(s, ColSpec)]
    return ([str(s.name) for s in specs if s.name],
            [str(s.name) for s in specs if s.name and s.required])


def _manifest(model_uri: str, source: Any, chunk_rows: int) -> dict[str, Any]:
    fp = source.fingerprint() if hasattr(source, "fingerprint") else ""
    return {"model": model_uri, "input": source.redacted, "chunk_rows": chunk_rows,
            "input_fingerprint": fp}


def _job_id(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]


def _prepare_parts(parts: Path, manifest: dict[str, Any]) -> set[int]:
    """The chunk numbers already written for this same job; a folder left by a different
    job (other model, input, chunk size, or changed input files) is cleared."""
    mf = parts / "_manifest.json"
    if parts.is_dir():
        try:
            same = json.loads(mf.read_text()) == manifest
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if not mf.exists():
        mf.write_text(json.dumps(manifest, sort_keys=True))
    return {int(p.stem.split("-")[1]) for p in parts.glob("part-*.parquet")}


def _pinned_env() -> dict[str, str | None]:
    """Set the thread variables for the workers about to start; returns the old values."""
    old = {k: os.environ.get(k) for k in _worker.THREAD_VARS}
    os.environ.update({k: "1" for k in _worker.THREAD_VARS})
    return old


def _restore_env(old: dict[str, str | None]) -> None:
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _join(parts: Path, output: Path) -> int:
    """Concatenate the parts in chunk order into ``output`` (temporary name, rename)."""
    import pyarrow.parquet as pq

    files = sorted(parts.glob("part-*.parquet"))
    tmp = output.with_name(f".{output.name}.tmp")
    rows = 0
    writer = None
    try:
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches():
                if writer is None:
                    writer = pq.ParquetWriter(tmp, batch.schema)
                writer.write_batch(batch)
                rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise InvalidParameterValue("The input has no rows; nothing was predicted.")
    os.replace(tmp, output)
    shutil.rmtree(parts)
    return rows


def _check_columns(schema_names: list[str], inputs: list[str], required: list[str],
                   keep: list[str], where: str) -> None:
    missing = [c for c in required if c not in schema_names]
    if missing:
        raise InvalidParameterValue(
            f"{where} lacks column(s) {missing} that the model's signature requires "
            f"(signature: {inputs}; input has: {schema_names}). Nothing was predicted.")
    bad_keep = [c for c in keep if c not in schema_names]
    if bad_keep:
        raise InvalidParameterValue(f"--keep-column {bad_keep}: not in {where} "
                                    f"({schema_names}).")


def _refuse_overwriting_input(source: Any, output: Path) -> None:
    """InvalidParameterValue when ``output`` is one of the local files ``source`` reads: the
    join would replace the data with its predictions."""
    if getattr(source, "kind", "") != "local":
        return
    target = output.resolve()
    for path, _ in source.files():
        if Path(path).resolve() == target:
            raise InvalidParameterValue(
                f"--output {output} would overwrite the input {path}: write the predictions "
                "to another file.")


def predict_batch(model_uri: str, input_uri: str, output: str | Path, *,
                  chunk_rows: int = 100_000, workers: int = 1, trust: bool = False,
                  flavor: str | None = None, keep_columns: list[str] | None = None,
                  inference_log: str | None = None, deployment: str = "batch",
                  executor: str = "process") -> BatchResult:
    """Score every row of ``input_uri`` (any connector URI) with ``model_uri`` into the
    Parquet file ``output``. Raises InvalidParameterValue before any work when the input
    lacks a column the signature requires; resumes an interrupted run of the same job.

    ``executor``: ``process`` (``workers`` local processes; 1 = this process) or ``ray`` /
    ``ray:ADDRESS`` (Ray tasks, at most 2 x ``workers`` chunks in flight, on the cluster at
    ADDRESS or a local one; the parts folder must be on storage every node can write)."""
    from loopml.data.connectors import open_source
    from loopml.models._load import load_folder
    from loopml.models.uris import resolve

    if chunk_rows < 1 or workers < 1:
        raise InvalidParameterValue("--chunk-rows and --workers must be at least 1.")
    kind, _, address = executor.partition(":")
    if kind not in ("process", "ray"):
        raise InvalidParameterValue(f"Unknown executor {executor!r}: use process, ray or "
                                    "ray:ADDRESS.")
    t0 = time.perf_counter()
    resolved = resolve(model_uri)
    source = open_source(input_uri)
    probe = load_folder(resolved.folder, trust or resolved.trusted, flavor)  # refuses early
    names, required = required_columns(probe)
    schema = source.schema()
    keep = list(keep_columns or [])
    _check_columns(schema.names, names, required, keep, source.redacted)
    inputs = [c for c in names if c in schema.names] or list(schema.names)
    output = Path(output)
    if output.suffix.lower() not in (".parquet", ".pq"):
        raise InvalidParameterValue(
            f"--output {output} must name a Parquet file (.parquet): predictions are written "
            "as Parquet, and a file named otherwise would mislead its readers.")
    _refuse_overwriting_input(source, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(model_uri, source, chunk_rows)
    job = _job_id(manifest)
    parts = output.with_name(f"{output.name}.parts")
    done = _prepare_parts(parts, manifest)
    args = (str(resolved.folder), trust or resolved.trusted, flavor, inputs, keep)
    writer = _open_log(inference_log)
    version = resolved.version.version if resolved.version else ""
    chunks = 0
    try:
        run = _run_ray(job, source.batches(chunk_rows), done, str(parts), workers, args,
                       address) if kind == "ray" else \
            _run(job, source.batches(chunk_rows), done, str(parts), workers, args, probe)
        for result, batch in run:
            chunks += 1
            if writer is not None:
                writer.record(deployment, result["request_id"], model_uri, str(version),
                              batch.select(inputs).to_pydict(),
                              result["outputs"], result["latency_ms"])
    finally:
        if writer is not None:
            writer.close()
    rows = _join(parts, output)
    return BatchResult(output, rows, chunks + len(done), len(done), time.perf_counter() - t0)


def _open_log(uri: str | None) -> Any:
    if not uri:
        return None
    from loopml.inference_log import InferenceLogWriter

    return InferenceLogWriter(uri)


def _run(job: str, batches: Iterator[Any], done: set[int], parts: str, workers: int,
         args: tuple[Any, ...], probe: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """(result, batch) of every chunk not in ``done``, scored in this process (workers=1)
    or in a pool of ``workers`` processes with at most 2 x workers chunks in flight."""
    if workers == 1:
        _worker._MODEL, _worker._INPUTS, _worker._KEEP = probe, args[3], args[4]
        for i, batch in enumerate(batches):
            if i not in done:
                yield _worker.score(job, i, batch, parts), batch
        return
    import multiprocessing as mp

    # Workers are spawned as chunks are submitted, so the variables stay set until the pool
    # is closed (this process's own thread pools were sized at import and do not change).
    old = _pinned_env()
    pending: dict[Future[dict[str, Any]], Any] = {}
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                 initializer=_worker.init, initargs=args) as pool:
            for i, batch in enumerate(batches):
                if i in done:
                    continue
                pending[pool.submit(_worker.score, job, i, batch, parts)] = batch
                while len(pending) >= 2 * workers:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        yield f.result(), pending.pop(f)
            for f in list(pending):
                yield f.result(), pending.pop(f)
    finally:
        _restore_env(old)


def _run_ray(job: str, batches: Iterator[Any], done: set[int], parts: str, workers: int,
             args: tuple[Any, ...], address: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """Like ``_run`` on Ray tasks (one CPU each), in submission-bounded order."""
    try:
        import ray
    except ImportError as e:
        raise InvalidParameterValue("--executor ray needs Ray: pip install 'loopml[ray]'."
                                    ) from e
    if not ray.is_initialized():
        ray.init(address=address or None, ignore_reinit_error=True, log_to_driver=False,
                 include_dashboard=False)
    remote = ray.remote(_worker.ray_score).options(num_cpus=1, max_retries=2)
    pending: dict[Any, Any] = {}
    for i, batch in enumerate(batches):
        if i in done:
            continue
        pending[remote.remote(args, job, i, batch, parts)] = batch
        while len(pending) >= 2 * workers:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield ray.get(ref), pending.pop(ref)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            yield ray.get(ref), pending.pop(ref)
