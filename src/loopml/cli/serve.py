"""``loopml serve``: the data plane (Open Inference Protocol V2 REST + gRPC, /invocations)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from loopml.cli.server import is_loopback, log_level_option


def serve(
    model_uris: list[str] = typer.Argument(None, metavar="[MODEL_URI...]", help="Models to serve: models:/<name>/<version>, models:/<name>@<alias>, runs:/<run_id>/<path> or a model folder. Name one with name=URI; otherwise the registered name or folder name is used."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (REST and gRPC). Anything but loopback needs --auth-token-file or --insecure."),
    port: int = typer.Option(8080, min=0, max=65535, help="REST port (V2 and /invocations)."),
    grpc_port: int = typer.Option(8081, min=0, max=65535, help="gRPC port (Open Inference Protocol). 0 disables gRPC."),
    workers: int = typer.Option(1, min=1, help="Worker processes, each with its own batchers and gRPC server (on the same ports). With one worker, SIGTERM flips readiness before connections close."),
    max_batch_size: int = typer.Option(64, min=1, help="Most rows one predict call takes."),
    max_batch_delay_ms: float = typer.Option(2.0, min=0.0, help="Longest a request waits for others to join its batch, under load."),
    max_queue: int = typer.Option(2048, min=1, help="Requests queued per model before 503 + Retry-After."),
    memory_cap_mb: int = typer.Option(2048, min=1, help="Model files kept loaded (least recently used are unloaded)."),
    lazy: bool = typer.Option(False, help="Load each model on its first request instead of at start."),
    no_onnx: bool = typer.Option(False, "--no-onnx", help="Use the native flavor even when the model has an ONNX flavor."),
    convert_onnx: bool = typer.Option(False, "--convert-onnx", help="Export models that have no ONNX flavor to ONNX at load, with the parity check (on a private copy); a model that fails it is served natively."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow model files that can run code when loaded (pickles, TorchScript, skops types outside the allow-list). Only for models you trust."),
    inference_log: str = typer.Option(None, help="Write the inference log (Parquet, by deployment and day) under this folder or object-store URI (s3://bucket/prefix)."),
    log_flush_ms: int = typer.Option(1000, min=1, help="Inference log: write waiting records to Parquet at least this often (ms). Acknowledged records are already in the write-ahead file (folder logs)."),
    log_flush_records: int = typer.Option(5000, min=1, help="Inference log: write to Parquet as soon as this many records wait."),
    deployment: str = typer.Option("default", help="Deployment name recorded in the inference log for plain MODEL_URIs."),
    serve_deployment: list[str] = typer.Option(None, "--serve-deployment", help="Serve this deployment (repeatable): its routes, weights, shadow models and sticky header come from the store (`loopml deployments ...`) and changes apply live, without a restart. Clients call it as model <name>."),
    grace_seconds: float = typer.Option(30.0, min=0.0, help="On SIGTERM: how long in-flight requests may take to finish."),
    auth_token_file: Path = typer.Option(None, exists=True, dir_okay=False, help="File with the bearer token clients must send."),
    insecure: bool = typer.Option(False, help="Allow a non-loopback bind without authentication."),
    tracking_uri: str = typer.Option(None, help="Where models:/ and runs:/ URIs resolve. Default: LOOPML_TRACKING_URI, else the local store."),
    allowed_hosts: str = typer.Option(None, envvar="LOOPML_ALLOWED_HOSTS", help="Comma-separated Host header values the server answers (DNS-rebinding defence), e.g. 'models.corp.example,10.0.0.5:8080'; '*' turns the check off. Default: localhost, 127.0.0.1, [::1] and the bound address (on 0.0.0.0 also this machine's names and private addresses). Health probes are always answered."),
    cors_allowed_origins: str = typer.Option(None, envvar="LOOPML_CORS_ALLOWED_ORIGINS", help="Comma-separated origins besides the server's own that may POST from a browser (e.g. 'https://app.corp.example'); '*' allows any. Default: none."),
    explain_budget_ms: float = typer.Option(2000.0, min=1.0, help="Explain routes (/v1/models/M:explain, /v2/models/M/explain): refuse (400) a request whose estimated time exceeds this many milliseconds."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Exit (status 3) when a model fails to load at start, instead of starting with readiness 503. Loads every model at start even with --lazy."),
    log_level: str = typer.Option(None, "--log-level", envvar="LOOPML_LOG_LEVEL", help="Level of the server's logs: critical, error, warning, info (default) or debug.", callback=log_level_option),
    access_log: bool = typer.Option(None, "--access-log/--no-access-log", help="One line per request (method, path, status, duration in ms, request id) on the loopml.access logger. Default: on (LOOPML_ACCESS_LOG)."),
    features: Path = typer.Option(None, exists=True, dir_okay=False, help="YAML feature views (docs/features.md); with --feature-view, /invocations rows that carry the view's entity key get its online features joined before predict."),
    feature_view: str = typer.Option(None, "--feature-view", help="The view of --features whose features enrich requests (its entity column is the key)."),
    online_store: str = typer.Option(None, "--online-store", help="Online feature store for --features: memory:// (default; in this process, filled by nothing else) or redis://host:port/db[?prefix=...]."),
    max_body_mb: int = typer.Option(32, min=1, help="Largest request body in MiB; bigger requests get 413. Bodies over 1 MiB are decoded off the event loop."),
) -> None:
    """Serve models over the Open Inference Protocol V2 (REST /v2/... and gRPC) and MLflow's
    scoring protocol (POST /invocations, /ping, /health, /version), with adaptive batching and
    Prometheus /metrics."""
    from loopml.server._guard import split_list
    from loopml.serving.repository import ServingSettings
    from loopml.serving.server import ServeOptions, model_names, serving_auth
    from loopml.serving.server import serve as run

    token = auth_token_file.read_text().strip() if auth_token_file else None
    from loopml.config import load_settings

    if not is_loopback(host) and not token and not load_settings().auth_required \
            and not insecure:
        typer.echo(f"Error: refusing to bind {host} without authentication. Pass "
                   "--auth-token-file, bind 127.0.0.1, or --insecure on a trusted network.",
                   err=True)
        raise typer.Exit(2)

    settings_ = load_settings(tracking_uri=tracking_uri, log_level=log_level,  # flag > env > file
                              access_log=access_log)
    uri = settings_.tracking_uri
    if uri:
        os.environ["LOOPML_TRACKING_URI"] = uri  # for the worker processes
    if not model_uris and not serve_deployment:
        typer.echo("Error: give at least one MODEL_URI or --serve-deployment NAME.", err=True)
        raise typer.Exit(2)
    try:
        models = model_names(model_uris or [])
    except ValueError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(2) from None
    check_sources(models, serve_deployment or [])
    settings = ServingSettings(max_batch_size, max_batch_delay_ms / 1000, max_queue,
                               memory_cap_mb * 1024 * 1024, trust_pickle, not no_onnx,
                               convert_onnx and not no_onnx, explain_budget_ms)
    opts = ServeOptions(host, port, grpc_port or None, lazy,
                        inference_log or None, deployment,
                        grace_seconds, deployments=tuple(serve_deployment or ()),
                        allowed_hosts=split_list(allowed_hosts) or None,
                        cors_allowed_origins=split_list(cors_allowed_origins),
                        max_body_bytes=max_body_mb * 1024 * 1024,
                        log_flush_ms=log_flush_ms, log_flush_records=log_flush_records,
                        fail_fast=fail_fast, log_level=settings_.log_level,
                        access_log=settings_.access_log,
                        features=str(features) if features else None, feature_view=feature_view,
                        online_store=online_store)
    if features is not None:
        check_features(str(features), feature_view, online_store)
    served = [f"{n}={u}" for n, u in models.items()] + \
        [f"deployment {d}" for d in serve_deployment or []]
    typer.echo(f"loopml serve: {', '.join(served)} on "
               f"http://{host}:{port}" + (f" and grpc {host}:{grpc_port}" if grpc_port else ""))
    run(models, settings, opts, serving_auth(token), workers)


def check_features(path: str, view: str | None, store_uri: str | None) -> None:
    """Refuse a bad feature views file, an unknown view or store URI before binding (exit 2)."""
    from loopml.errors import LoopmlError

    if not view:
        typer.echo("Error: --features needs --feature-view VIEW (the view whose features "
                   "enrich requests).", err=True)
        raise typer.Exit(2)
    from loopml.features.enrich import FeatureEnricher

    try:
        FeatureEnricher.open(path, view, store_uri).store.close()
    except LoopmlError as e:
        typer.echo(f"Error: {e.message}", err=True)
        raise typer.Exit(2) from None


def check_sources(models: dict[str, str], deployments: list[str]) -> None:
    """Refuse, before binding, what could never be served: a model folder that does not
    exist, a ``models:/`` version or alias that is not registered, a deployment that is not
    in the store (``InvalidConfig``: one line, exit 2). ``runs:/`` URIs load as usual."""
    from loopml._config import suggest
    from loopml.errors import InvalidConfig

    registry_uris = [u for u in models.values() if u.startswith("models:/")]
    for name, uri in models.items():
        if not uri.startswith(("models:/", "runs:/")) and not Path(uri).is_dir():
            raise InvalidConfig(f"MODEL_URI {name}={uri}: no such model folder.")
    if not registry_uris and not deployments:
        return
    from loopml.services import open_services
    from loopml.store.deployments_base import check_models_exist

    services = open_services()  # the settings' tracking URI, as the server will use
    if registry_uris:
        check_models_exist(services.registry, "MODEL_URI", registry_uris)
    from loopml.security.workspaces import ALL_WORKSPACES, use_workspace

    with use_workspace(ALL_WORKSPACES):  # a server serves deployments of any workspace
        known = [d.name for d in services.deployments.list_deployments()]
    for d in deployments:
        if d not in known:
            raise InvalidConfig(f"--serve-deployment {d}: no such deployment in the store"
                                f"{suggest(d, known)}; create it with `loopml deployments "
                                "create`.")
