"""``loopml export``, ``loopml apply`` and ``loopml promote ...``: GitOps delivery of
deployments, monitors, loop policies, schedules and triggers (docs/gitops.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from loopml.cli._common import fail, tracking_client
from loopml.errors import LoopmlError

_URI_HELP = ("The metadata store: sqlite:///path.db or postgresql://user@host/db (default: "
             "the settings' tracking URI, else the local store).")
promote_app = typer.Typer(help="Promote declarative configuration into a protected "
                          "environment (e.g. production) as an approved, audited change.",
                          no_args_is_help=True)


def _state(tracking_uri: str | None) -> Any:
    from loopml.gitops import State

    try:
        return State(tracking_client(tracking_uri).store)
    except LoopmlError as e:
        raise fail(e) from None


def _load(folder: Path) -> Any:
    """Every document of ``folder``; on any problem, all of them on stderr and exit 2
    (nothing is written)."""
    from loopml.gitops import load_dir

    docs, problems = load_dir(folder)
    if problems:
        typer.echo(f"Error: {len(problems)} problem(s) in {folder}; nothing was changed:",
                   err=True)
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(2)
    return docs


def _show(plan: Any, quiet: bool = False) -> None:
    for c in plan.changes:
        typer.echo(f"{c.action} {c.kind}/{c.name}")
        if not quiet and c.diff:
            typer.echo(c.diff.rstrip("\n"))
    for kind, name in plan.unmanaged:
        typer.echo(f"unmanaged {kind}/{name} (in the store, not in the folder)")
    typer.echo(f"Plan: {plan.summary()}.")


def export_cmd(
    folder: Path = typer.Argument(..., file_okay=False, help="Folder to write (created if missing); e.g. the working tree of a git repository."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Write the store's deployments, monitors, loop policies, schedules and triggers to
    FOLDER as YAML, one file per object (deployments/NAME.yaml, ...), keys sorted, so that
    the files diff cleanly in git. Secrets stay ${secret:NAME} references. Files of objects
    the store no longer has are removed."""
    from loopml.gitops import export

    state = _state(tracking_uri)
    written = export(state, folder)
    typer.echo(f"Exported {len(written)} object(s) to {folder}.")


def apply_cmd(
    folder: Path = typer.Option(..., "-f", "--filename", exists=True, file_okay=False, help="Folder of YAML documents (as `loopml export` writes them)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the diff and change nothing. Against a store changed by hand, this shows the drift."),
    prune: bool = typer.Option(False, "--prune", help="Delete managed objects that are in the store but not in the folder."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 3 when there are changes (with --dry-run: a drift check for CI)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="List the changes without their diffs."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Reconcile the store to FOLDER: create, update (and with --prune delete) objects so
    that the store holds exactly what the files say. Idempotent: a second apply changes
    nothing. Every file is validated first; any problem (listed, all of them) changes
    nothing and exits 2. A protected store (`loopml promote protect`) takes changes only
    through `loopml promote propose` and `approve`."""
    from loopml.gitops import apply_plan, check, plan
    from loopml.gitops.promotion import environment

    docs = _load(folder)
    state = _state(tracking_uri)
    p = plan(state, docs, prune)
    problems = check(state, p)
    if problems:
        typer.echo(f"Error: {len(problems)} problem(s); nothing was changed:", err=True)
        for x in problems:
            typer.echo(f"  {x}", err=True)
        raise typer.Exit(2)
    _show(p, quiet)
    if dry_run or p.empty:
        raise typer.Exit(3 if exit_code and not p.empty else 0)
    env = environment(state)
    if env["require_approval"]:
        typer.echo(f"Error: the {env['name'] or 'store'} environment takes changes only as "
                   f"approved change requests: `loopml promote propose -f {folder}`, then "
                   "an approver runs `loopml promote approve ID`.", err=True)
        raise typer.Exit(2)
    try:
        apply_plan(state, p)
    except LoopmlError as e:
        raise fail(e) from None
    typer.echo("Applied.")
    raise typer.Exit(3 if exit_code else 0)


@promote_app.command("protect")
def protect_cmd(
    environment: str = typer.Argument(..., help="The environment's name, e.g. production."),
    off: bool = typer.Option(False, "--off", help="Take plain `loopml apply` again."),
    by: str = typer.Option(None, help="Who (recorded in the audit log). Default: $USER."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Mark this store as ENVIRONMENT and require approved change requests for changes."""
    from loopml.gitops.promotion import protect

    protect(_state(tracking_uri), environment, not off, by or os.environ.get("USER", "cli"))
    typer.echo(f"{environment}: changes {'need approval' if not off else 'apply directly'}.")


@promote_app.command("propose")
def propose_cmd(
    folder: Path = typer.Option(..., "-f", "--filename", exists=True, file_okay=False, help="Folder of YAML documents, e.g. the staging export at the commit being promoted."),
    prune: bool = typer.Option(False, "--prune", help="Also delete objects absent from the folder."),
    note: str = typer.Option("", help="Why (e.g. the git commit); kept with the request and in the audit log."),
    by: str = typer.Option(None, help="Who proposes. Default: $USER."),
    tracking_uri: str = typer.Option(None, help="The target environment's metadata store."),
) -> None:
    """Propose FOLDER's documents as a change to this (protected) store: prints the diff
    and the request id that an approver passes to `loopml promote approve`."""
    from loopml.gitops import check
    from loopml.gitops.promotion import propose

    docs = _load(folder)
    state = _state(tracking_uri)
    try:
        rid, p = propose(state, docs, prune, by or os.environ.get("USER", "cli"), note)
    except LoopmlError as e:
        raise fail(e) from None
    problems = check(state, p)
    _show(p)
    for x in problems:
        typer.echo(f"Warning: {x} (approval will fail until this is fixed)", err=True)
    typer.echo(f"Change request {rid}: approve with `loopml promote approve {rid}`.")


@promote_app.command("approve")
def approve_cmd(
    request_id: str = typer.Argument(..., help="The change request (see `loopml promote list`)."),
    by: str = typer.Option(None, help="The approver: a user with the approver role in the workspaces the change touches, not its proposer. Default: $USER."),
    tracking_uri: str = typer.Option(None, help="The target environment's metadata store."),
) -> None:
    """Approve a change request and apply it, unless the store drifted since it was
    proposed (then propose again). Recorded in the audit log."""
    from loopml.gitops.promotion import approve

    try:
        done = approve(_state(tracking_uri), request_id, by or os.environ.get("USER", "cli"))
    except LoopmlError as e:
        raise fail(e) from None
    for c in done:
        typer.echo(f"{c.action} {c.kind}/{c.name}")
    typer.echo(f"Applied change request {request_id} ({len(done)} change(s)).")


@promote_app.command("list")
def list_cmd(tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Change requests of this store, pending and applied."""
    from loopml.gitops.promotion import requests

    for r in requests(_state(tracking_uri)):
        typer.echo(f"{r['id']}  {r['status']:8}  by {r['requested_by']}"
                   f"{'  approved by ' + r['approved_by'] if r.get('approved_by') else ''}"
                   f"  {r['summary']}")


__all__ = ["apply_cmd", "export_cmd", "promote_app"]
