"""``build``: data + target column + task + target profile -> a deployed, monitored model.

Runs ``flow.build_pipeline`` and turns its outcome into a ``BuildResult``; a failed stage
becomes an error with the stage's message (a ``BuildInputError`` for bad data: exit 2),
and running the same build again resumes at that stage (the earlier stages are cached).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.automl.checks import TASKS, BuildInputError
from loopml.errors import InternalError, InvalidParameterValue

DEFAULT_BUDGET_S = 120.0
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


class BuildFailed(InternalError):
    """A stage failed for a reason other than the data (the message names the stage and
    says how to resume), or no candidate met the budgets (``misses`` lists the nearest)."""


@dataclass
class BuildResult:
    """What a build produced. ``deployed`` False means no candidate met the budgets:
    ``misses`` holds the nearest misses and nothing was registered or deployed."""

    name: str
    task: str
    metric: str
    deployed: bool
    model_uri: str | None
    version: int | None
    chosen: str | None
    validation_score: float | None
    test_score: float | None
    selection_message: str
    misses: list[dict[str, Any]]
    trials: int
    ensemble: bool
    warnings: list[str]
    pipeline_run_id: str
    monitors_file: str | None = None
    policies_file: str | None = None
    measurements: list[dict[str, Any]] = field(default_factory=list)
    curl: str = ""
    endpoint: str = ""
    serve_command: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    cached_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def resolve_profile(target: str | None, p99_ms: float | None, client: Any) -> tuple[Any, str]:
    """(profile, reference): a profile file, a stored ``NAME[@VERSION]``, or ``probe`` /
    None for this host (``cores: 1``, so measurements are pinned to one core)."""
    from loopml.automl.deploy import with_budget
    from loopml.targets.profile import load_profile, probe, profile_from_dict

    if target in (None, "", "probe", "this-machine"):
        d = probe("this-machine").to_dict()
        d["hardware"]["cpu"]["cores"] = 1
        prof, ref = profile_from_dict(d, "probe"), "this-machine (probed, 1 core)"
    elif Path(target).is_file():
        prof, ref = load_profile(target), target
    else:
        from loopml.targets.store import ProfileStore

        prof, version = ProfileStore(client).get(target)
        ref = f"{prof.name}@{version}"
    return with_budget(prof, p99_ms), ref


def _check_args(target_column: str, task: str, budget_s: float, name: str,
                test_size: float) -> None:
    if not target_column:
        raise BuildInputError("Name the target column (--target-column).")
    if task not in TASKS:
        raise BuildInputError(f"task must be one of {', '.join(TASKS)}; got {task!r}.")
    if not budget_s > 0:
        raise BuildInputError(f"The budget must be > 0 seconds; got {budget_s}.")
    if not 0 <= test_size < 0.9:
        raise BuildInputError(f"test_size must be in [0, 0.9); got {test_size}.")
    if not name or any(c not in _NAME_CHARS for c in name) or len(name) > 100:
        raise BuildInputError(f"The model name {name!r} may use letters, digits, '-', '_' "
                              "and '.' (at most 100).")


def _failure(res: Any) -> Exception:
    from loopml.store.pipelines_base import FAILED

    for s in res.steps.values():
        if s.status != FAILED or not s.error:
            continue
        text = s.error.strip()
        marker = "BuildInputError: "
        if marker in text:
            return BuildInputError(text.rsplit(marker, 1)[1].strip().splitlines()[0])
        last = text.splitlines()[-1] if text else "unknown error"
        return BuildFailed(f"The build failed at stage {s.step!r}: {last}. Fix the cause and "
                           "run the same build again: finished stages are reused.")
    return BuildFailed(f"The build did not finish: {res.run.error}")


def _default_name(data: str, target_column: str) -> str:
    stem = Path(data.split("@")[0].split("?")[0]).stem or "model"
    raw = f"{stem}-{target_column}".replace(":", "-")
    return "".join(c if c in _NAME_CHARS else "-" for c in raw)[:100]


def build(data: str, target_column: str, *, task: str = "auto", target: str | None = None,
          p99_ms: float | None = None, budget_s: float = DEFAULT_BUDGET_S,
          name: str | None = None, test_size: float = 0.2, seed: int = 0,
          families: list[str] | None = None, calls: int = 200, log_dir: str | None = None,
          workdir: str | Path | None = None, client: Any = None, port: int = 8080,
          cache: bool = True) -> BuildResult:
    """Build a model for ``target_column`` of ``data`` and deploy it.

    ``data``: a CSV/Parquet path, ``dataset:NAME[@VERSION|ALIAS]`` or a connector URI.
    ``task``: auto | binary | multiclass | regression. ``target``: a profile file, a stored
    profile ``NAME[@VERSION]``, or None / ``probe`` (this host, one core). ``p99_ms``: the
    latency budget (ms, p99, batch 1), overriding the profile's. ``budget_s``: wall-clock
    seconds of the AutoML search (refits and measurement come on top). ``name``: the
    registered model and deployment (default: file stem and target). ``test_size``: share
    of rows held out for the reported test score (0: none, fit on everything).
    ``log_dir``: where the serving process writes the inference log the monitor reads
    (default ``LOOPML_HOME/inference``). ``workdir``: progress, monitors and policies
    files (default ``LOOPML_HOME/automl/<name>``).

    Raises ``BuildInputError`` (bad data or arguments) and ``BuildFailed`` (a stage
    failed). A build whose candidates all miss the budgets returns ``deployed=False`` with
    the nearest misses."""
    from loopml.automl import sources
    from loopml.automl.flow import build_pipeline, has_budgets
    from loopml.automl.search import metric_name
    from loopml.config import loopml_home
    from loopml.pipelines import run
    from loopml.store.pipelines_base import CACHED

    name = name or _default_name(data, target_column)
    _check_args(target_column, task, budget_s, name, test_size)
    if client is None:
        from loopml.tracking._fluent import client as default

        client = default()
    profile, ref = resolve_profile(target, p99_ms, client)
    home = loopml_home()
    wd = Path(workdir) if workdir else home / "automl" / name
    log_dir = log_dir or str(home / "inference")
    try:
        fp = sources.fingerprint(data, client.tracking_uri)
    except InvalidParameterValue as e:
        raise BuildInputError(e.message) from None
    params = {"data": data, "fingerprint": fp, "target_column": target_column, "task": task,
              "budget_s": float(budget_s), "test_size": float(test_size), "seed": seed,
              "families": list(families or []), "profile": profile.to_dict(),
              "profile_ref": ref, "calls": calls, "name": name, "log_dir": log_dir,
              "workdir": str(wd), "alternatives": has_budgets(profile.to_dict()),
              "retrain_params": {"data": data, "target_column": target_column, "task": task,
                                 "budget_s": float(budget_s)}}
    res = run(build_pipeline, params, client=client, cache=cache)
    if not res.succeeded:
        raise _failure(res)
    report = res.output("check")
    search = res.output("automl")
    sel = res.output("select")
    dep = res.output("deploy")
    chosen = sel["chosen"]
    out = BuildResult(
        name=name, task=report["task"], metric=metric_name(report), deployed=dep["deployed"],
        model_uri=dep.get("model_uri"), version=dep.get("version"),
        chosen=chosen["name"] if chosen else None,
        validation_score=chosen["score"] if chosen else None,
        test_score=chosen.get("test_score") if chosen else None,
        selection_message=sel["message"], misses=sel["misses"],
        trials=len(search["trials"]), ensemble=bool(search["ensemble"]),
        warnings=list(report["warnings"]), pipeline_run_id=res.run_id,
        monitors_file=dep.get("monitors"), policies_file=dep.get("policies"),
        measurements=sel["measurements"], report=report,
        cached_steps=[s for s, r in res.steps.items() if r.status == CACHED])
    if out.deployed:
        from loopml.automl.deploy import curl_example

        frame = res.output("split", "train")
        row = {c: frame[c].iloc[0] for c in report["features"]}  # each column's own dtype
        base = f"http://127.0.0.1:{port}"
        out.endpoint = f"{base}/v2/models/{name}/infer"
        out.curl = curl_example(name, report, row, base)
        out.serve_command = (f"loopml serve --serve-deployment {name} --inference-log "
                             f"{log_dir} --port {port}")
    _write_progress(wd, out)
    return out


def _write_progress(wd: Path, out: BuildResult) -> None:
    from loopml.automl.flow import _progress

    _progress(str(wd), stage="done" if out.deployed else "no feasible model",
              result={k: v for k, v in out.to_dict().items() if k != "report"})


__all__ = ["BuildFailed", "BuildResult", "DEFAULT_BUDGET_S", "build", "resolve_profile"]
