"""``loopml loop ...``, ``loopml approve`` and ``loopml controller``: the closed loop from
a terminal."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import typer

from loopml.cli._common import fail, tracking_client
from loopml.errors import LoopmlError

loop_app = typer.Typer(
    help="The closed loop: status, audit history, manual runs and dry-run plans of the "
         "retrain -> gate -> canary -> promote/rollback cycles.",
    no_args_is_help=True,
)
_URI_HELP = "Tracking URI (a loopml server or a database). Default: LOOPML_TRACKING_URI, else the local store."
_POLICIES_HELP = "YAML file with the loop policies (one per model; see docs/loop.md)."


def _loops(tracking_uri: str | None) -> Any:
    from loopml.store import get_loop_store

    return get_loop_store(tracking_client(tracking_uri).store)




def _ts(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def _policies(path: Path) -> Any:
    """The policies in ``path``, validated, with their retrain pipelines loadable here
    (InvalidConfig otherwise: one line, exit 2)."""
    from loopml.automation import load_policies
    from loopml.automation.policy import check_pipelines
    from loopml.pipelines._refs import allow_cwd_imports

    allow_cwd_imports()  # the user's own policy file, in their shell: ./flows.py is found
    pols = load_policies(path)
    check_pipelines(pols, str(path))
    return pols


@loop_app.command("status")
def status_cmd(
    model: str = typer.Option(None, help="Only loops of this registered model."),
    limit: int = typer.Option(20, min=1, max=10_000, help="How many loops, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Loops, newest first: state, versions, and the decision with its reason."""
    loops = _loops(tracking_uri).list_loops(model, None, limit)
    if as_json:
        typer.echo(json.dumps([x.to_dict() for x in loops], indent=2, default=str))
        return
    if not loops:
        typer.echo("No loops yet.")
    for x in loops:
        typer.echo(f"{x.loop_id}  {x.model:<20} {x.state:<18} champion v{x.champion_version} "
                   f"challenger v{x.challenger_version}  {_ts(x.created_time)}"
                   + (f"  {x.reason}" if x.reason else ""))


@loop_app.command("history")
def history_cmd(
    model: str = typer.Argument(..., help="Registered model name."),
    loop_id: str = typer.Option(None, help="Only this loop."),
    inputs: bool = typer.Option(False, help="Also print each decision's inputs (metrics, thresholds, versions)."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """The audit log of a model's loops: every decision with its reason. Exits 2 for a
    model that is not registered or a loop id that does not exist."""
    entries = _loops(tracking_uri).history(model, loop_id)
    if not entries:
        from loopml.store import get_registry_store

        if loop_id:
            _loops(tracking_uri).get_loop(loop_id)  # ResourceDoesNotExist: exit 2
        get_registry_store(tracking_client(tracking_uri).store).get_registered_model(model)
        typer.echo(f"No loops yet for {model}.")
    for e in entries:
        by = f"{e.actor} ({e.actor_kind})" if e.actor else "-"
        typer.echo(f"{_ts(e.time)}  {(e.loop_id or '')[:8]:<8}  {e.action:<16} {e.message}"
                   f"  [by {by}]")
        if inputs and e.inputs:
            typer.echo("    " + json.dumps(e.inputs, default=str))


@loop_app.command("run")
def run_cmd(
    model: str = typer.Argument(..., help="Registered model with a policy."),
    policies: Path = typer.Option(..., exists=True, dir_okay=False, help=_POLICIES_HELP),
    wait: bool = typer.Option(True, help="Drive the loop to its end here (--no-wait: only start it, for a running controller)."),
    dry_run: bool = typer.Option(False, help="Retrain, evaluate and gate, but change no traffic and no alias; record what would happen."),
    interval: float = typer.Option(1.0, min=0.1, help="Seconds between controller passes while waiting."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Start a loop for MODEL now (a manual trigger). Exits 0 when it ends promoted, 1
    otherwise."""
    from loopml.automation import Controller

    ctl = Controller(tracking_client(tracking_uri).store, _policies(policies), interval, dry_run=dry_run)
    try:
        loop = ctl.trigger(model, "manual (CLI)")
    except LoopmlError as e:
        raise fail(e) from None
    if loop is None:
        typer.echo(f"A loop is already running for {model}; recorded, not started.")
        raise typer.Exit(1)
    typer.echo(f"Loop {loop.loop_id} started for {model}.")
    if not wait:
        return
    while loop.active:
        ctl.run_once()
        loop = ctl.loops.get_loop(loop.loop_id)
        if loop.active:
            time.sleep(interval)
    typer.echo(f"{loop.state}: {loop.reason}")
    raise typer.Exit(0 if loop.state == "PROMOTED" else 1)


@loop_app.command("plan")
def plan_cmd(
    model: str = typer.Argument(..., help="Registered model with a policy."),
    policies: Path = typer.Option(..., exists=True, dir_okay=False, help=_POLICIES_HELP),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Print what a loop for MODEL would do, without doing anything."""
    from loopml.store import get_registry_store

    pol = next((p for p in _policies(policies) if p.model == model), None)
    if pol is None:
        typer.echo(f"Error: no policy for {model!r} in {policies}.", err=True)
        raise typer.Exit(2)
    champ = "none"
    with contextlib.suppress(LoopmlError):  # no champion yet
        champ = str(get_registry_store(tracking_client(tracking_uri).store).get_model_version_by_alias(
            model, pol.champion_alias).version)
    c, g = pol.canary, pol.gate
    lines = [
        f"Model {model} (champion: version {champ} via @{pol.champion_alias}), "
        f"deployment {pol.deployment}.",
        f"1. Trigger: alerts {pol.trigger.alerts or '-'}; schedule {pol.trigger.schedule or '-'}; "
        "or `loopml loop run`.",
        f"2. Retrain: pipeline {pol.retrain.pipeline} ({pol.retrain.executor}); the challenger "
        f"comes from step {pol.retrain.output_step!r}.",
        f"3. Evaluate: {pol.evaluate.metric} on holdout {pol.evaluate.holdout or '-'} and on "
        f"labelled traffic of the last {pol.evaluate.recent_seconds or 0}s.",
        f"4. Gate: floors {g.min or '-'}, improvement >= {g.min_improvement}, validation "
        f"{'required' if g.require_validation else 'not required'}, approval "
        f"{'required (loopml approve)' if g.approval else 'not required'}.",
        f"5. Canary: {c.weight:g}% until {c.min_requests} challenger requests"
        + (f" or {c.duration_seconds:g}s" if c.duration_seconds else "")
        + f"; roll back on error rate > {c.max_error_rate}"
        + (f", p99 > {c.max_p99_ms} ms" if c.max_p99_ms else "")
        + (f", live {pol.evaluate.metric} drop > {c.max_quality_drop}" if c.max_quality_drop
           is not None else "") + f", or no decision within {c.max_seconds:g}s.",
        "6. Promote: @" + pol.champion_alias + " moves to the challenger, 100% of traffic."
        + ("  (dry run: nothing would change)" if pol.dry_run else ""),
    ]
    typer.echo("\n".join(lines))


def approve(
    loop_id: str = typer.Argument(..., help="The loop waiting for approval (see `loopml loop status`)."),
    by: str = typer.Option(None, help="Who approves (recorded in the audit log). Default: $USER."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Approve a challenger that passed its gate; its canary starts on the controller's
    next pass."""
    import os

    from loopml.automation.controller import approve as do_approve

    try:
        loop = do_approve(_loops(tracking_uri), loop_id, by or os.environ.get("USER", "cli"))
    except LoopmlError as e:
        raise fail(e) from None
    typer.echo(f"Approved: loop {loop.loop_id} for {loop.model} moves to its canary.")


def controller(
    policies: Path = typer.Option(..., exists=True, dir_okay=False, help=_POLICIES_HELP),
    interval: float = typer.Option(2.0, min=0.1, help="Seconds between passes."),
    dry_run: bool = typer.Option(False, help="Treat every policy as a dry run."),
    once: bool = typer.Option(False, help="Run one pass and exit."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Run the closed-loop controller (also runs inside `loopml server --policies`). Safe to
    kill at any time and to restart: it continues from the stored state."""
    from loopml.automation import Controller

    ctl = Controller(tracking_client(tracking_uri).store, _policies(policies), interval,
                     dry_run=dry_run, policies_file=policies)
    typer.echo(f"Controller for {sorted(ctl.policies)} every {interval:g}s.")
    while True:
        for loop in ctl.run_once():
            typer.echo(f"{loop.loop_id[:8]} {loop.model} {loop.state}")
        if once:
            return
        time.sleep(interval)
