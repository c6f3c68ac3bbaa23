"""Run the data plane: the REST app, the gRPC server beside it, and graceful shutdown.

Shutdown on SIGTERM/SIGINT: readiness flips to 503 at once (load balancers stop sending),
new inference requests get 503 + Retry-After, requests already accepted finish, then the
process exits, within ``grace_s``. A second signal exits immediately.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from loopml.entities import Deployment
from loopml.inference_log import InferenceLogWriter
from loopml.security import Authenticator
from loopml.server._access_log import WORKER_HEALTHCHECK_S, configure_logging, uvicorn_level
from loopml.server._guard import GuardPolicy
from loopml.services import ProcessServices, open_services
from loopml.serving.app import (
    DEFAULT_MAX_BODY_BYTES,
    PROBES,
    ServingState,
    create_serving_app,
    serving_error_body,
)
from loopml.serving.metrics import ServingMetrics
from loopml.serving.repository import ModelRepository, ServingSettings
from loopml.serving.traffic import DeploymentWatcher

log = logging.getLogger("loopml.serving")


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int | None = 8081
    lazy: bool = False
    log_dir: str | None = None  # inference log root (folder or s3://); None disables it
    deployment: str = "default"
    grace_s: float = 30.0
    drain_delay_s: float = 1.0  # readiness is 503 this long before connections close
    deployments: tuple[str, ...] = ()  # deployment names to serve (specs from the store)
    poll_s: float = 1.0  # how often deployment specs are checked for a new revision
    # Host headers and extra origins the guard accepts (None: localhost + the bound address)
    allowed_hosts: tuple[str, ...] | None = None
    cors_allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_flush_ms: int = 1000  # inference log: compaction to Parquet at least this often (ms)
    log_flush_records: int = 5000  # ... or as soon as this many records wait
    fail_fast: bool = False  # exit at start when a model fails to load (else readiness 503)
    log_level: str = "info"  # loopml.* loggers and the access log (one line per request)
    access_log: bool = True
    features: str | None = None  # feature views file: enrich /invocations rows (features/enrich.py)
    feature_view: str | None = None
    online_store: str | None = None


class StartupFailed(RuntimeError):
    """A model failed to load at start under ``fail_fast`` (the process exits with 3)."""


def model_names(uris: list[str]) -> dict[str, str]:
    """Name each served model: ``name=URI`` as given, else from the URI
    (models:/fraud@champion -> fraud, a folder -> its name)."""
    out: dict[str, str] = {}
    for u in uris:
        if "=" in u and not u.startswith(("models:/", "runs:/", "/", ".")):
            name, _, uri = u.partition("=")
        else:
            uri = u
            ref = u.split(":/", 1)[-1].strip("/")
            name = ref.split("@")[0].split("/")[0] if u.startswith("models:/") else \
                Path(ref).name or "model"
        if name in out:
            raise ValueError(f"Two models would be served as {name!r}; name them: name=URI.")
        out[name] = uri
    return out


def build_app(models: dict[str, str], settings: ServingSettings, opts: ServeOptions,
              auth: Authenticator | None = None,
              fetch: Callable[[str], Deployment] | None = None,
              report: Callable[[str, dict[str, Any]], None] | None = None,
              services: Callable[[], ProcessServices] | None = None) -> Starlette:
    """``fetch(name)`` reads a deployment spec (default: the deployment store of
    ``services()``); ``report(name, status)`` publishes each revision's load status
    (default: with the default ``fetch``, a ``deployment.status`` event in that store).
    ``services()``: this process's stores (``loopml.services``), opened at first need
    (default: ``open_services()``, i.e. the settings' tracking URI); ``models:/`` and
    ``runs:/`` URIs resolve through its client."""
    services = services or _once(open_services)
    metrics = ServingMetrics()
    repo = ModelRepository(models, settings, on_batch=metrics.on_batch,
                           client=lambda: services().client)  # type: ignore[misc]
    logger = InferenceLogWriter(opts.log_dir, flush_ms=opts.log_flush_ms,
                                flush_records=opts.log_flush_records,
                                on_drop=lambda n: metrics.log_dropped.inc(n)) \
        if opts.log_dir else None
    state = ServingState(repo, metrics, auth or Authenticator(), logger, opts.deployment,
                         default_model=next(iter(models), None) or
                         (opts.deployments[0] if opts.deployments else None),
                         max_body_bytes=opts.max_body_bytes,
                         guard=GuardPolicy.for_bind(opts.host, opts.allowed_hosts,
                                                    opts.cors_allowed_origins,
                                                    exempt_paths=PROBES,
                                                    error_body=serving_error_body))
    if opts.features and opts.feature_view:
        from loopml.features.enrich import FeatureEnricher

        state.enrich = FeatureEnricher.open(opts.features, opts.feature_view, opts.online_store)
    if opts.deployments:
        if fetch is None:
            fetch, report = _store_fetch(services()), report or _store_report(services())
        state.watchers = [DeploymentWatcher(d, fetch, repo, state.routers, opts.poll_s, report)
                          for d in opts.deployments]
    app = create_serving_app(state)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        grpc_server = None
        if opts.grpc_port:
            from loopml.serving.grpc_server import start_grpc

            grpc_server = await start_grpc(state, opts.host, opts.grpc_port)
        for w in state.watchers:
            try:
                await w.refresh()
            except Exception as err:  # readiness stays false until a spec applies
                w.error = str(err)
                log.error("deployment %s: %s", w.name, err)
            w.start()
        if not opts.lazy or opts.fail_fast:
            failed = []
            for name in repo.names():
                try:
                    await repo.get(name)
                except Exception as err:  # readiness reports it; the server still starts
                    log.error("model %s failed to load: %s", name, err)
                    failed.append(f"{name}: {err}")
            if failed and opts.fail_fast:
                for w in state.watchers:
                    await w.stop()
                if grpc_server is not None:
                    await grpc_server.stop(0)
                raise StartupFailed("--fail-fast: model(s) failed to load at start: "
                                    + "; ".join(failed))
        from loopml._prometheus import mark_dead, multiprocess_dir, register_process

        register_process()  # a --workers process: its CPU and memory join the sums
        depth = asyncio.create_task(_publish_depth(state)) if multiprocess_dir() else None
        try:
            yield
        finally:
            state.draining = True
            if depth is not None:
                depth.cancel()
            mark_dead(os.getpid())
            for w in state.watchers:
                await w.stop()
            if grpc_server is not None:
                await grpc_server.stop(opts.grace_s)
            for e in repo.entries.values():
                if e.batcher:
                    await e.batcher.stop()
            if logger:
                logger.close()

    app.router.lifespan_context = lifespan
    return app


async def _publish_depth(state: ServingState, every_s: float = 0.5) -> None:
    """Multiprocess mode: keep this worker's queue-depth gauge current, since a scrape is
    answered by one worker and reads the others' last written values."""
    while True:
        for n, e in state.repo.entries.items():
            state.metrics.queue_depth.labels(n).set(e.batcher.depth if e.batcher else 0)
        await asyncio.sleep(every_s)


def _once(build: Callable[[], ProcessServices]) -> Callable[[], ProcessServices]:
    """``build`` called at the first call only (thread-safe); later calls get its result."""
    lock, box = threading.Lock(), list[ProcessServices]()

    def get() -> ProcessServices:
        with lock:
            if not box:
                box.append(build())
            return box[0]
    return get


def _store_fetch(services: ProcessServices) -> Callable[[str], Deployment]:
    return services.deployments.get_deployment


def _store_report(services: ProcessServices) -> Callable[[str, dict[str, Any]], None]:
    from loopml.serving.traffic import STATUS_EVENT

    store = services.tracking

    def report(name: str, status: dict[str, Any]) -> None:
        store.append_event(STATUS_EVENT, name, status)
    return report


class DrainingServer(uvicorn.Server):
    """First signal: flip readiness, wait ``drain_delay_s``, then uvicorn's own graceful
    stop (no new connections, in-flight requests finish within the grace period)."""

    def __init__(self, config: uvicorn.Config, state: ServingState, drain_delay_s: float) -> None:
        super().__init__(config)
        self.serving_state = state
        self.drain_delay_s = drain_delay_s
        self._signalled = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._signalled:
            self.force_exit = True
            super().handle_exit(sig, frame)
            return
        self._signalled = True
        self.serving_state.draining = True
        threading.Timer(self.drain_delay_s, super().handle_exit, (sig, frame)).start()


ENV_CONFIG = "LOOPML_SERVE_CONFIG"


def app_from_env() -> Starlette:
    """The app factory uvicorn calls in each worker process (``--workers N``): the CLI puts
    the whole configuration in LOOPML_SERVE_CONFIG. Every worker runs its own batchers and
    its own gRPC server on the same port (gRPC binds with SO_REUSEPORT on Linux)."""
    import json
    import os

    from loopml.serving.runtime import limit_threads

    limit_threads()
    cfg = json.loads(os.environ[ENV_CONFIG])
    configure_logging(cfg["opts"]["log_level"], cfg["opts"]["access_log"])
    o = cfg["opts"]
    opts = ServeOptions(**{**o, "deployments": tuple(o["deployments"]),
                           "cors_allowed_origins": tuple(o["cors_allowed_origins"]),
                           "allowed_hosts": tuple(o["allowed_hosts"]) if o["allowed_hosts"]
                           else None})
    return build_app(cfg["models"], ServingSettings(**cfg["settings"]), opts,
                     serving_auth(os.environ.get("LOOPML_SERVE_TOKEN")))


def serving_auth(token: str | None) -> Authenticator:
    """The model server's verifier chain: the shared ``token`` (``--auth-token-file``) and,
    with ``auth_required`` (``LOOPML_AUTH_REQUIRED``), the identities of the tracking URI
    (the control plane's ``whoami``, or the database's tables)."""
    from loopml.config import load_settings
    from loopml.security._verifiers import serving_verifiers

    s = load_settings()
    verifiers = serving_verifiers(s.tracking_uri) if s.auth_required else []
    return Authenticator(token, verifiers=verifiers, required=s.auth_required)


def serve(models: dict[str, str], settings: ServingSettings, opts: ServeOptions,
          auth: Authenticator | None = None, workers: int = 1) -> None:
    from loopml.serving.runtime import limit_threads

    limit_threads()
    configure_logging(opts.log_level, opts.access_log)
    if workers > 1:
        import dataclasses
        import json

        from loopml._prometheus import setup_multiprocess

        cleanup = setup_multiprocess(workers)  # before the workers create any metric

        os.environ[ENV_CONFIG] = json.dumps({
            "models": models, "settings": dataclasses.asdict(settings),
            "opts": dataclasses.asdict(opts)})
        if auth and auth.token:
            os.environ["LOOPML_SERVE_TOKEN"] = auth.token
        # Multi-process: uvicorn's supervisor forwards SIGTERM; each worker stops accepting,
        # finishes in-flight requests and flips readiness as its lifespan ends.
        uvicorn.run("loopml.serving.server:app_from_env", factory=True, host=opts.host,
                    port=opts.port, workers=workers, log_level=uvicorn_level(opts.log_level),
                    access_log=False,
                    timeout_graceful_shutdown=int(opts.grace_s),
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_S)
        cleanup()
        return
    app = build_app(models, settings, opts, auth)
    config = uvicorn.Config(app, host=opts.host, port=opts.port,
                            log_level=uvicorn_level(opts.log_level),
                            access_log=False, timeout_graceful_shutdown=int(opts.grace_s),
                            lifespan="on")
    server = DrainingServer(config, app.state.serving, opts.drain_delay_s)
    asyncio.run(server.serve())
    if not server.started:  # the lifespan failed (--fail-fast) or the port was taken
        raise SystemExit(3)
