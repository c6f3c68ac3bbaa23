"""Dashboard pages for experiments and runs: the runs table (search, sort, chosen columns,
pagination), run detail (params, metric charts, artifact browser with safe previews) and
run comparison. Each view is a plain function of (services, query) -> template context."""

from __future__ import annotations

import contextlib
import csv
import io
import mimetypes
import tempfile
from collections.abc import Iterator
from typing import Any

from loopml.errors import InvalidParameterValue, LoopmlError
from loopml.ui._render import safe
from loopml.ui.svg import line_chart
from loopml.ui.svg_parallel import parallel_coordinates
from loopml.ui.views_charts import chart_kwargs, points, view_type, x_axis

PAGE = 50
PREVIEW_BYTES = 64 * 1024
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}  # never SVG: it scripts
TEXT_SUFFIXES = (".txt", ".log", ".json", ".yaml", ".yml", ".md", ".py", ".cfg", ".toml",
                 ".ini", "MLmodel", ".html", ".xml", ".svg", ".js")


def experiments(s: Any, q: dict[str, str]) -> dict[str, Any]:
    exps = s.store.search_experiments(view_type(q), 1000).items
    return {"experiments": exps, "view": q.get("view") or "active"}


def _columns(runs: list[Any], chosen: str | None) -> list[str]:
    if chosen:
        cols = [c.strip() for c in chosen.split(",") if c.strip()]
        for c in cols:
            if not c.startswith(("params.", "metrics.", "tags.")):
                raise InvalidParameterValue(
                    f"Column {c!r}: use params.<key>, metrics.<key> or tags.<key>.")
        return cols[:30]
    metrics = sorted({k for r in runs for k in r.data.metrics})[:6]
    params = sorted({k for r in runs for k in r.data.params})[:4]
    return [f"metrics.{k}" for k in metrics] + [f"params.{k}" for k in params]


def cell(run: Any, col: str) -> Any:
    kind, _, key = col.partition(".")
    if kind == "metrics":
        m = run.data.metrics.get(key)
        return m.value if m is not None else None
    if kind == "params":
        return run.data.params.get(key)
    return run.data.tags.get(key)


def runs(s: Any, q: dict[str, str], experiment_id: str) -> dict[str, Any]:
    exp = s.store.get_experiment(experiment_id)
    flt, order = q.get("filter") or None, q.get("order_by") or None
    error = None
    try:
        page = s.store.search_runs([experiment_id], flt, view_type(q), PAGE,
                                   [order] if order else None, q.get("page_token") or None)
        items, token = page.items, page.next_page_token
    except LoopmlError as e:  # a bad filter is shown on the page, not a 500
        items, token, error = [], None, e.message
    cols = _columns(items, q.get("cols"))
    rows = [{"run": r, "cells": [cell(r, c) for c in cols]} for r in items]
    return {"exp": exp, "rows": rows, "cols": cols, "filter": flt or "", "order_by": order or "",
            "next_token": token, "error": error, "chosen": q.get("cols") or "",
            "view": q.get("view") or "active", "models": _logged_models(s, experiment_id)}


def _logged_models(s: Any, experiment_id: str, run_id: str | None = None) -> list[Any]:
    """MLflow 3 logged models of an experiment (of one run when ``run_id``), newest first."""
    flt = f"source_run_id = '{run_id}'" if run_id else None
    try:
        return list(s.store.search_logged_models([experiment_id], flt, 100).items)
    except LoopmlError:  # a store without logged models: the section stays empty
        return []


def run(s: Any, q: dict[str, str], run_id: str) -> dict[str, Any]:
    r = s.store.get_run(run_id)
    axis = x_axis(q)
    charts = []
    for key in sorted(r.data.metrics)[:24]:
        hist = s.store.get_metric_history(run_id, key).items
        series = [(key, points(hist, axis, r.info.start_time))]
        charts.append(safe(line_chart(series, key, **chart_kwargs(axis, series))))
    path = q.get("path", "")
    listing, preview = _artifacts(s, r, path)
    return {"run": r, "charts": charts, "listing": listing, "path": path, "preview": preview,
            "parent": path.rsplit("/", 1)[0] if "/" in path else "", "x": axis,
            "models": _logged_models(s, r.info.experiment_id, run_id)}


def _blobs(s: Any, run: Any) -> Any:
    from loopml.tracking._client import TrackingClient

    return TrackingClient(store=s.store, proxy_root=s.blobs.root_uri).artifact_store(
        run.info.artifact_uri)


def _artifacts(s: Any, run: Any, path: str) -> tuple[list[Any], dict[str, Any] | None]:
    try:
        blobs = _blobs(s, run)
    except (LoopmlError, ValueError):
        return [], None
    if path and blobs.exists(path) and not blobs.list(path):
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        return blobs.list(parent), preview(blobs, path)
    return blobs.list(path), None


def preview(blobs: Any, path: str) -> dict[str, Any]:
    ctype = mimetypes.guess_type(path)[0] or ""
    if ctype in IMAGE_TYPES:
        return {"kind": "image", "path": path}
    if path.endswith((".csv", ".tsv")):
        text = _head(blobs, path)
        reader = csv.reader(io.StringIO(text), delimiter="\t" if path.endswith(".tsv") else ",")
        table = [row for _, row in zip(range(51), reader, strict=False)]
        return {"kind": "table", "path": path, "rows": table}
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with _local_copy(blobs, path) as local:
            t = pq.read_table(local).slice(0, 50)
        rows = [t.column_names] + [[str(v) for v in row.values()] for row in t.to_pylist()]
        return {"kind": "table", "path": path, "rows": rows}
    if path.endswith(TEXT_SUFFIXES) or "." not in path.rsplit("/", 1)[-1]:
        return {"kind": "text", "path": path, "text": _head(blobs, path)}
    return {"kind": "none", "path": path}


def _head(blobs: Any, path: str) -> str:
    data = b""
    for chunk in blobs.open_stream(path):
        data += chunk
        if len(data) >= PREVIEW_BYTES:
            break
    return data[:PREVIEW_BYTES].decode("utf-8", "replace")


@contextlib.contextmanager
def _local_copy(blobs: Any, path: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as d:
        local = f"{d}/f"
        blobs.get_file(path, local)
        yield local


def artifact_bytes(s: Any, run_id: str, path: str) -> tuple[bytes, str]:
    run = s.store.get_run(run_id)
    blobs = _blobs(s, run)
    return blobs.get_bytes(path), mimetypes.guess_type(path)[0] or "application/octet-stream"


def compare(s: Any, q: dict[str, str]) -> dict[str, Any]:
    ids = [x for x in (q.get("runs") or "").split(",") if x][:10]
    if len(ids) < 2:
        raise InvalidParameterValue("Pick at least two runs to compare (tick them in the runs table).")
    runs_ = [s.store.get_run(i) for i in ids]
    axis = x_axis(q)
    keys = sorted({k for r in runs_ for k in r.data.metrics})[:16]
    charts = []
    for key in keys:
        pts = s.store.get_metric_history_bulk_interval(ids, key, 500)
        series = [(r.info.run_name or r.info.run_id[:8],
                   points([m for m in pts if m.run_id == r.info.run_id], axis, r.info.start_time))
                  for r in runs_]
        charts.append(safe(line_chart(series, key, **chart_kwargs(axis, series))))
    params = sorted({k for r in runs_ for k in r.data.params})
    rows = [("params." + p, [r.data.params.get(p) for r in runs_]) for p in params]
    rows += [("metrics." + k, [cell(r, "metrics." + k) for r in runs_]) for k in keys]
    return {"runs": runs_, "charts": charts, "rows": rows, "x": axis,
            "parallel": safe(_parallel(runs_, params, keys)), "ids": ",".join(ids)}


def _parallel(runs_: list[Any], params: list[str], keys: list[str]) -> str:
    """Params that differ between the runs, then the metrics: at most 10 axes."""
    varying = [p for p in params if len({r.data.params.get(p) for r in runs_}) > 1]
    axes = (["params." + p for p in varying] + ["metrics." + k for k in keys])[:10]
    rows = [(r.info.run_name or r.info.run_id[:8], [cell(r, a) for a in axes]) for r in runs_]
    return parallel_coordinates(axes, rows)


def logged_model(s: Any, q: dict[str, str], model_id: str) -> dict[str, Any]:
    """One MLflow 3 logged model: status, source run, params, metrics, tags, registered
    versions that point at it."""
    m = s.store.get_logged_model(model_id)
    exp = s.store.get_experiment(m.experiment_id)
    return {"m": m, "exp": exp, "metrics": sorted(m.metrics, key=lambda x: (x.key, x.step))}


def set_lifecycle(s: Any, kind: str, ident: str, action: str) -> str:
    """Delete or restore a run or an experiment (``kind``: run | experiment; ``action``:
    delete | restore); returns the page to go back to."""
    store = s.store
    if kind == "run":
        (store.delete_run if action == "delete" else store.restore_run)(ident)
        return f"/ui/runs/{ident}"
    (store.delete_experiment if action == "delete" else store.restore_experiment)(ident)
    return f"/ui/experiments/{ident}" if action == "restore" else "/ui/experiments?view=deleted"
