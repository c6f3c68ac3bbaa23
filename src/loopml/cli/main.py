"""The ``loopml`` command. Each command group lives in its own module and registers here."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from loopml._version import __version__
from loopml.cli._errors import LoopmlGroup

app = typer.Typer(
    cls=LoopmlGroup,  # one place that turns errors into one line and an exit code
    name="loopml",
    help="loopml: the whole ML lifecycle as one closed loop (track, register, serve, monitor, retrain).",
    no_args_is_help=True,
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"loopml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True,
        help="Print the loopml version and exit.",
    ),
    config: Path = typer.Option(
        None, "--config", dir_okay=False,
        help="Settings file (YAML; see docs/configuration.md). Default: LOOPML_CONFIG. "
             "Flags override the environment, which overrides the file.",
    ),
    debug: bool = typer.Option(
        False, "--debug", help="On an error, show the traceback (also LOOPML_DEBUG=1).",
    ),
) -> None:
    """loopml command line. Exit codes: 0 success, 1 runtime failure, 2 bad input or
    configuration (docs/configuration.md)."""
    # Through the environment, so that every command, and the server and serve worker
    # processes they start, read the same settings (loopml.config.load_settings).
    if config is not None:
        os.environ["LOOPML_CONFIG"] = str(config.resolve())
    if debug:
        os.environ["LOOPML_DEBUG"] = "1"
    from loopml.config import load_settings

    load_settings()  # a bad settings file fails here, before the command starts


from loopml.cli.audit import audit_app  # noqa: E402
from loopml.cli.build import build  # noqa: E402
from loopml.cli.data import data_app  # noqa: E402
from loopml.cli.datasets import datasets_app  # noqa: E402
from loopml.cli.demo import demo  # noqa: E402
from loopml.cli.deployments import deployments_app  # noqa: E402
from loopml.cli.edge import edge_app  # noqa: E402
from loopml.cli.gc import gc  # noqa: E402
from loopml.cli.gitops import apply_cmd, export_cmd, promote_app  # noqa: E402
from loopml.cli.identities import service_accounts_app, tokens_app, users_app  # noqa: E402
from loopml.cli.k8s import k8s_app  # noqa: E402
from loopml.cli.label import label_app  # noqa: E402
from loopml.cli.loop import approve, controller, loop_app  # noqa: E402
from loopml.cli.models import lineage_cmd, models_app  # noqa: E402
from loopml.cli.monitor import feedback, monitor_app  # noqa: E402
from loopml.cli.pipeline import pipeline_app  # noqa: E402
from loopml.cli.predict import predict  # noqa: E402
from loopml.cli.runs import experiments_app, runs_app  # noqa: E402
from loopml.cli.secrets import secrets_app  # noqa: E402
from loopml.cli.serve import serve  # noqa: E402
from loopml.cli.server import server  # noqa: E402
from loopml.cli.stream import stream_app  # noqa: E402
from loopml.cli.targets import target_app  # noqa: E402
from loopml.cli.workspaces import workspaces_app  # noqa: E402

app.command()(demo)
app.command()(build)
app.command()(server)
app.command()(serve)
app.command()(gc)
app.command("export")(export_cmd)
app.command("apply")(apply_cmd)
app.add_typer(promote_app, name="promote")
app.command()(predict)
app.add_typer(runs_app, name="runs")
app.add_typer(experiments_app, name="experiments")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.add_typer(datasets_app, name="datasets")
app.add_typer(deployments_app, name="deployments")
app.add_typer(monitor_app, name="monitor")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(loop_app, name="loop")
app.add_typer(label_app, name="label")
app.add_typer(users_app, name="users")
app.add_typer(service_accounts_app, name="service-accounts")
app.add_typer(tokens_app, name="tokens")
app.add_typer(secrets_app, name="secrets")
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(audit_app, name="audit")
app.add_typer(stream_app, name="stream")
app.add_typer(target_app, name="target")
app.add_typer(edge_app, name="edge")
app.add_typer(k8s_app, name="k8s")
app.command("approve")(approve)
app.command("controller")(controller)
app.command("feedback")(feedback)
app.command("lineage")(lineage_cmd)


def main() -> None:
    app()
