"""``loopml audit``: check, list and export the audit trail of a metadata store (read
directly from the database, like ``loopml gc``; over HTTP use ``GET /api/loopml/v1/audit``)."""

from __future__ import annotations

import datetime as dt
import sys
import time
from dataclasses import asdict
from typing import Any

import typer

from loopml.config import default_backend_uri

__all__ = ["audit_app", "export_cmd", "list_cmd", "monitor_cmd", "parse_since", "verify_cmd"]

audit_app = typer.Typer(help="The audit trail: verify its hash chain, list, export.",
                        no_args_is_help=True)

_STORE_HELP = "Metadata store URI. Default: SQLite under LOOPML_HOME."


def _log(backend_store_uri: str | None) -> Any:
    from loopml.security.audit import AuditLog
    from loopml.store import get_store

    store = get_store(backend_store_uri or default_backend_uri())
    audit = AuditLog.for_store(store)
    if audit is None:
        raise typer.BadParameter("The audit trail is read from a SQL metadata store "
                                 "(sqlite:/// or postgresql://).", param_hint="--backend-store-uri")
    return audit


def parse_since(text: str) -> int:
    """``30m``/``12h``/``7d`` ago, or an ISO date/time (UTC when no zone): ms since epoch."""
    from loopml.cli.gc import parse_age

    try:
        return int(time.time() * 1000) - parse_age(text)
    except typer.BadParameter:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("Use an age (30m, 12h, 7d) or an ISO time "
                                 "(2026-01-31T12:00).", param_hint="--since") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


@audit_app.command("verify")
def verify_cmd(backend_store_uri: str = typer.Option(None, help=_STORE_HELP)) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first broken record."""
    audit = _log(backend_store_uri)
    n, broken = audit.verify()
    if broken is not None:
        typer.echo(f"BROKEN at record {broken.seq} (after {n - 1} good records): "
                   f"{broken.reason}.", err=True)
        raise typer.Exit(1)
    head = audit.head()
    where = f"; head #{head.seq} {head.hash}" if head else ""
    typer.echo(f"OK: {n} records, chain intact{where}")


@audit_app.command("list")
def list_cmd(
    backend_store_uri: str = typer.Option(None, help=_STORE_HELP),
    actor: str = typer.Option(None, help="Only this identity."),
    action: str = typer.Option(None, help="Only this action; a trailing * matches a prefix."),
    since: str = typer.Option(None, help="Only newer: an age (30m, 12h, 7d) or an ISO time."),
    outcome: str = typer.Option(None, help="allow, deny or error."),
    limit: int = typer.Option(50, min=1, max=100_000, help="At most this many (newest first)."),
) -> None:
    """The newest records, one per line."""
    from loopml.security.audit import OUTCOMES

    if outcome and outcome not in OUTCOMES:
        raise typer.BadParameter(f"Use one of {', '.join(OUTCOMES)}.", param_hint="--outcome")
    records = _log(backend_store_uri).query(
        actor=actor, action=action, since_ms=parse_since(since) if since else None,
        outcome=outcome, limit=limit)
    for r in records:
        when = dt.datetime.fromtimestamp(r.time / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{r.seq:>7} {when} {r.outcome:<5} {r.actor} ({r.kind}/{r.via}) "
                   f"{r.action} {r.target} [{r.workspace}] {r.client}")


@audit_app.command("export")
def export_cmd(
    backend_store_uri: str = typer.Option(None, help=_STORE_HELP),
    format: str = typer.Option("jsonl", "--format", help="jsonl: one JSON object per line."),
    output: str = typer.Option("-", "--output", "-o", help="File to write; - for stdout."),
) -> None:
    """Every record in chain order, with its hashes, so the chain can be checked elsewhere."""
    import orjson

    if format != "jsonl":
        raise typer.BadParameter("Only jsonl is supported.", param_hint="--format")
    audit = _log(backend_store_uri)
    out = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115
    try:
        n = 0
        for r in audit.scan():
            out.write(orjson.dumps(asdict(r)) + b"\n")
            n += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if output != "-":
        typer.echo(f"Exported {n} records to {output}.")


@audit_app.command("monitor")
def monitor_cmd(
    backend_store_uri: str = typer.Option(None, help=_STORE_HELP),
    window: int = typer.Option(300, min=60, help="Window length in seconds."),
    baseline_windows: int = typer.Option(12, min=1, help="Windows of history per identity."),
) -> None:
    """Check the window that just ended for access anomalies (bulk downloads, bursts,
    denials, new addresses, off hours); transitions go to the event log as alert.* events.
    Run it from cron every WINDOW seconds."""
    from loopml.security._audit_anomaly import AccessMonitor
    from loopml.store import get_monitoring_store

    audit = _log(backend_store_uri)
    store = get_monitoring_store(audit.store)
    end = int(time.time() * 1000) // (window * 1000) * (window * 1000)
    events = AccessMonitor(audit, monitoring_store=store, window_s=window,
                           baseline_windows=baseline_windows).evaluate(end)
    for e in events:
        typer.echo(f"{e.type} {e.rule} {e.subject}: {e.metric} {e.op} {e.threshold} "
                   f"(value {e.value:.3g})")
    typer.echo(f"{len(events)} alert transition(s) for the window ending "
               f"{dt.datetime.fromtimestamp(end / 1000, dt.UTC):%Y-%m-%d %H:%M} UTC.")
