"""Dashboard pages for what happens after training: models (versions, aliases, trust,
lineage), pipelines (DAG with step status), deployments, monitors and the loop's audit."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from loopml.errors import InvalidParameterValue, LoopmlError
from loopml.ui._render import safe
from loopml.ui.svg import graph, line_chart

_KIND_HREF = {"run": "/ui/runs/{run_id}", "pipeline_run": "/ui/pipelines/{run_id}"}


def models(s: Any, q: dict[str, str]) -> dict[str, Any]:
    return {"models": s.registry.search_registered_models(max_results=1000).items}


def model(s: Any, q: dict[str, str], name: str) -> dict[str, Any]:
    from loopml.registry.lineage import lineage

    rm = s.registry.get_registered_model(name)
    versions = s.registry.search_model_versions(
        f"name = '{name.replace(chr(39), chr(39) * 2)}'", 1000).items
    versions = sorted(versions, key=lambda v: -int(v.version))
    pick = q.get("version") or (str(versions[0].version) if versions else "")
    lin = None
    if pick:
        g = lineage(s.store, s.registry, model_uri=f"models:/{name}/{pick}",
                    deployments=s.deployments).to_dict()
        nodes = []
        for n in g["nodes"]:
            label = {"model_version": f"{n.get('name')} v{n.get('version')}",
                     "run": n.get("run_name") or str(n.get("run_id", ""))[:8],
                     "dataset": n.get("name") or "dataset",
                     "deployment": n.get("name") or "deployment",
                     "pipeline_run": f"pipeline {n.get('pipeline') or ''}",
                     "pipeline_step": f"step {n.get('step')}"}.get(n["kind"], n["id"])
            href = _KIND_HREF[n["kind"]].format(**n) if n["kind"] in _KIND_HREF else ""
            if n["kind"] == "model_version":
                href = f"/ui/models/{quote(str(n.get('name')), safe='')}?version={n.get('version')}"
            nodes.append({"id": n["id"], "label": label, "sub": n["kind"], "cls": n["kind"],
                          "href": href})
        lin = safe(graph(nodes, [(e["from"], e["to"]) for e in g["edges"]]))
    return {"rm": rm, "versions": versions, "pick": pick, "lineage": lin}


def pipelines(s: Any, q: dict[str, str]) -> dict[str, Any]:
    return {"runs": s.pipelines.list_runs(q.get("pipeline") or None, None, 200)}


def pipeline_run(s: Any, q: dict[str, str], run_id: str) -> dict[str, Any]:
    run = s.pipelines.get_run(run_id)
    steps = s.pipelines.get_steps(run_id)
    by = {x.step: x for x in steps}
    edges = []
    for x in steps:
        for ref in x.inputs.values():
            if isinstance(ref, dict) and ref.get("step") in by:
                edges.append((ref["step"], x.step))
    nodes = [{"id": x.step, "label": x.step, "cls": x.status.lower(),
              "sub": f"{x.status.lower()} {_dur(x.duration_ms)}"
                     + (f" x{x.attempts}" if x.attempts > 1 else "")} for x in steps]
    return {"run": run, "steps": steps, "dag": safe(graph(nodes, sorted(set(edges))))}


def _dur(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 1000:.2f}s"


def _age_days(s: Any, uri: str) -> float | None:
    """Days since the registered version a ``models:/`` route names was created (None for
    other URIs or one that no longer resolves): the stale-model figure the page shows."""
    if not uri.startswith("models:/"):
        return None
    import time

    from loopml.errors import LoopmlError
    from loopml.models.uris import parse_models_uri

    try:
        name, version, alias = parse_models_uri(uri)
        mv = s.registry.get_model_version_by_alias(name, alias) if alias else \
            s.registry.get_model_version(name, str(version))
    except (LoopmlError, ValueError):
        return None
    return (time.time() * 1000 - mv.creation_timestamp) / 86_400_000


def deployments(s: Any, q: dict[str, str]) -> dict[str, Any]:
    out = []
    for d in s.deployments.list_deployments():
        total = sum(r.weight for r in d.routes) or 1.0
        stats = []
        for spec in s.monitor_specs:
            if spec.deployment == d.name:
                rs = s.monitoring.results(spec.name)[-20:]
                stats += [{"monitor": spec.name, "end": r.window_end, **r.metrics,
                           "rate": r.metrics.get("requests", 0.0)
                           / max((r.window_end - r.window_start) / 1000, 1e-3)} for r in rs]
        chart = None
        if stats:
            chart = safe(line_chart(
                [(k, [(i, float(x[k])) for i, x in enumerate(stats) if k in x])
                 for k in ("latency.p50_ms", "latency.p99_ms")], "latency (ms) per window",
                x_label="window"))
        out.append({"d": d, "routes": [(r.model_uri, r.weight / total, _age_days(s, r.model_uri))
                                       for r in d.routes],
                    "stats": stats[-5:], "chart": chart})
    return {"deployments": out}


def monitors(s: Any, q: dict[str, str]) -> dict[str, Any]:
    names = [m.name for m in s.monitor_specs]
    name = q.get("name") or (names[0] if names else "")
    ctx: dict[str, Any] = {"names": names, "name": name, "results": [], "features": [],
                           "alerts": []}
    if not name:
        return ctx
    if len(name) > 256:
        raise InvalidParameterValue("Monitor name too long.")
    results = s.monitoring.results(name)[-60:]
    features: list[str] = []
    for r in results:
        for c in r.details.get("drift", {}).get("columns", []):
            if c["column"] not in features:
                features.append(c["column"])
    grid = []
    for r in results:
        cols = {c["column"]: c for c in r.details.get("drift", {}).get("columns", [])}
        grid.append({"r": r, "cells": [cols.get(f) for f in features]})
    quality = [(k, [(i, float(r.metrics[k])) for i, r in enumerate(results) if k in r.metrics])
               for k in ("quality.accuracy", "quality.f1", "quality.roc_auc", "quality.mae",
                         "drift.share_drifted")]
    quality = [x for x in quality if x[1]]
    events = s.store.read_events(types=["alert.firing", "alert.resolved"], limit=10_000)
    alerts = [e for e in events if e.subject.split("/", 1)[-1] in
              {m.deployment for m in s.monitor_specs if m.name == name}][-50:]
    ctx.update(results=results, features=features, grid=grid, alerts=list(reversed(alerts)),
               chart=safe(line_chart(quality, "quality and drift per window", x_label="window"))
               if quality else None)
    return ctx


def loop(s: Any, q: dict[str, str]) -> dict[str, Any]:
    model_ = q.get("model") or None
    try:
        loops = s.loops.list_loops(model_, None, 100)
        audit = list(reversed(s.loops.history(model_, None, 0, 100_000)[-300:]))
    except LoopmlError:
        loops, audit = [], []
    return {"loops": loops, "audit": audit, "model": model_ or ""}
