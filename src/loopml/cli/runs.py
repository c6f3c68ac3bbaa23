"""``loopml runs ...`` and ``loopml experiments ...``: look at tracked runs from a terminal."""

from __future__ import annotations

import typer

runs_app = typer.Typer(help="List, inspect, delete and restore runs.", no_args_is_help=True)
experiments_app = typer.Typer(help="List, delete and restore experiments.", no_args_is_help=True)

_URI_HELP = "Tracking URI: http(s)://server, sqlite:///file or postgresql://... Default: LOOPML_TRACKING_URI, else SQLite under LOOPML_HOME."


@runs_app.command("list")
def list_runs(
    experiment: str = typer.Option("Default", help="Experiment name."),
    filter: str = typer.Option(None, "--filter", help="Search filter, e.g. \"metrics.roc_auc > 0.9 AND params.model = 'rf'\"."),
    order_by: list[str] = typer.Option(None, "--order-by", help="e.g. 'metrics.roc_auc DESC' (repeatable)."),
    max_results: int = typer.Option(50, min=1, max=50000, help="Rows to show."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Show runs of an experiment as a table with their latest metrics."""
    from rich.console import Console
    from rich.table import Table

    from loopml.tracking import TrackingClient

    client = TrackingClient(tracking_uri)
    exp = client.store.get_experiment_by_name(experiment)
    if exp is None:
        typer.echo(f"Error: no experiment named {experiment!r}.", err=True)
        raise typer.Exit(1)
    runs = client.search_runs([exp.experiment_id], filter, order_by or None, max_results)
    metric_keys = sorted({k for r in runs for k in r.data.metrics})[:8]
    table = Table(title=f"{len(runs)} run(s) in '{experiment}'")
    for col in ("run id", "name", "status", *metric_keys):
        table.add_column(col)
    for r in runs:
        vals = [f"{r.data.metrics[k].value:.4g}" if k in r.data.metrics else "" for k in metric_keys]
        table.add_row(r.info.run_id, r.info.run_name, r.info.status, *vals)
    Console().print(table)


@experiments_app.command("list")
def list_experiments(tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Show active experiments."""
    from loopml.tracking import TrackingClient

    for e in TrackingClient(tracking_uri).store.search_experiments():
        typer.echo(f"{e.experiment_id}\t{e.name}\t{e.artifact_location}")


@runs_app.command("delete")
def delete_run(
    run_ids: list[str] = typer.Argument(..., help="Run id(s) to mark deleted."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Mark runs deleted: hidden from lists and search, restorable with `loopml runs restore`
    until `loopml gc` purges them."""
    from loopml.tracking import TrackingClient

    client = TrackingClient(tracking_uri)
    for rid in run_ids:  # all or nothing: an unknown id (exit 2) before any is deleted
        client.get_run(rid)
    for rid in run_ids:
        client.delete_run(rid)
        typer.echo(f"deleted run {rid}")


@runs_app.command("restore")
def restore_run(
    run_ids: list[str] = typer.Argument(..., help="Deleted run id(s) to restore."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Bring deleted runs back (not possible once `loopml gc` purged them)."""
    from loopml.tracking import TrackingClient

    client = TrackingClient(tracking_uri)
    for rid in run_ids:  # all or nothing: an unknown id (exit 2) before any is restored
        client.get_run(rid)
    for rid in run_ids:
        client.restore_run(rid)
        typer.echo(f"restored run {rid}")


def _experiment_id(client: object, name_or_id: str) -> str:
    """The id of the experiment named ``name_or_id``, else ``name_or_id`` itself when it is
    an existing experiment id; ResourceDoesNotExist (exit 2) otherwise."""
    from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
    from loopml.tracking import TrackingClient

    assert isinstance(client, TrackingClient)
    exp = client.store.get_experiment_by_name(name_or_id)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.store.get_experiment(name_or_id).experiment_id
    except (ResourceDoesNotExist, InvalidParameterValue):  # not a name, and not an id either
        raise ResourceDoesNotExist(
            f"No experiment named or with id {name_or_id!r}. See `loopml experiments list`."
        ) from None


@experiments_app.command("delete")
def delete_experiment(
    experiment: str = typer.Argument(..., help="Experiment name or id."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Mark an experiment (and so its runs, for search) deleted; restorable."""
    from loopml.tracking import TrackingClient

    client = TrackingClient(tracking_uri)
    eid = _experiment_id(client, experiment)
    client.delete_experiment(eid)
    typer.echo(f"deleted experiment {eid} ({experiment})")


@experiments_app.command("restore")
def restore_experiment(
    experiment: str = typer.Argument(..., help="Experiment name or id."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Bring a deleted experiment back."""
    from loopml.tracking import TrackingClient

    client = TrackingClient(tracking_uri)
    eid = _experiment_id(client, experiment)
    client.restore_experiment(eid)
    typer.echo(f"restored experiment {eid} ({experiment})")
