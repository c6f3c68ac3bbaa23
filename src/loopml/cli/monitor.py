"""``loopml monitor ...`` and ``loopml feedback``: run monitors over the inference log, read
their results, and send ground truth."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import typer

from loopml.errors import LoopmlError

monitor_app = typer.Typer(help="Run monitors over the serving inference log and read their "
                               "per-window results.", no_args_is_help=True)
_URI_HELP = "Tracking URI where feedback, results and alert events are stored. Default: LOOPML_TRACKING_URI, else the local store."


def _stores(tracking_uri: str | None):  # type: ignore[no-untyped-def]
    from loopml.cli._common import cli_services

    services = cli_services(tracking_uri)
    return services.tracking, services.monitoring


def checked_specs(config: Path, tracking: object, strict: bool = True) -> list:  # type: ignore[type-arg]
    """The monitors in ``config``, validated (InvalidConfig otherwise), with their sources
    checked against the store: an error when ``strict``, else a warning on stderr."""
    from loopml.errors import InvalidConfig
    from loopml.monitoring.spec import load_specs, source_problems
    from loopml.store import get_deployment_store

    specs = load_specs(config)
    names = [d.name for d in get_deployment_store(tracking).list_deployments()]  # type: ignore[arg-type]
    problems = source_problems(specs, names, str(config))
    if problems and strict:
        raise InvalidConfig(problems[0])
    for p in problems:
        typer.echo(f"Warning: {p} (yet; the monitor computes nothing until it exists)", err=True)
    return specs


@monitor_app.command("run")
def run(
    config: Path = typer.Argument(..., exists=True, dir_okay=False, help="Monitor specs (YAML): a list of {name, deployment, log_dir, reference_profile, prediction_profile, schema, window_seconds or window_count, task, rules, webhooks}; see docs/monitoring.md."),
    every: float = typer.Option(0.0, min=0.0, help="Run again every this many seconds (0: once)."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Compute every closed window not computed yet (idempotent), store the results, and
    fire alert rules (alert.firing / alert.resolved events). Exits 2 on a spec that is
    invalid or could never compute a window."""
    from loopml.cli._common import cli_services
    from loopml.monitoring.monitor import alert_engine, run_monitor, webhook_consumer

    services = cli_services(tracking_uri)
    tracking, store = services.tracking, services.monitoring
    specs = checked_specs(config, tracking)
    engines = {s.name: alert_engine(s, tracking) for s in specs}
    # Created before the first pass, so that each consumer gets that pass's alerts.
    hooks = [h for h in (webhook_consumer(s, tracking) for s in specs) if h is not None]
    while True:
        total = 0
        for spec in specs:
            new = run_monitor(spec, store, engines[spec.name], client=services.client)
            total += len(new)
            for r in new:
                shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(r.metrics.items()))
                typer.echo(f"{spec.name} window {r.window_start}: {shown}")
        for h in hooks:
            h.run_once()
        if not every:
            typer.echo(f"{total} new window(s) from {len(specs)} monitor(s).")
            return
        time.sleep(every)


@monitor_app.command("results")
def results(name: str = typer.Argument(..., help="Monitor name."),
            tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Print a monitor's stored windows as JSON lines (a time series). Exits 2 when none
    is stored under NAME (a wrong name, or a monitor that has not closed a window yet)."""
    from loopml.errors import ResourceDoesNotExist

    _, store = _stores(tracking_uri)
    found = store.results(name)
    if not found:
        raise ResourceDoesNotExist(
            f"No windows stored for monitor {name!r}: check the name (the spec's `name`), or "
            "wait until the monitor has closed its first window.")
    for r in found:
        typer.echo(json.dumps({"window_start": r.window_start, "window_end": r.window_end,
                               **r.metrics}))


def feedback(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with request_id,label columns, or JSON [{request_id, label}, ...]."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Send ground truth for served requests, keyed by the x-request-id each response had."""
    _, store = _stores(tracking_uri)
    if file.suffix.lower() == ".json":
        items = [(x.get("request_id"), x.get("label")) for x in json.loads(file.read_text())]
    else:
        with open(file, newline="") as fh:
            items = [(row.get("request_id"), _number(row.get("label"))) for row in csv.DictReader(fh)]
    try:
        n = store.log_feedback(items)
    except LoopmlError as e:
        from loopml.cli._common import fail

        raise fail(e) from None
    typer.echo(f"Stored {n} label(s).")


def _number(v: str | None) -> object:
    if v is None:
        return None
    try:
        f = float(v)
        return int(f) if f.is_integer() else f
    except ValueError:
        return v
