"""Lineage: dataset (digest, schema, source) -> run -> model version -> deployment.

Nothing extra is recorded for it: the edges are facts the stores already hold (a run's
dataset inputs, its parent tag, a version's run_id). ``lineage`` walks them from any starting
point and returns a graph of nodes and edges, which the API serves as JSON and the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml.entities import ModelVersion, Run
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
from loopml.store.base import TrackingStore
from loopml.store.deployments_base import DeploymentStore
from loopml.store.registry_base import RegistryStore

PARENT_TAG = "mlflow.parentRunId"


@dataclass
class LineageGraph:
    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, str]] = field(default_factory=list)

    def add(self, node_id: str, kind: str, **attrs: Any) -> str:
        self.nodes.setdefault(node_id, {"id": node_id, "kind": kind, **attrs})
        return node_id

    def link(self, src: str, dst: str, relation: str, **attrs: str) -> None:
        edge = {"from": src, "to": dst, "relation": relation, **attrs}
        if edge not in self.edges:
            self.edges.append(edge)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "nodes": list(self.nodes.values()), "edges": self.edges}


def _version_node(g: LineageGraph, mv: ModelVersion) -> str:
    return g.add(f"model_version:{mv.name}/{mv.version}", "model_version", name=mv.name,
                 version=mv.version, aliases=list(mv.aliases), stage=mv.current_stage,
                 trusted=mv.trusted, source=mv.source, created=mv.creation_timestamp)


def _run_node(g: LineageGraph, tracking: TrackingStore, run: Run, depth: int = 0) -> str:
    rid = g.add(f"run:{run.info.run_id}", "run", run_id=run.info.run_id,
                run_name=run.info.run_name, experiment_id=run.info.experiment_id,
                status=run.info.status, start_time=run.info.start_time,
                params=dict(run.data.params),
                metrics={k: m.value for k, m in run.data.metrics.items()})
    for di in run.inputs.dataset_inputs:
        d = di.dataset
        did = g.add(f"dataset:{d.digest}", "dataset", name=d.name, digest=d.digest,
                    source_type=d.source_type, source=d.source, schema=d.schema)
        ctx = next((t.value for t in di.tags if t.key == "mlflow.data.context"), "")
        g.link(did, rid, "input_to", context=ctx)
    tags = run.data.tags
    prid = tags.get("loopml.pipeline_run_id")
    if prid:  # made by a pipeline: the run of a step, or the pipeline run's own run
        pid = g.add(f"pipeline_run:{prid}", "pipeline_run", run_id=prid,
                    pipeline=tags.get("loopml.pipeline"))
        if tags.get("loopml.step"):
            sid = g.add(f"pipeline_step:{prid}/{tags['loopml.step']}", "pipeline_step",
                        run_id=prid, step=tags["loopml.step"])
            g.link(pid, sid, "ran")
            g.link(sid, rid, "logged_to")
        else:
            g.link(pid, rid, "logged_to")
    parent = tags.get(PARENT_TAG)
    if parent and depth < 5:
        try:
            prun = tracking.get_run(parent)
        except ResourceDoesNotExist:
            return rid
        g.link(_run_node(g, tracking, prun, depth + 1), rid, "parent_of")
    return rid


def _deployment_edges(g: LineageGraph, vid: str, mv: ModelVersion,
                      deployments: DeploymentStore | None) -> None:
    """Version -> deployments whose routes or shadows name it (by number or by alias)."""
    if deployments is None:
        return
    names = {f"models:/{mv.name}/{mv.version}"} | {f"models:/{mv.name}@{a}" for a in mv.aliases}
    for d in deployments.list_deployments():
        total = sum(r.weight for r in d.routes) or 1.0
        for r in d.routes:
            if r.model_uri in names:
                did = g.add(f"deployment:{d.name}", "deployment", name=d.name,
                            revision=d.revision)
                g.link(vid, did, "serves_in", weight=f"{r.weight / total:.3f}")
        for uri in d.shadow:
            if uri in names:
                did = g.add(f"deployment:{d.name}", "deployment", name=d.name,
                            revision=d.revision)
                g.link(vid, did, "shadows_in")


def lineage_of_version(tracking: TrackingStore, registry: RegistryStore,
                       mv: ModelVersion, deployments: DeploymentStore | None = None
                       ) -> LineageGraph:
    g = LineageGraph(f"model_version:{mv.name}/{mv.version}")
    vid = _version_node(g, mv)
    _deployment_edges(g, vid, mv, deployments)
    if mv.run_id:
        try:
            run = tracking.get_run(mv.run_id)
        except ResourceDoesNotExist:
            g.add(f"run:{mv.run_id}", "run", run_id=mv.run_id, missing=True)
            g.link(f"run:{mv.run_id}", vid, "produced")
            return g
        g.link(_run_node(g, tracking, run), vid, "produced")
    return g


def lineage_of_run(tracking: TrackingStore, registry: RegistryStore, run_id: str) -> LineageGraph:
    run = tracking.get_run(run_id)
    g = LineageGraph(f"run:{run_id}")
    rid = _run_node(g, tracking, run)
    for mv in registry.search_model_versions(f"run_id = '{run_id}'"):
        g.link(rid, _version_node(g, mv), "produced")
    return g


def lineage(tracking: TrackingStore, registry: RegistryStore, *, model_uri: str | None = None,
            run_id: str | None = None,
            deployments: DeploymentStore | None = None) -> LineageGraph:
    """The lineage graph around a model version (``models:/...``) or a run."""
    if model_uri:
        from loopml.models.uris import parse_models_uri

        if not model_uri.startswith("models:/"):
            raise InvalidParameterValue(
                f"Lineage starts from a registered model URI (models:/<name>/<version> or "
                f"models:/<name>@<alias>), not {model_uri!r}. For a run, pass run_id.")
        name, ver, alias = parse_models_uri(model_uri)
        if alias:
            mv = registry.get_model_version_by_alias(name, alias)
        elif ver and ver.isdigit():
            mv = registry.get_model_version(name, ver)
        else:
            raise InvalidParameterValue(
                f"{model_uri!r}: lineage needs a version number or an alias.")
        return lineage_of_version(tracking, registry, mv, deployments)
    if run_id:
        return lineage_of_run(tracking, registry, run_id)
    raise InvalidParameterValue("Lineage needs a model URI (uri=models:/...) or a run_id.")
