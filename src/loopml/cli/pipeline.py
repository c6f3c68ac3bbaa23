"""``loopml pipeline ...``: lint, run and resume pipelines; list runs; cron schedules and
event triggers that ``loopml server`` runs."""

from __future__ import annotations

import json
from typing import Any

import typer

from loopml.cli._common import fail, tracking_client
from loopml.errors import LoopmlError

pipeline_app = typer.Typer(
    help="Run pipelines (@pipeline functions given as module:attr), see their runs and steps, "
         "and schedule them by cron or on events.",
    no_args_is_help=True,
)
_URI_HELP = "Tracking URI (a loopml server or a database). Default: LOOPML_TRACKING_URI, else the local store."
_PARAM_HELP = "Pipeline parameter NAME=VALUE, repeatable. Values are converted to the parameter's annotated type (int, float, bool, str); other values are read as YAML (lists, dicts)."
_EXECUTOR_HELP = "Where steps run: inprocess (one at a time, in this process), process or process:N (a pool of N worker processes), ray (local Ray) or ray://HOST:PORT (a Ray cluster)."




def _local_code() -> None:
    """The user named the module on their own command line: find ./module.py too, like
    `python -m` (a server never does this; see loopml.pipelines._refs)."""
    from loopml.pipelines._refs import allow_cwd_imports

    allow_cwd_imports()


def _pipelines(tracking_uri: str | None) -> Any:
    from loopml.store import get_pipeline_store

    return get_pipeline_store(tracking_client(tracking_uri).store)


def _load(ref: str) -> Any:
    """The pipeline ``ref`` names; a module that fails to import is bad input (exit 2), with
    its error on one line."""
    from loopml.errors import InvalidConfig
    from loopml.pipelines import load_pipeline

    _local_code()
    try:
        return load_pipeline(ref)
    except LoopmlError:
        raise
    except Exception as e:
        raise InvalidConfig(f"importing pipeline {ref!r} failed: {type(e).__name__}: {e}") from None


def _params(raw: list[str] | None) -> dict[str, str]:
    out = {}
    for item in raw or []:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE.", param_hint="--param")
        out[k.strip()] = v
    return out


def _show_result(run: Any, steps: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pipeline {run.pipeline} run {run.run_id}: {run.status}")
    for col in ("step", "status", "attempts", "seconds", "detail"):
        table.add_column(col)
    for s in steps:
        secs = f"{s.duration_ms / 1000:.3f}" if s.duration_ms is not None else ""
        detail = (s.error or "").strip().splitlines()[-1:] or [
            f"from run {s.cached_from}" if s.cached_from else ", ".join(sorted(s.outputs))]
        table.add_row(s.step, s.status, str(s.attempts), secs, detail[0][:100])
    Console().print(table)
    if run.error:
        typer.echo(f"Error: {run.error}", err=True)


def _finish(res: Any) -> None:
    """Print a finished run's steps; exit 1 when it failed (resume it later)."""
    _show_result(res.run, list(res.steps.values()))
    if not res.succeeded:
        raise typer.Exit(1)


@pipeline_app.command("run")
def run_cmd(
    pipeline: str = typer.Argument(..., help="The pipeline as module:attr, e.g. flows.training:training (modules in the current folder are found)."),
    param: list[str] = typer.Option(None, "--param", "-p", help=_PARAM_HELP),
    executor: str = typer.Option("inprocess", help=_EXECUTOR_HELP),
    cache: bool = typer.Option(True, help="Reuse outputs of steps whose code, inputs and parameters are unchanged. --no-cache runs every step."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Lint and run a pipeline; prints each step's status. Exits 1 if a step failed (resume
    it with `loopml pipeline resume RUN_ID`), 2 on a lint or usage error."""
    from loopml.pipelines import run

    try:
        p = _load(pipeline)
        p.ref = pipeline
        res = run(p, _params(param), executor=executor, cache=cache,
                  client=tracking_client(tracking_uri))
    except LoopmlError as e:
        raise fail(e) from None
    _finish(res)


@pipeline_app.command("resume")
def resume_cmd(
    run_id: str = typer.Argument(..., help="The failed pipeline run's id."),
    executor: str = typer.Option(None, help=_EXECUTOR_HELP + " Default: the run's own."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Continue a failed run from its failed steps: succeeded steps keep their outputs."""
    from loopml.pipelines import resume

    _local_code()
    try:
        res = resume(run_id, executor=executor, client=tracking_client(tracking_uri))
    except LoopmlError as e:
        raise fail(e) from None
    _finish(res)


@pipeline_app.command("lint")
def lint_cmd(
    pipeline: str = typer.Argument(..., help="The pipeline as module:attr."),
    param: list[str] = typer.Option(None, "--param", "-p", help=_PARAM_HELP),
) -> None:
    """Check a pipeline without running it: cycles, missing inputs, outputs loopml cannot
    store, unknown or missing parameters. Exits 2 and lists every problem."""
    try:
        p = _load(pipeline)
        resolved = p.lint(_params(param))
    except LoopmlError as e:
        raise fail(e) from None
    typer.echo(f"{p.name}: {len(p.nodes)} steps, OK. Parameters: {json.dumps(resolved, default=str)}")
    for n in p.topological():
        ups = sorted(p.nodes[n].upstream())
        typer.echo(f"  {n}" + (f"  <- {', '.join(ups)}" if ups else ""))


@pipeline_app.command("runs")
def runs_cmd(
    pipeline: str = typer.Option(None, help="Only runs of this pipeline (its name)."),
    status: str = typer.Option(None, help="Only runs with this status (PENDING, RUNNING, SUCCEEDED, FAILED)."),
    limit: int = typer.Option(20, min=1, max=10_000, help="How many runs, newest first."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """List pipeline runs, newest first."""
    store = _pipelines(tracking_uri)
    for r in store.list_runs(pipeline, status, limit):
        secs = (r.end_time - r.start_time) / 1000 if r.end_time and r.start_time else None
        typer.echo(f"{r.run_id}  {r.pipeline:<24} {r.status:<10} "
                   f"{'' if secs is None else f'{secs:.1f}s':>8}  {r.trigger.get('kind', '')}")


@pipeline_app.command("show")
def show_cmd(
    run_id: str = typer.Argument(..., help="A pipeline run id."),
    as_json: bool = typer.Option(False, "--json", help="Print the run and its steps as JSON."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Show a pipeline run and its steps."""
    store = _pipelines(tracking_uri)
    try:
        run, steps = store.get_run(run_id), store.get_steps(run_id)
    except LoopmlError as e:
        raise fail(e) from None
    if as_json:
        typer.echo(json.dumps({"run": run.to_dict(), "steps": [s.to_dict() for s in steps]},
                              indent=2, default=str))
        return
    _show_result(run, steps)


@pipeline_app.command("output")
def output_cmd(
    run_id: str = typer.Argument(..., help="A pipeline run id."),
    step: str = typer.Argument(..., help="The step whose output to get (e.g. register)."),
    name: str = typer.Option("output", help="Which output of a step with several."),
    key: str = typer.Option(None, help="Print only this key of a mapping output (e.g. model_uri)."),
    out: str = typer.Option(None, help="Write a DataFrame output to this Parquet file instead."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Print a finished step's output: a mapping or value as JSON (with --key, one value, for
    scripts: `loopml pipeline output RUN register --key model_uri`), a DataFrame as its
    shape and first rows (or --out FILE.parquet). Exits 1 when the step has no such output."""
    from loopml.pipelines._materialize import load_output

    client = tracking_client(tracking_uri)
    store = _pipelines(tracking_uri)
    try:
        steps = {s.step: s for s in store.get_steps(run_id)}
    except LoopmlError as e:
        raise fail(e) from None
    s = steps.get(step)
    if s is None or name not in s.outputs:
        have = sorted(steps) if s is None else sorted(s.outputs)
        typer.echo(f"Error: run {run_id} has no output {name!r} of step {step!r} "
                   f"({'steps' if s is None else 'outputs'}: {have}).", err=True)
        raise typer.Exit(1)
    ref = s.outputs[name]
    value = load_output(ref, client.artifact_store(ref["uri"]))
    if key is not None:
        if not isinstance(value, dict) or key not in value:
            typer.echo(f"Error: the output has no key {key!r}.", err=True)
            raise typer.Exit(1)
        value = value[key]
        typer.echo(value if isinstance(value, str) else json.dumps(value, default=str))
        return
    if hasattr(value, "to_parquet"):
        if out:
            value.to_parquet(out)
            typer.echo(f"{len(value)} rows written to {out}")
        else:
            typer.echo(f"DataFrame {value.shape[0]} x {value.shape[1]}\n{value.head(10)}")
        return
    typer.echo(json.dumps(value, indent=2, default=str))


def _create_trigger(name: str | None, pipeline: str, kind: str, spec: dict[str, Any],
                    param: list[str] | None, executor: str, tracking_uri: str | None,
                    marker: int = 0) -> None:
    from loopml.pipelines.executors import parse_spec
    from loopml.pipelines.triggers import lint_trigger_params, validate_trigger
    from loopml.store.pipelines_base import Trigger

    store = _pipelines(tracking_uri)
    t = Trigger(name or f"{pipeline.rsplit(':', 1)[-1]}-{kind}", pipeline, kind, spec,
                _params(param), executor, marker)
    try:
        t = validate_trigger(t)
        parse_spec(executor)
        lint_trigger_params(t, _load(pipeline))  # as `pipeline run` does, before storing
        t = store.create_trigger(t)
    except LoopmlError as e:
        raise fail(e) from None
    what = f"cron {spec['cron']} (UTC)" if kind == "cron" else \
        f"events {', '.join(spec['types'])} with subject {spec['subject']}"
    typer.echo(f"Trigger {t.name}: {pipeline} on {what}. `loopml server` runs it.")


@pipeline_app.command("schedule")
def schedule_cmd(
    pipeline: str = typer.Argument(..., help="The pipeline as module:attr; the server must have it registered (`loopml server --pipelines`)."),
    cron: str = typer.Option(..., help="Cron expression in UTC, five fields, e.g. '0 3 * * *' for 03:00 daily."),
    name: str = typer.Option(None, help="Trigger name. Default: <pipeline>-cron."),
    param: list[str] = typer.Option(None, "--param", "-p", help=_PARAM_HELP),
    executor: str = typer.Option("inprocess", help=_EXECUTOR_HELP),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Run a pipeline on a cron schedule, inside `loopml server`."""
    _create_trigger(name, pipeline, "cron", {"cron": cron}, param, executor, tracking_uri)


@pipeline_app.command("trigger")
def trigger_cmd(
    pipeline: str = typer.Argument(..., help="The pipeline as module:attr; the server must have it registered (`loopml server --pipelines`)."),
    on: list[str] = typer.Option(..., "--on", help="Event type, repeatable: dataset.version_created, model_version.created, alert.firing, pipeline_run.finished, ..."),
    subject: str = typer.Option("*", help="Only events whose subject matches this glob, e.g. 'fraud/*' for versions of model fraud, or 'drift*/fraud' for an alert rule."),
    name: str = typer.Option(None, help="Trigger name. Default: <pipeline>-event."),
    param: list[str] = typer.Option(None, "--param", "-p", help=_PARAM_HELP),
    executor: str = typer.Option("inprocess", help=_EXECUTOR_HELP),
    from_now: bool = typer.Option(True, help="React only to events after now (--no-from-now also replays past events)."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Run a pipeline on each matching event, inside `loopml server`. A pipeline parameter
    named `event` receives the event ({seq, type, subject, payload, time})."""
    marker = _last_seq(tracking_client(tracking_uri).store) if from_now else 0
    _create_trigger(name, pipeline, "event", {"types": list(on), "subject": subject}, param,
                    executor, tracking_uri, marker)


def _last_seq(store: Any) -> int:
    seq, batch = 0, store.read_events(after_seq=0, limit=10_000)
    while batch:
        seq = batch[-1].seq
        batch = store.read_events(after_seq=seq, limit=10_000)
    return seq


@pipeline_app.command("triggers")
def triggers_cmd(tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """List schedules and event triggers."""
    for t in _pipelines(tracking_uri).list_triggers():
        what = t.spec.get("cron") if t.kind == "cron" else ",".join(t.spec.get("types", []))
        typer.echo(f"{t.name:<24} {t.kind:<6} {what:<24} {t.ref}  {json.dumps(t.params)}")


@pipeline_app.command("unschedule")
def unschedule_cmd(
    name: str = typer.Argument(..., help="Trigger name (see `loopml pipeline triggers`)."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Delete a schedule or event trigger."""
    try:
        _pipelines(tracking_uri).delete_trigger(name)
    except LoopmlError as e:
        raise fail(e) from None
    typer.echo(f"Deleted trigger {name}.")
