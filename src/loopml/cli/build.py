"""``loopml build``: data + target column + task + target profile -> a deployed, monitored
model (the no-code flow; docs/automl.md)."""

from __future__ import annotations

import json

import typer

_URI_HELP = "Tracking URI (store for runs, models, deployments). Default: LOOPML_TRACKING_URI, else the local store."


def build(
    data: str = typer.Argument(..., help="A CSV or Parquet file, a registered dataset (dataset:NAME or dataset:NAME@VERSION|ALIAS) or a connector URI (s3://..., postgresql://...?query=..., duckdb://?query=...)."),
    target_column: str = typer.Option(..., "--target-column", help="The column to predict."),
    task: str = typer.Option("auto", "--task", help="auto | binary | multiclass | regression (auto: suggested from the label column)."),
    target: str = typer.Option(None, "--target", help="Target profile: a stored NAME[@VERSION] (loopml target create/probe --save), a profile YAML file, or 'probe' (this machine, 1 core; the default)."),
    p99_ms: float = typer.Option(None, "--p99-ms", min=0.0001, help="Latency budget in milliseconds (p99, one row), overriding the profile's."),
    budget_s: float = typer.Option(120.0, "--budget-s", min=1.0, help="Wall-clock seconds for the AutoML search (refits and latency measurement come on top)."),
    name: str = typer.Option(None, "--name", help="Registered model and deployment name. Default: FILE-STEM-TARGET-COLUMN."),
    test_size: float = typer.Option(0.2, "--test-size", min=0.0, max=0.89, help="Share of rows held out (stratified, without replacement) for the reported test score; 0 fits on all rows."),
    family: list[str] = typer.Option(None, "--family", help="Restrict the search to these families (repeatable): linear, random_forest, hist_gb, lightgbm, xgboost, mlp."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the search."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port shown in the endpoint, the curl example, and used by --serve."),
    serve: bool = typer.Option(False, "--serve", help="After the build, serve the deployment in the foreground (loopml serve --serve-deployment NAME)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every stage again (default: a rerun reuses finished stages)."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Check the data, split it, search six model families with Optuna under a wall-clock
    budget, select the best model that meets the target's latency budget (measured), then
    register, deploy, and write a drift monitor and a retrain-on-drift loop policy. A failed
    build resumes at the failed stage when run again. Exit 2 for bad data (with the reason),
    1 when no model meets the budgets (nearest misses printed; nothing deployed) or a stage
    failed."""
    from loopml.automl import build as run_build
    from loopml.automl.families import FAMILIES
    from loopml.cli._common import fail, tracking_client
    from loopml.errors import LoopmlError

    bad = [f for f in family or [] if f not in FAMILIES]
    if bad:
        raise typer.BadParameter(f"unknown family {bad[0]!r}; expected one of "
                                 f"{', '.join(FAMILIES)}.", param_hint="--family")
    try:
        client = tracking_client(tracking_uri)
        res = run_build(data, target_column, task=task, target=target, p99_ms=p99_ms,
                        budget_s=budget_s, name=name, test_size=test_size, seed=seed,
                        families=family or None, client=client, port=port, cache=not no_cache)
    except LoopmlError as e:
        raise fail(e) from None
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=1, default=str))
    else:
        _print(res)
    if not res.deployed:
        raise typer.Exit(1)
    if serve:
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "loopml", "serve", "--serve-deployment", res.name,
               "--inference-log", res.serve_command.split("--inference-log ")[1].split(" ")[0],
               "--port", str(port)]
        if tracking_uri:
            cmd += ["--tracking-uri", tracking_uri]
        raise typer.Exit(subprocess.call(cmd))


def _print(res) -> None:  # type: ignore[no-untyped-def]
    for w in res.warnings:
        typer.echo(f"warning: {w}")
    typer.echo(f"task {res.task}; {res.trials} trials; ensemble {'won' if res.ensemble else 'lost'}"
               f"; stages reused: {', '.join(res.cached_steps) or 'none'}")
    for m in res.measurements:
        typer.echo(f"  {m['name']:14} {res.metric} {m['score']:.4f}  p99 {m['p99_ms']:.3f} ms "
                   f"[{m['badge']}]")
    typer.echo(res.selection_message)
    if not res.deployed:
        typer.echo("Nothing was deployed.")
        return
    test = "n/a" if res.test_score is None else f"{res.test_score:.4f}"
    typer.echo(f"registered {res.model_uri} ({res.chosen}); test {res.metric} {test}")
    typer.echo(f"monitors: {res.monitors_file}\nloop policy: {res.policies_file}")
    typer.echo(f"serve it:  {res.serve_command}")
    typer.echo(f"  (with the monitor and the loop: loopml server --monitors "
               f"{res.monitors_file} --policies {res.policies_file} "
               "--pipelines loopml.automl.flow:retrain)")
    typer.echo(f"endpoint:  {res.endpoint}")
    typer.echo(f"try it:    {res.curl}")


__all__ = ["build"]
