"""``loopml server``: the tracking server (MLflow REST API compatible)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import typer

from loopml.config import default_artifact_root, default_backend_uri


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def server(
    host: str = typer.Option("127.0.0.1", help="Address to bind. Anything but loopback needs auth (--auth-token-file, LOOPML_AUTH_TOKEN, or LOOPML_AUTH_USERNAME/PASSWORD) or --insecure."),
    port: int = typer.Option(5000, help="TCP port to listen on."),
    backend_store_uri: str = typer.Option(None, help="Metadata store: sqlite:///path.db or postgresql://user@host:port/db. Default: SQLite under LOOPML_HOME."),
    artifacts_destination: str = typer.Option(None, help="Where artifacts are stored and served from: a folder or s3://bucket/prefix. Default: LOOPML_HOME/artifacts."),
    workers: int = typer.Option(1, min=1, help="Number of worker processes."),
    auth_token_file: Path = typer.Option(None, exists=True, dir_okay=False, help="File holding the bearer token clients must send (MLFLOW_TRACKING_TOKEN for the mlflow client)."),
    insecure: bool = typer.Option(False, help="Allow a non-loopback bind without authentication. Anyone who can reach the port can then read and change everything."),
    monitors: Path = typer.Option(None, exists=True, dir_okay=False, help="YAML list of monitor specs (see `loopml monitor run`) to run on a schedule inside the server."),
    monitor_interval: float = typer.Option(60.0, min=1.0, help="Seconds between monitor passes."),
    triggers: bool = typer.Option(True, help="Run pipeline schedules and event triggers (`loopml pipeline schedule` / `trigger`) in this server. Turn off on all but one server if several share a database and you want one place that runs pipelines (firing is safe either way: each trigger fires once)."),
    policies: Path = typer.Option(None, exists=True, dir_okay=False, help="YAML loop policies (docs/loop.md): run the closed-loop controller in this server."),
    controller_interval: float = typer.Option(2.0, min=0.1, help="Seconds between closed-loop controller passes."),
    trigger_interval: float = typer.Option(5.0, min=0.2, help="Seconds between checks of pipeline schedules and trigger events."),
) -> None:
    """Run the tracking server: the MLflow REST API for experiments, runs, metrics, logged
    models and artifacts (proxied), plus /health, /version and Prometheus /metrics.

    Point the unmodified mlflow client at it with MLFLOW_TRACKING_URI=http://HOST:PORT.
    """
    import uvicorn

    from loopml.server import _factory as f

    token = os.environ.get(f.ENV_TOKEN) or None
    if auth_token_file is not None:
        token = auth_token_file.read_text().strip() or None
        if not token:
            typer.echo(f"Error: {auth_token_file} is empty.", err=True)
            raise typer.Exit(2)
    has_basic = bool(os.environ.get(f.ENV_BASIC_USER) and os.environ.get(f.ENV_BASIC_PASSWORD))
    if not is_loopback(host) and not (token or has_basic) and not insecure:
        typer.echo(
            f"Error: refusing to bind {host} without authentication. Set --auth-token-file "
            "(or LOOPML_AUTH_TOKEN, or LOOPML_AUTH_USERNAME and LOOPML_AUTH_PASSWORD), bind "
            "127.0.0.1, or pass --insecure if the network is trusted.",
            err=True,
        )
        raise typer.Exit(2)
    os.environ[f.ENV_BACKEND] = backend_store_uri or default_backend_uri()
    os.environ[f.ENV_ARTIFACTS] = artifacts_destination or default_artifact_root()
    if token:
        os.environ[f.ENV_TOKEN] = token
    # Build once in the parent: applies migrations before workers start and fails fast on a
    # bad URI with a clean message instead of a traceback per worker.
    from loopml.errors import LoopmlError

    try:
        f.app_from_env().state.services.store.close()
    except LoopmlError as e:
        typer.echo(f"Error: {e.message}", err=True)
        raise typer.Exit(2) from None
    if monitors is not None:
        os.environ[f.ENV_MONITORS] = str(monitors.resolve())
        from loopml.monitoring.scheduler import MonitorScheduler, load_specs
        from loopml.store import get_monitoring_store, get_store

        try:
            specs = load_specs(monitors)
            tracking = get_store(os.environ[f.ENV_BACKEND], os.environ[f.ENV_ARTIFACTS])
            MonitorScheduler(specs, tracking, get_monitoring_store(tracking),
                             monitor_interval, proxy_root=os.environ[f.ENV_ARTIFACTS]).start()
        except (ValueError, TypeError, LoopmlError) as e:
            typer.echo(f"Error: {monitors}: {e}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"Running {len(specs)} monitor(s) every {monitor_interval:g}s.")
    if triggers:
        from loopml.pipelines.triggers import TriggerRunner
        from loopml.store import get_pipeline_store, get_store

        tracking = get_store(os.environ[f.ENV_BACKEND], f.PROXY_SCHEME)
        TriggerRunner(tracking, get_pipeline_store(tracking), trigger_interval,
                      proxy_root=os.environ[f.ENV_ARTIFACTS]).start()
    if policies is not None:
        from loopml.automation import Controller, load_policies
        from loopml.store import get_store

        try:
            pols = load_policies(policies)
        except (ValueError, TypeError, LoopmlError) as e:
            typer.echo(f"Error: {policies}: {getattr(e, 'message', e)}", err=True)
            raise typer.Exit(2) from None
        os.environ[f.ENV_POLICIES] = str(policies.resolve())
        ctl_tracking = get_store(os.environ[f.ENV_BACKEND], f.PROXY_SCHEME)
        Controller(ctl_tracking, pols, controller_interval,
                   proxy_root=os.environ[f.ENV_ARTIFACTS], policies_file=policies).start()
        typer.echo(f"Closed-loop controller for {[p.model for p in pols]}.")
    typer.echo(f"loopml server on http://{host}:{port} (MLFLOW_TRACKING_URI=http://{host}:{port})")
    uvicorn.run(
        "loopml.server._factory:app_from_env", factory=True, host=host, port=port,
        workers=workers, log_level="warning", access_log=False,
    )
