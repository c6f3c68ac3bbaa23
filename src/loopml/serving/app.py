"""``create_serving_app``: the data plane as an ASGI app.

Open Inference Protocol V2 over REST (health, metadata, infer), MLflow's scoring protocol
(``/invocations``, ``/ping``, ``/health``, ``/version``) and Prometheus ``/metrics``. Every
route declares a permission like the tracking server's. Every response carries
``x-request-id`` (the caller's, or a new one), which is also the inference log's key for
joining ground truth later.

Errors: V2 routes answer ``{"error": message}`` (the protocol's shape), /invocations answers
MLflow's ``{"error_code", "message"}``. Bad input is a 400, an unknown model a 404, a full
queue a 503 with Retry-After, and nothing a client sends produces a 500.

Bounds: the guard (``server/_guard.py``: Host allow-list, Origin check, no form content
types) runs before any route; a body above ``ServingState.max_body_bytes`` is a 413 (on its
Content-Length, else while it streams in); a body above ``OFFLOAD_BYTES`` is decoded in a
worker thread so that health probes keep answering while it is parsed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from loopml._version import __version__
from loopml.errors import InternalError, LoopmlError
from loopml.inference_log import InferenceLogWriter
from loopml.security import Authenticator, Permission, PermissionedRoute
from loopml.server._access_log import AccessLogMiddleware
from loopml.server._guard import GuardPolicy, HttpGuard, mlflow_error_body
from loopml.server._http import read_body
from loopml.server._openapi import SCORING_REQUEST, V2_INFER_REQUEST, openapi_handlers
from loopml.serving import codec
from loopml.serving._explain_api import explain_handlers
from loopml.serving._repo_api import repository_handlers
from loopml.serving.batcher import Overloaded
from loopml.serving.metrics import ServingMetrics
from loopml.serving.repository import ModelRepository
from loopml.serving.runtime import ServedModel
from loopml.serving.traffic import DeploymentWatcher, Router

log = logging.getLogger("loopml.serving")
JSON = "application/json"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
# Bodies above this are decoded in the thread pool: decoding 1 MiB of JSON takes ~5-10 ms,
# the most a request should hold the event loop; below it the thread hop costs more.
OFFLOAD_BYTES = 1024 * 1024
TOO_LARGE_ADVICE = ("Send fewer rows per request (or the V2 binary tensor extension), or "
                    "raise the server's --max-body-mb.")
# Probes answer whatever the Host header (a kubelet calls the pod IP).
DESCRIPTION = ("loopml's model server: the Open Inference Protocol V2 (KServe/Triton; also "
               "over gRPC) with Triton's model repository extension, MLflow's scoring "
               "protocol (/invocations), KServe V1 explanations (/v1/models/M:explain), "
               "health and Prometheus metrics.")
# Open Inference Protocol extensions this server implements (server metadata lists them).
EXTENSIONS = ("binary_tensor_data", "model_repository")
PROBES = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health", "/version"})


def serving_error_body(path: str, code: str, message: str) -> bytes:
    """The guard's refusals in each protocol's error shape: V2 ``{"error"}``, else MLflow's."""
    if path.startswith("/v2"):
        return orjson.dumps({"error": message})
    return mlflow_error_body(path, code, message)


def default_guard() -> GuardPolicy:
    """The model server's guard for a loopback bind: probes answer any Host, refusals in
    each protocol's error shape (``serving_error_body``)."""
    return GuardPolicy(exempt_paths=PROBES, error_body=serving_error_body)


@dataclass
class ServingState:
    repo: ModelRepository
    metrics: ServingMetrics = field(default_factory=ServingMetrics)
    auth: Authenticator = field(default_factory=Authenticator)
    logger: InferenceLogWriter | None = None
    deployment: str = "default"
    draining: bool = False
    default_model: str | None = None
    # deployment name -> its routing table; swapped whole on a new revision (traffic.py)
    routers: dict[str, Router] = field(default_factory=dict)
    watchers: list[DeploymentWatcher] = field(default_factory=list)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    guard: GuardPolicy = field(default_factory=default_guard)
    # loopml.features.enrich.FeatureEnricher (``--features``): joins online features into
    # /invocations rows that carry the view's entity key, before the signature check.
    enrich: Callable[..., Any] | None = None


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=JSON, headers=headers)


def _v2_error(e: LoopmlError, rid: str) -> Response:
    headers = {"x-request-id": rid}
    if isinstance(e, Overloaded):
        headers["Retry-After"] = "1"
    return _json({"error": e.message}, e.http_status, headers)


async def predict(batcher: Any, rows: Any, outputs: tuple[str, ...] | None = None) -> Any:
    """Queue ``rows`` and wait for the model's answer. A ValueError or TypeError raised by
    the model's own predict is its verdict on this request's data (sklearn's "Found array
    with 0 sample(s)", "Input X contains NaN"): a 400 that carries the model's message. The
    batcher re-runs a failed batch request by request, so the error is this request's."""
    try:
        return await batcher.submit(rows, outputs)
    except (ValueError, TypeError) as e:
        raise codec.BadInput(f"The model could not predict on this input: "
                             f"{type(e).__name__}: {e}") from None


def primary(out: Any) -> Any:
    """What the inference log records of a result: the array, or of named outputs the
    ``predict`` output when asked for, else the first."""
    if isinstance(out, dict):
        return out.get("predict", next(iter(out.values())))
    return out


def _internal(request: Request, rid: str) -> InternalError:
    """Anything else is a server fault: logged with its traceback, answered with a JSON
    body (not Starlette's text/plain 500, which also drops the keep-alive connection)."""
    log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path,
                  rid)
    return InternalError(f"Internal server error (request {rid}); see the server log.")


def _mlflow_error(e: LoopmlError, rid: str) -> Response:
    headers = {"x-request-id": rid}
    if isinstance(e, Overloaded):
        headers["Retry-After"] = "1"
    return _json(e.to_json(), e.http_status, headers)


Handler = Callable[[Request], Awaitable[Response]]
# (model, request body) -> (rows for the batcher, context for encoding the response,
# the named outputs to compute or None for the default)
Prepare = Callable[["ServedModel", bytes], tuple[Any, Any, tuple[str, ...] | None]]
Encode = Callable[["ServedModel", Any, Any], bytes]


def _route(state: ServingState, path: str, fn: Handler, methods: list[str],
           perm: Permission) -> PermissionedRoute:
    async def checked(request: Request) -> Response:
        try:
            state.auth.check(request, perm)
        except LoopmlError as e:
            return _json({"error": e.message}, e.http_status)
        try:
            return await fn(request)
        except Exception:
            rid = request.headers.get("x-request-id") or uuid.uuid4().hex
            return _json({"error": _internal(request, rid).message}, 500,
                         {"x-request-id": rid})

    r = PermissionedRoute(path, checked, methods=methods)
    r.permission = perm
    return r


def create_serving_app(state: ServingState) -> Starlette:
    repo, metrics = state.repo, state.metrics

    def ready() -> bool:
        return (not state.draining and all(e.error is None for e in repo.entries.values())
                and all(w.revision > 0 for w in state.watchers))

    async def live(_: Request) -> Response:
        return _json({"live": True})

    async def server_ready(_: Request) -> Response:
        return _json({"ready": ready()}, 200 if ready() else 503)

    async def server_meta(_: Request) -> Response:
        return _json({"name": "loopml", "version": __version__,
                      "extensions": list(EXTENSIONS)})

    def entry_of(name: str) -> str:
        """A deployment answers metadata and readiness with its first route's model."""
        router = state.routers.get(name)
        return router.entries[0] if router else name

    async def model_meta(request: Request) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        name = request.path_params["name"]
        try:
            model, _ = await repo.get(entry_of(name), None if name in state.routers
                                      else request.path_params.get("version"))
        except LoopmlError as e:
            return _v2_error(e, rid)
        return _json({**model.metadata(), "name": name})

    async def model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            await repo.get(entry_of(name), None if name in state.routers
                           else request.path_params.get("version"))
        except LoopmlError as e:
            return _v2_error(e, uuid.uuid4().hex)
        ok = not state.draining
        return _json({"name": name, "ready": ok}, 200 if ok else 503)

    async def run(request: Request, protocol: str, name: str, version: str | None,
                  prepare: Prepare, encode: Encode, error: Callable[[LoopmlError, str], Response]
                  ) -> Response:
        """The one inference path of both REST protocols: decode, queue, encode, log, count."""
        t0 = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        status, mv = 200, version or ""
        router = state.routers.get(name)
        entry, route = (router.choose(request.headers) if router else (name, None))
        try:
            if state.draining:
                raise Overloaded("The server is shutting down; retry on another replica.")
            body = await read_body(request, state.max_body_bytes, TOO_LARGE_ADVICE)
            model, batcher = await repo.get(entry, None if router else version)
            mv = model.version
            rows, ctx, outputs = prepare(model, body) if len(body) <= OFFLOAD_BYTES else \
                await run_in_threadpool(prepare, model, body)
            out = await predict(batcher, rows, outputs)
            headers = {"x-request-id": rid, "x-model-version": model.version}
            if route:
                headers["x-loopml-route"] = route
            resp = Response(encode(model, ctx, out), media_type=JSON, headers=headers)
            deployment = name if router else state.deployment
            if state.logger:
                state.logger.record(deployment, rid, route or name, model.version, rows,
                                    primary(out), (time.perf_counter() - t0) * 1000)
            if router and router.shadow:
                for shadow in router.shadow:
                    asyncio.get_running_loop().create_task(
                        mirror(deployment, shadow, rid, rows))
            return resp
        except Exception as exc:
            e = exc if isinstance(exc, LoopmlError) else _internal(request, rid)
            status = e.http_status
            metrics.errors.labels(name, type(e).__name__).inc()
            if state.logger and not isinstance(e, Overloaded):  # error rates need failures too
                state.logger.record(name if router else state.deployment, rid, route or name,
                                    mv, None, {"error": e.message},
                                    (time.perf_counter() - t0) * 1000, status)
            return error(e, rid)
        finally:
            metrics.requests.labels(name, mv, protocol, str(status)).inc()
            metrics.latency.labels(name, mv, protocol).observe(time.perf_counter() - t0)

    async def mirror(deployment: str, entry: str, rid: str, rows: Any) -> None:
        """Shadow call: same rows, result logged (role "shadow"), never returned, and a
        failure never touches the primary response."""
        t0 = time.perf_counter()
        e = repo.entries.get(entry)
        out: Any
        try:
            model, batcher = await repo.get(entry)
            out = await batcher.submit(rows)
            status = 200
        except Exception as exc:  # noqa: BLE001 - a shadow's failure is only logged
            out, status = {"error": str(exc)}, getattr(exc, "http_status", 500)
            model = None
        metrics.requests.labels(entry, model.version if model else "", "shadow",
                                str(status)).inc()
        if state.logger:
            state.logger.record(deployment, rid, e.uri if e else entry,
                                model.version if model else "", rows, out,
                                (time.perf_counter() - t0) * 1000, status, role="shadow")

    async def infer(request: Request) -> Response:
        name = request.path_params["name"]
        hlen = request.headers.get("inference-header-content-length")

        def prepare(model: ServedModel, body: bytes) -> tuple[Any, Any, Any]:
            inputs, body_id, names = codec.decode_v2_request(
                body, codec.parse_header_length(hlen))
            outputs = model.check_outputs(names)
            return model.rows_from_v2(inputs), body_id, outputs

        def encode(model: ServedModel, body_id: Any, out: Any) -> bytes:
            outs = out if isinstance(out, dict) else \
                {"predict": model.outputs["predict"].cast(out)}
            return codec.encode_v2_response(name, model.version, body_id, outs)

        return await run(request, "v2", name, request.path_params.get("version"), prepare,
                         encode, _v2_error)

    async def invocations(request: Request) -> Response:
        ctype = request.headers.get("content-type", JSON)

        def prepare(model: ServedModel, body: bytes) -> tuple[Any, Any, Any]:
            columns = model.spec.column_types
            data = codec.decode_invocations(body, ctype, columns)
            if state.enrich is not None:
                data = state.enrich(data, model.spec.names if model.spec.tabular else None)
            return model.rows_from_any(data), None, None

        def encode(model: ServedModel, _: Any, out: Any) -> bytes:
            return codec.encode_invocations(out)

        return await run(request, "invocations", state.default_model or repo.names()[0],
                         None, prepare, encode, _mlflow_error)

    async def ping(_: Request) -> Response:
        return Response("\n", status_code=200 if ready() else 503)

    async def version_(_: Request) -> Response:
        return Response(__version__, media_type="text/plain")

    async def models_status(_: Request) -> Response:
        return _json({"models": repo.status(), "draining": state.draining, "deployments": {
            w.name: {"revision": w.revision, "error": w.error} for w in state.watchers}})

    async def metrics_ep(request: Request) -> Response:
        for n, e in repo.entries.items():
            metrics.queue_depth.labels(n).set(e.batcher.depth if e.batcher else 0)
        return await metrics.endpoint(request)

    P = Permission
    repo_api = repository_handlers(repo)
    explain = explain_handlers(repo, state.max_body_bytes)
    table: list[tuple[str, Handler, list[str], Permission]] = [
        ("/v2/health/live", live, ["GET"], P.PUBLIC),
        ("/v2/health/ready", server_ready, ["GET"], P.PUBLIC),
        ("/v2", server_meta, ["GET"], P.READ),
        ("/v2/models/{name}", model_meta, ["GET"], P.READ),
        ("/v2/models/{name}/versions/{version}", model_meta, ["GET"], P.READ),
        ("/v2/models/{name}/ready", model_ready, ["GET"], P.PUBLIC),
        ("/v2/models/{name}/versions/{version}/ready", model_ready, ["GET"], P.PUBLIC),
        ("/v2/models/{name}/infer", infer, ["POST"], P.WRITE),
        ("/v2/models/{name}/versions/{version}/infer", infer, ["POST"], P.WRITE),
        ("/invocations", invocations, ["POST"], P.WRITE),
        ("/ping", ping, ["GET"], P.PUBLIC),
        ("/health", ping, ["GET"], P.PUBLIC),
        ("/version", version_, ["GET"], P.PUBLIC),
        ("/api/loopml/v1/serving/models", models_status, ["GET"], P.READ),
        ("/metrics", metrics_ep, ["GET"], P.READ),
        ("/v1/models/{name}:explain", explain["v1"], ["POST"], P.WRITE),
        ("/v2/models/{name}/explain", explain["v2"], ["POST"], P.WRITE),
        ("/v2/repository/index", repo_api["index"], ["POST"], P.READ),
        ("/v2/repository/models/{name}/load", repo_api["load"], ["POST"], P.DEPLOY),
        ("/v2/repository/models/{name}/unload", repo_api["unload"], ["POST"], P.DEPLOY),
    ]
    routes: list[BaseRoute] = [_route(state, p, f, m, perm) for p, f, m, perm in table]
    for r in routes:  # request bodies the OpenAPI description declares
        path = getattr(r, "path", "")
        if path.endswith(("/infer", "/explain")) and path.startswith("/v2/"):
            r.openapi_body = V2_INFER_REQUEST  # type: ignore[attr-defined]
        elif path == "/invocations" or path.endswith(":explain"):
            r.openapi_body = SCORING_REQUEST  # type: ignore[attr-defined]
        elif path.startswith("/v2/repository"):
            r.openapi_body = {"type": "object"}  # type: ignore[attr-defined]
    spec, docs = openapi_handlers(lambda: routes, "loopml serve", __version__, DESCRIPTION)
    routes += [_route(state, "/openapi.json", spec, ["GET"], P.PUBLIC),
               _route(state, "/docs", docs, ["GET"], P.PUBLIC)]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _json({"error": f"No endpoint {request.method} {request.url.path}."}, 404)

    app = Starlette(routes=routes, exception_handlers={404: not_found},
                    middleware=[Middleware(AccessLogMiddleware),
                                Middleware(HttpGuard, policy=state.guard)])
    app.state.serving = state
    return app
