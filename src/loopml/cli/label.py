"""``loopml label queue|export|import|stats``: the labeling loop from the command line
(docs/labeling.md). Labels go to the feedback store of the metadata database given by
--tracking-uri (a local sqlite:// or postgresql:// store; against a server use its
/api/loopml/v1/labeling routes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

label_app = typer.Typer(help="Label logged requests: a queue ranked by uncertainty, "
                             "disagreement or drift; Label Studio import/export; statistics.",
                        no_args_is_help=True)
_URI_HELP = ("Metadata store (sqlite:///... or postgresql://...) whose feedback table gets the "
             "labels. Default: LOOPML_TRACKING_URI, else the local store.")
_LOG_HELP = "Folder or object-store URI of the inference log (`loopml serve --inference-log`)."
_STRATEGY_HELP = ("Ranking: entropy, margin, least_confidence (class probabilities, logged or "
                  "from --model), disagreement (challenger's shadow answers or --challenger), "
                  "drift (needs --reference) or random.")


def _service(tracking_uri: str | None, log_dir: str | None) -> Any:
    from loopml.cli._common import tracking_client
    from loopml.errors import InvalidParameterValue
    from loopml.labeling import LabelingService, get_labeling_store
    from loopml.store import get_monitoring_store

    store = tracking_client(tracking_uri).store

    def log_dir_for(_deployment: str) -> str:
        if not log_dir:
            raise InvalidParameterValue("Pass --log-dir: the inference log's folder or URI.")
        return log_dir

    return LabelingService(get_monitoring_store(store), get_labeling_store(store), log_dir_for)


def _model(uri: str | None, trust: bool) -> Any:
    if not uri:
        return None
    from loopml import models

    return models.load(uri, trust=trust)


def _reference(path: Path | None) -> Any:
    if path is None:
        return None
    if path.suffix.lower() == ".json":
        from loopml.data._log import load_profile

        return load_profile(path)
    return str(path)  # a table file: profiled on the fly


def _queue_kw(model: str | None, challenger: str | None, reference: Path | None,
              trust_models: bool, seed: int) -> dict[str, Any]:
    return {"model": _model(model, trust_models), "challenger": _model(challenger, trust_models),
            "reference": _reference(reference), "seed": seed}


@label_app.command("queue")
def queue(
    deployment: str = typer.Argument(..., help="Deployment whose logged requests to label."),
    log_dir: str = typer.Option(..., help=_LOG_HELP),
    strategy: str = typer.Option("entropy", help=_STRATEGY_HELP),
    limit: int = typer.Option(20, min=1, max=10_000, help="How many items to show."),
    model: str = typer.Option(None, help="Champion model URI (models:/NAME@champion): re-scores rows whose probabilities were not logged, and gives the pre-labels."),
    challenger: str = typer.Option(None, help="Challenger model URI, for --strategy disagreement when no shadow answers were logged."),
    reference: Path = typer.Option(None, exists=True, dir_okay=False, help="Training data (CSV/Parquet) or its profile JSON, for --strategy drift."),
    trust_models: bool = typer.Option(False, help="Load pickle-based models (only models you trust)."),
    seed: int = typer.Option(0, help="Seed of --strategy random."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per item instead of a table."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Print the next requests to label, best first: not labelled, not skipped, one per
    distinct row, with the model's pre-label. Exits 2 on an unknown strategy or one whose
    inputs are missing (no probabilities and no --model; drift without --reference)."""
    svc = _service(tracking_uri, log_dir)
    items = svc.queue(deployment, strategy, limit,
                      **_queue_kw(model, challenger, reference, trust_models, seed))
    if as_json:
        for it in items:
            typer.echo(json.dumps(it.to_dict(), default=str))
        return
    typer.echo(f"{'request_id':<36} {'score':>8}  {'prelabel':<12} row")
    for it in items:
        row = ", ".join(f"{k}={v}" for k, v in list(it.row.items())[:6])
        typer.echo(f"{it.request_id:<36} {it.score:>8.4f}  {str(it.prelabel):<12} {row}")
    typer.echo(f"{len(items)} item(s), strategy {strategy}.")


@label_app.command("export")
def export(
    deployment: str = typer.Argument(..., help="Deployment whose requests to export."),
    output: Path = typer.Option(..., "--output", "-o", dir_okay=False, help="JSON file to write (Label Studio tasks)."),
    log_dir: str = typer.Option(..., help=_LOG_HELP),
    which: str = typer.Option("queue", help="queue: the next items to label, with pre-labels as predictions; labeled: the labelled requests, with annotations."),
    limit: int = typer.Option(100, min=1, max=10_000, help="Most tasks to write."),
    strategy: str = typer.Option("entropy", help=_STRATEGY_HELP),
    model: str = typer.Option(None, help="Champion model URI, as for `queue`."),
    reference: Path = typer.Option(None, exists=True, dir_okay=False, help="As for `queue`."),
    trust_models: bool = typer.Option(False, help="Load pickle-based models (only models you trust)."),
    config: Path = typer.Option(None, dir_okay=False, help="Also write a Label Studio labeling config (XML) matching the tasks here."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Write Label Studio JSON tasks (data, predictions, annotations) for import into Label
    Studio; `loopml label import` reads its export back."""
    from loopml.labeling import label_config

    svc = _service(tracking_uri, log_dir)
    kw = _queue_kw(model, None, reference, trust_models, 0) if which == "queue" else {}
    tasks = svc.export(deployment, which, limit, strategy, **kw)
    output.write_text(json.dumps(tasks, indent=1, default=str))
    if config is not None:
        classes = svc.classes(deployment)
        config.write_text(label_config(classes, any("image" in t["data"] for t in tasks)))
    typer.echo(f"Wrote {len(tasks)} task(s) to {output}.")


@label_app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Label Studio JSON export (a list of tasks)."),
    deployment: str = typer.Option(None, help="Deployment for tasks whose data has no 'deployment'."),
    classes: str = typer.Option(None, help="Comma-separated classes, so that choice texts become class values (e.g. '0,1,2' gives integers). Default: numbers become numbers."),
    labeler: str = typer.Option("label-studio", help="Labeler recorded for annotations without completed_by."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Store the labels of a Label Studio export in the feedback store (with pre-label and
    confirmed/corrected). Exits 2 on a file that is not Label Studio JSON or a task
    without data.request_id."""
    from loopml.errors import InvalidParameterValue
    from loopml.labeling.queue import coerce_label

    try:
        tasks = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidParameterValue(f"{file} is not JSON: {e}.") from None
    cls = [coerce_label(c.strip()) for c in classes.split(",")] if classes else []
    got = _service(tracking_uri, None).import_tasks(tasks, deployment, cls, labeler)
    for why in got.left_out[:20]:
        typer.echo(f"left out {why}", err=True)
    typer.echo(f"Stored {len(got.labels)} label(s); left out {len(got.left_out)} task(s).")


@label_app.command("stats")
def stats(
    deployment: str = typer.Argument(..., help="Deployment."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Print labelled, skipped, confirmed and corrected counts and the correction rate
    (corrected / pre-labelled) as JSON."""
    typer.echo(json.dumps(_service(tracking_uri, None).stats(deployment).to_dict()))

__all__ = ["label_app"]
