"""``loopml server``: the tracking server (MLflow REST API compatible)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from loopml._redact import redact_text, redact_uri
from loopml.server._access_log import WORKER_HEALTHCHECK_S, check_level, uvicorn_level

if TYPE_CHECKING:
    from loopml.ha import LeaderRunner
    from loopml.server._background import BackgroundWork


def log_level_option(value: str | None) -> str | None:
    """--log-level: one of LEVELS, any case; else a usage error (exit 2) naming them."""
    if value is None:
        return None
    try:
        return check_level(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def is_loopback(host: str) -> bool:
    """True when ``host`` (an IP address or a name resolving to one) is a loopback address."""
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
    port: int = typer.Option(5000, min=0, max=65535, help="TCP port to listen on."),
    backend_store_uri: str = typer.Option(None, help="Metadata store: sqlite:///path.db or postgresql://user@host:port/db. Default: SQLite under LOOPML_HOME."),
    artifacts_destination: str = typer.Option(None, help="Where artifacts are stored and served from: a folder or s3://bucket/prefix. Default: LOOPML_HOME/artifacts."),
    workers: int = typer.Option(1, min=1, help="Number of worker processes."),
    auth_token_file: Path = typer.Option(None, exists=True, dir_okay=False, help="File holding the bearer token clients must send (MLFLOW_TRACKING_TOKEN for the mlflow client)."),
    insecure: bool = typer.Option(False, help="Allow a non-loopback bind without authentication. Anyone who can reach the port can then read and change everything."),
    monitors: Path = typer.Option(None, exists=True, dir_okay=False, help="YAML list of monitor specs (see `loopml monitor run`) to run on a schedule inside the server."),
    monitor_interval: float = typer.Option(60.0, min=1.0, help="Seconds between monitor passes."),
    triggers: bool = typer.Option(True, help="Run pipeline schedules and event triggers (`loopml pipeline schedule` / `trigger`) in this server. With several replicas on one PostgreSQL database, only the elected leader runs them (docs/ha.md)."),
    policies: Path = typer.Option(None, exists=True, dir_okay=False, help="YAML loop policies (docs/loop.md): run the closed-loop controller in this server."),
    features: Path = typer.Option(None, exists=True, dir_okay=False, help="YAML feature views (docs/features.md): serve them under /api/loopml/v1/features."),
    online_store: str = typer.Option(None, "--online-store", help="Online feature store URI for --features: memory:// (default, in this process) or redis://host:port/db[?prefix=...]."),
    controller_interval: float = typer.Option(2.0, min=0.1, help="Seconds between closed-loop controller passes."),
    trigger_interval: float = typer.Option(5.0, min=0.2, help="Seconds between checks of pipeline schedules and trigger events."),
    backend_store_password_file: Path = typer.Option(None, exists=True, dir_okay=False, help="File holding the database password, for a --backend-store-uri without one (a password in the URI shows in `ps`). Or set LOOPML_BACKEND_STORE_PASSWORD."),
    pipelines: list[str] = typer.Option(None, "--pipelines", help="Pipelines this server may run, as module:attr, comma-separated or repeated (also LOOPML_SERVER_PIPELINES). API starts, resumes, triggers and loop policies can name only these; the modules are imported at start-up from the normal Python path (install them, or set PYTHONPATH)."),
    allowed_hosts: str = typer.Option(None, envvar="LOOPML_ALLOWED_HOSTS", help="Comma-separated Host header values the server answers (DNS-rebinding defence), e.g. 'mlflow.corp.example,10.0.0.5:5000,*.corp.example'; '*' turns the check off. Default: localhost, 127.0.0.1, [::1] and the bound address (on 0.0.0.0 also this machine's names and private addresses)."),
    cors_allowed_origins: str = typer.Option(None, envvar="LOOPML_CORS_ALLOWED_ORIGINS", help="Comma-separated origins besides the server's own that may send POST/PUT/PATCH/DELETE from a browser (e.g. 'https://app.corp.example'); '*' allows any. Default: none."),
    max_body_mb: int = typer.Option(64, min=1, help="Largest JSON request body in MiB (413 above it). Artifact uploads are streamed and not bound by it."),
    log_level: str = typer.Option(None, "--log-level", envvar="LOOPML_LOG_LEVEL", help="Level of the server's logs: critical, error, warning, info (default) or debug.", callback=log_level_option),
    access_log: bool = typer.Option(None, "--access-log/--no-access-log", help="One line per request (method, path, status, duration in ms, request id) on the loopml.access logger. Default: on (LOOPML_ACCESS_LOG)."),
    audit_monitor: bool = typer.Option(None, "--audit-monitor/--no-audit-monitor", help="Run the access-anomaly monitor over the audit trail in this server (bulk downloads, request bursts, denials, new client addresses, off hours); alerts are alert.* events like model monitors'. Default: on (LOOPML_AUDIT_MONITOR); interval and window: LOOPML_AUDIT_MONITOR_INTERVAL_S / _WINDOW_S."),
    trust_proxy: bool = typer.Option(False, "--trust-proxy", envvar="LOOPML_TRUST_PROXY", help="Believe X-Forwarded-Proto and X-Forwarded-For (only behind a reverse proxy that sets them): the dashboard's sign-in cookie gets Secure behind a TLS proxy, and sign-in attempts are limited per forwarded client."),
) -> None:
    """Run the tracking server: the MLflow REST API for experiments, runs, metrics, logged
    models and artifacts (proxied), plus /health, /version and Prometheus /metrics.

    Point the unmodified mlflow client at it with MLFLOW_TRACKING_URI=http://HOST:PORT.
    """
    import uvicorn

    from loopml.config import load_settings
    from loopml.errors import LoopmlError
    from loopml.server import _factory as f

    settings = load_settings(backend_store_uri=backend_store_uri,  # flag > env > file
                             artifacts_destination=artifacts_destination,
                             log_level=log_level, access_log=access_log,
                             audit_monitor=audit_monitor)
    # The worker processes read these (app_from_env configures their logging).
    os.environ["LOOPML_LOG_LEVEL"] = settings.log_level
    os.environ["LOOPML_ACCESS_LOG"] = "true" if settings.access_log else "false"
    backend = settings.backend_uri
    shown = redact_uri(backend)  # the password, if any, moves out of the URI below
    # Secrets from a settings file join those from the environment; all of them leave the
    # workers' environment below (0600 files).
    for name, value in ((f.ENV_TOKEN, settings.auth_token),
                        (f.ENV_BASIC_USER, settings.auth_username),
                        (f.ENV_BASIC_PASSWORD, settings.auth_password)):
        if value and not os.environ.get(name):
            os.environ[name] = value
    try:
        backend, cleanup = _secrets_out_of_sight(backend, auth_token_file,
                                                 backend_store_password_file)
        token, basic = f.auth_from_env()
    except LoopmlError as e:
        typer.echo(f"Error: {redact_text(e.message)}", err=True)
        raise typer.Exit(2) from None
    # OIDC (oidc_issuer) is authentication too: JWTs are required once it is on.
    authenticated = token or basic or settings.auth_required or settings.oidc_issuer
    if not is_loopback(host) and not authenticated and not insecure:
        typer.echo(
            f"Error: refusing to bind {host} without authentication. Set --auth-token-file "
            "(or LOOPML_AUTH_TOKEN, or LOOPML_AUTH_USERNAME and LOOPML_AUTH_PASSWORD, or "
            "LOOPML_AUTH_REQUIRED=true with users and tokens), bind "
            "127.0.0.1, or pass --insecure if the network is trusted.",
            err=True,
        )
        raise typer.Exit(2)
    os.environ["LOOPML_SERVER_HOST"] = host
    os.environ["LOOPML_MAX_BODY_BYTES"] = str(max_body_mb * 1024 * 1024)
    os.environ["LOOPML_TRUST_PROXY"] = "true" if trust_proxy else ""
    for name, value in (("LOOPML_ALLOWED_HOSTS", allowed_hosts),
                        ("LOOPML_CORS_ALLOWED_ORIGINS", cors_allowed_origins)):
        if value:
            os.environ[name] = value
    os.environ[f.ENV_BACKEND] = backend
    os.environ[f.ENV_ARTIFACTS] = settings.artifact_root
    if not pipelines and settings.server_pipelines:  # LOOPML_SERVER_PIPELINES or the file
        pipelines = [settings.server_pipelines]
    if pipelines:
        from loopml.pipelines._registry import parse_refs

        os.environ[f.ENV_PIPELINES] = ",".join(parse_refs(pipelines))
    if features is not None:  # read in each worker (app_from_env); a bad file fails below, exit 2
        os.environ[f.ENV_FEATURES] = str(features.resolve())
        os.environ[f.ENV_ONLINE_STORE] = online_store or ""
    # Build once in the parent: applies migrations before workers start and fails fast on a
    # bad URI with a clean message instead of a traceback per worker.
    try:
        services = f.app_from_env().state.services
        services.store.close()
    except LoopmlError as e:
        typer.echo(f"Error: {redact_text(e.message)}", err=True)
        raise typer.Exit(2) from None
    except Exception as e:  # a driver's error (connection refused, bad login): no traceback
        typer.echo(f"Error: cannot open the stores: {type(e).__name__}: {redact_text(str(e))}",
                   err=True)
        raise typer.Exit(2) from None
    from loopml.server._background import BackgroundWork

    work = BackgroundWork(os.environ[f.ENV_BACKEND], os.environ[f.ENV_ARTIFACTS],
                          f.PROXY_SCHEME, services.runnable, monitor_interval=monitor_interval,
                          triggers=triggers, trigger_interval=trigger_interval,
                          controller_interval=controller_interval)
    if monitors is not None:
        os.environ[f.ENV_MONITORS] = str(monitors.resolve())
        from loopml.cli.monitor import checked_specs
        from loopml.store import get_store

        tracking = get_store(os.environ[f.ENV_BACKEND], os.environ[f.ENV_ARTIFACTS])
        # A bad file is an error (exit 2); a deployment or profile that does not exist yet
        # is a warning: a server usually starts before its first deployment.
        work.monitor_specs = checked_specs(monitors, tracking, strict=False)
        tracking.close()
        typer.echo(f"Monitors: {len(work.monitor_specs)}, every {monitor_interval:g}s.")
    if policies is not None:
        from loopml.automation import load_policies
        from loopml.automation.policy import check_pipelines

        pols = load_policies(policies)  # InvalidConfig: one line, exit 2
        try:  # first: a policy may name only a registered pipeline (nothing imported else)
            for p in pols:
                services.runnable.check(p.retrain.pipeline, f"Policy {p.name!r}: pipeline")
        except LoopmlError as e:
            typer.echo(f"Error: {policies}: {redact_text(e.message)}", err=True)
            raise typer.Exit(2) from None
        check_pipelines(pols, str(policies))  # output step and parameters exist
        os.environ[f.ENV_POLICIES] = str(policies.resolve())
        work.policies, work.policies_file = pols, policies
        typer.echo(f"Closed-loop controller for {[p.model for p in pols]}.")
    if settings.audit_monitor:  # on the leader, with the other background work
        work.audit = (settings.audit_monitor_interval_s, settings.audit_monitor_window_s,
                      settings.audit_monitor_baseline_windows)
        typer.echo(f"Audit access monitor every {settings.audit_monitor_interval_s:g}s "
                   f"({settings.audit_monitor_window_s}s windows).")
    leader = _elect(work)
    if len(services.runnable):
        typer.echo(f"Pipelines this server may run: {', '.join(services.runnable.refs)}.")
    typer.echo(f"Metadata: {shown}; artifacts: "
               f"{redact_uri(os.environ[f.ENV_ARTIFACTS])}.")
    typer.echo(f"loopml server on http://{host}:{port} (MLFLOW_TRACKING_URI=http://{host}:{port})")
    from loopml._prometheus import setup_multiprocess

    # Before the workers start: they write their metrics to one folder a scrape merges.
    metrics_cleanup = setup_multiprocess(workers)
    try:
        uvicorn.run(
            "loopml.server._factory:app_from_env", factory=True, host=host, port=port,
            workers=workers, log_level=uvicorn_level(settings.log_level), access_log=False,
            # uvicorn believes X-Forwarded-* from 127.0.0.1 by default; only behind a proxy
            # the operator declared, so a local page cannot pose as HTTPS or another client.
            proxy_headers=trust_proxy, forwarded_allow_ips="*" if trust_proxy else None,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        )
    finally:
        leader.stop()
        cleanup()
        metrics_cleanup()


def _elect(work: BackgroundWork) -> LeaderRunner:
    """Start leader election: the background work (scheduler, monitors, triggers, loop
    controller) runs on the elected replica only (loopml.ha, docs/ha.md). The replica's
    name goes to the workers' environment for ``/health/leader``."""
    from loopml.ha import LeaderRunner, elector_for
    from loopml.ha.runner import log
    from loopml.server import _factory as f
    from loopml.store._engine import create_engine

    engine = create_engine(os.environ[f.ENV_BACKEND])
    elector = elector_for(engine)
    os.environ[f.ENV_REPLICA] = elector.holder
    runner = LeaderRunner(elector, work.start)
    how = ("a PostgreSQL advisory lock: it runs on one replica at a time"
           if engine.dialect.name == "postgresql" else "this process (SQLite: one replica)")
    typer.echo(f"Background work is elected through {how}; replica {elector.holder} "
               "(GET /health/leader).")
    log.info("leader election started for replica %s", elector.holder)
    runner.start()
    return runner


def _secrets_out_of_sight(backend: str, token_file: Path | None,
                          password_file: Path | None) -> tuple[str, Callable[[], None]]:
    """Keep secrets off the workers' environment (``/proc/PID/environ``): the files given
    on the command line are passed by path; a secret in the environment or the URI's
    password moves to a 0600 temporary file (removed on exit). Returns the backend URI
    without its password, and the clean-up."""
    from loopml._secrets import file_var, hand_off
    from loopml.server import _factory as f
    from loopml.store._engine import split_password

    if token_file is not None:  # the file wins over the variable, as before
        os.environ.pop(f.ENV_TOKEN, None)
        os.environ[file_var(f.ENV_TOKEN)] = str(token_file.resolve())
    if password_file is not None:
        os.environ.pop(f.ENV_DB_PASSWORD, None)
        os.environ[file_var(f.ENV_DB_PASSWORD)] = str(password_file.resolve())
    backend, password = split_password(backend)
    if password is not None:
        if os.environ.get(f.ENV_DB_PASSWORD) or os.environ.get(file_var(f.ENV_DB_PASSWORD)):
            from loopml.errors import InvalidParameterValue

            raise InvalidParameterValue(
                f"The backend store URI {redact_uri(backend)} has a password and "
                f"{f.ENV_DB_PASSWORD} (or --backend-store-password-file) gives one too: "
                "give it once, preferably not in the URI (it shows in `ps`).")
        os.environ[f.ENV_DB_PASSWORD] = password
    return backend, hand_off(f.SECRETS)
