"""``optimize``: candidates -> measurements -> selection -> a tracked run -> a derived
model version. The CLI's ``loopml target optimize`` is a thin wrapper around it.

The run (experiment ``loopml-optimize``) holds one metric set per candidate
(``<name>.p99_ms``, ...), the JSON report (``report.json``: profile, candidates with pruned
cells and reasons, measurements with badges and CIs, the choice or the nearest misses,
provenance) and the Pareto plot (``pareto.svg``). The chosen variant is logged under the
run as ``model/`` and registered as a new version of the parent's registered model, tagged
with its lineage: ``loopml.derived_from`` (parent version URI), ``loopml.recipe``,
``loopml.target`` (profile name@version) and ``loopml.optimize_run``.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.targets.candidates import Candidate, build_candidates
from loopml.targets.harness import HARNESS_VERSION, Measurement, measure
from loopml.targets.profile import TargetProfile, host_isa
from loopml.targets.select import Selection, pareto_svg, select

EXPERIMENT = "loopml-optimize"


@dataclass
class OptimizeReport:
    selection: Selection
    measurements: list[Measurement]
    candidates: list[Candidate]
    run_id: str | None = None
    derived_uri: str | None = None

    @property
    def chosen(self) -> Measurement | None:
        return self.selection.chosen

    def to_dict(self, profile: TargetProfile) -> dict[str, Any]:
        return {"profile": profile.to_dict(),
                "chosen": self.chosen.candidate.name if self.chosen else None,
                "message": self.selection.message, "misses": self.selection.misses,
                "pareto": [m.candidate.name for m in self.selection.pareto],
                "measurements": [m.to_dict() for m in self.measurements],
                "derived_uri": self.derived_uri,
                "provenance": {"harness_version": HARNESS_VERSION, "python": platform.python_version(),
                               "machine": platform.machine(), "kernel": platform.release(),
                               "isa": host_isa(), "runtimes": _versions()}}


def _versions() -> dict[str, str | None]:
    from loopml.models.flavors.base import version_of

    return {p: version_of(p) for p in ("onnxruntime", "onnx", "skl2onnx", "onnxmltools",
                                       "scikit-learn", "lightgbm", "torch")}


def read_holdout(path: str | Path, label: str) -> tuple[Any, np.ndarray]:
    """(features, labels) from a Parquet or CSV file with a ``label`` column."""
    import pandas as pd

    p = Path(path)
    frame = pd.read_parquet(p) if p.suffix in (".parquet", ".pq") else pd.read_csv(p)
    if label not in frame.columns:
        from loopml._config import suggest

        raise InvalidParameterValue(f"{path}: no label column {label!r}"
                                    f"{suggest(label, [str(c) for c in frame.columns])}.")
    return frame.drop(columns=[label]), frame[label].to_numpy()


def _classes(model: Any) -> np.ndarray | None:
    c = getattr(model.native, "classes_", None)
    return np.asarray(c) if c is not None else None


def optimize(model_uri: str, profile: TargetProfile, holdout: tuple[Any, Any], *,
             calibration: Any = None, calls: int = 1000, rounds: int = 3, retries: int = 1,
             warmup_s: float = 2.0, trust: bool = False, register: bool = True,
             profile_ref: str | None = None, client: Any = None,
             log_run: bool = True, work_dir: str | Path | None = None) -> OptimizeReport:
    """Build, measure and select variants of ``model_uri`` for ``profile``.

    ``holdout``: (rows, labels) for accuracy and fidelity (labels may be None); also the
    calibration set unless ``calibration`` is given. ``calls``/``rounds``: per candidate and
    round (1,000 x 3 for a real run; tests pass a few). Registration needs a ``models:/``
    URI. ``work_dir``: build the candidates there and keep them (default: a temporary
    folder, removed). Raises ``InvalidParameterValue`` for a calibration set that does not
    match the signature."""
    from loopml.models._load import load_folder
    from loopml.models.uris import resolve

    resolved = resolve(model_uri)
    trust = trust or resolved.trusted
    model = load_folder(resolved.folder, trust=trust, uri=model_uri)
    x_rows, y = holdout
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="loopml-optimize-"))
    try:
        cands = build_candidates(model, profile, x_rows, work / "candidates", calibration)
        from loopml.targets.candidates import check_calibration

        x = check_calibration(model, x_rows)
        ms = measure(cands, profile, x, None if y is None else np.asarray(y), calls=calls,
                     rounds=rounds, retries=retries, warmup_s=warmup_s, trust=trust,
                     flavor=model.flavor.name, classes=_classes(model))
        report = OptimizeReport(select(ms, profile), ms, cands)
        if log_run:
            _log(report, profile, model, model_uri, work, register, profile_ref, client)
        return report
    finally:
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _log(report: OptimizeReport, profile: TargetProfile, model: Any, model_uri: str,
         work: Path, register: bool, profile_ref: str | None, client: Any) -> None:
    if client is None:
        from loopml.tracking._fluent import client as default

        client = default()
    exp = client.get_or_create_experiment(EXPERIMENT)
    ref = profile_ref or profile.name
    run = client.create_run(exp.experiment_id, run_name=f"optimize-{profile.name}",
                            tags={"loopml.kind": "optimize", "loopml.target": ref,
                                  "loopml.parent_model": model_uri})
    rid = run.info.run_id
    report.run_id = rid
    parent_run = _parent_run(model_uri, client)
    if parent_run:  # lineage walks derived version -> this run -> the parent's training run
        client.set_tag(rid, "mlflow.parentRunId", parent_run)
    for m in report.measurements:
        if not m.ok:
            continue
        for k in ("p50_ms", "p99_ms", "peak_rss_mb", "size_mb", "cold_start_ms"):
            client.log_metric(rid, f"{m.candidate.name}.{k}", float(getattr(m, k)))
        if m.accuracy is not None:
            client.log_metric(rid, f"{m.candidate.name}.{m.metric}", m.accuracy)
    chosen = report.chosen
    client.set_tag(rid, "loopml.chosen", chosen.candidate.name if chosen else "none")
    out = work / "report"
    out.mkdir(exist_ok=True)
    (out / "pareto.svg").write_text(pareto_svg(report.measurements, profile, chosen))
    if chosen is not None:
        _variant_folder(model, chosen.candidate, out / "model")
        if register and model_uri.startswith("models:/"):
            report.derived_uri = _register(client, rid, model_uri, chosen, ref)
    (out / "report.json").write_text(json.dumps(report.to_dict(profile), indent=1, default=str))
    client.log_artifacts(rid, out)
    client.terminate(rid)


def _parent_run(model_uri: str, client: Any) -> str | None:
    if not model_uri.startswith("models:/"):
        return None
    from loopml.models.uris import resolve_version

    try:
        mv = resolve_version(model_uri, client)
    except Exception:  # a logged-model id or a vanished version: no edge, not an error
        return None
    return mv.run_id if mv else None


def _variant_folder(model: Any, cand: Candidate, dest: Path) -> None:
    """An MLflow model folder for the chosen variant, with the parent's signature and
    input example (the native choice is a copy of the parent folder)."""
    if cand.runtime == "native":
        shutil.copytree(model.folder, dest)
        return
    import onnx

    from loopml.models import save_model

    assert cand.path is not None
    save_model(onnx.load(cand.path), dest, signature=model.signature, flavor="onnx")
    example = model.folder / "input_example.json"
    if example.is_file() and model.meta.saved_input_example_info:
        from loopml.models._integrity import compute_digests
        from loopml.models._mlmodel import MLModel

        shutil.copyfile(example, dest / "input_example.json")
        meta = MLModel.load(dest)
        meta.saved_input_example_info = model.meta.saved_input_example_info
        meta.file_digests = compute_digests(dest)
        meta.save(dest)


def _register(client: Any, run_id: str, parent_uri: str, chosen: Measurement, ref: str) -> str:
    from loopml.models import register_model
    from loopml.models.uris import parse_models_uri, resolve_version

    name = parse_models_uri(parent_uri)[0]
    parent = resolve_version(parent_uri, client)
    parent_ref = f"models:/{name}/{parent.version}" if parent else parent_uri
    recipe = {"candidate": chosen.candidate.name, "runtime": chosen.candidate.runtime,
              "precision": chosen.candidate.precision, **chosen.candidate.recipe}
    mv = register_model(f"runs:/{run_id}/model", name, client=client, tags={
        "loopml.derived_from": parent_ref, "loopml.recipe": json.dumps(recipe, sort_keys=True),
        "loopml.target": ref, "loopml.optimize_run": run_id,
        "loopml.latency_badge": chosen.badge})
    return f"models:/{name}/{mv.version}"


__all__ = ["EXPERIMENT", "OptimizeReport", "optimize", "read_holdout"]
