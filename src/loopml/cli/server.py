"""``loopml server``: the tracking server (MLflow REST API compatible)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import typer

from loopml.config import load_settings


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

    settings = load_settings(backend_store_uri=backend_store_uri,  # flag > env > file
                             artifacts_destination=artifacts_destination)
    token = settings.auth_token
    if auth_token_file is not None:
        token = auth_token_file.read_text().strip() or None
        if not token:
            typer.echo(f"Error: {auth_token_file} is empty.", err=True)
            raise typer.Exit(2)
    has_basic = settings.basic_auth is not None
    if not is_loopback(host) and not (token or has_basic) and not insecure:
        typer.echo(
            f"Error: refusing to bind {host} without authentication. Set --auth-token-file "
            "(or LOOPML_AUTH_TOKEN, or LOOPML_AUTH_USERNAME and LOOPML_AUTH_PASSWORD), bind "
            "127.0.0.1, or pass --insecure if the network is trusted.",
            err=True,
        )
        raise typer.Exit(2)
    # Worker processes build their app from these (server/_factory.py: app_from_env).
    os.environ[f.ENV_BACKEND] = settings.backend_uri
    os.environ[f.ENV_ARTIFACTS] = settings.artifact_root
    if token:
        os.environ[f.ENV_TOKEN] = token
    if settings.basic_auth:
        os.environ[f.ENV_BASIC_USER], os.environ[f.ENV_BASIC_PASSWORD] = settings.basic_auth
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
        from loopml.cli.monitor import checked_specs
        from loopml.monitoring.scheduler import MonitorScheduler
        from loopml.store import get_monitoring_store, get_store

        tracking = get_store(os.environ[f.ENV_BACKEND], os.environ[f.ENV_ARTIFACTS])
        specs = checked_specs(monitors, tracking)  # InvalidConfig: one line, exit 2
        MonitorScheduler(specs, tracking, get_monitoring_store(tracking),
                         monitor_interval, proxy_root=os.environ[f.ENV_ARTIFACTS]).start()
        typer.echo(f"Running {len(specs)} monitor(s) every {monitor_interval:g}s.")
    if triggers:
        from loopml.pipelines.triggers import TriggerRunner
        from loopml.store import get_pipeline_store, get_store

        tracking = get_store(os.environ[f.ENV_BACKEND], f.PROXY_SCHEME)
        TriggerRunner(tracking, get_pipeline_store(tracking), trigger_interval,
                      proxy_root=os.environ[f.ENV_ARTIFACTS]).start()
    if policies is not None:
        from loopml.automation import Controller, load_policies
        from loopml.automation.policy import check_pipelines
        from loopml.store import get_store

        pols = load_policies(policies)  # InvalidConfig: one line, exit 2
        check_pipelines(pols, str(policies))
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
