"""``create_app(services)``: the tracking server as an ASGI app.

The middleware order is visible here and nowhere else: the access log (``_access_log.py``)
and metrics wrap everything, so failed, refused and unmatched requests are logged and
counted too; the guard (Host allow-list, Origin check,
no form content types on the APIs: ``_guard.py``) runs before any route.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from loopml._version import __version__
from loopml.security import Permission, route
from loopml.security._audit_http import AuditMiddleware
from loopml.security.workspaces import WorkspaceMiddleware
from loopml.server._access_log import AccessLogMiddleware
from loopml.server._guard import HttpGuard
from loopml.server._http import JSONResponse, log
from loopml.server._openapi import openapi_handlers
from loopml.server._prom import HttpMetrics, MetricsMiddleware
from loopml.server.routes import (
    artifacts,
    audit,
    datasets,
    deployments,
    experiments,
    features,
    gitops,
    health,
    identities,
    labeling,
    logged_models,
    loops,
    metrics,
    monitoring,
    oidc,
    pipelines,
    registry,
    runs,
    secrets,
    targets,
    ui,
    ui_admin,
    ui_build,
    ui_labeling,
    workspaces,
)
from loopml.server.services import Services

# Starlette tries routes in order, one regex each: the tracking hot paths (log-metric,
# log-batch, search, get-history) come first so that a training loop's requests match
# within the first few dozen routes instead of after the health and experiment routes.
DESCRIPTION = ("The loopml tracking server: MLflow's REST API (/api/2.0/mlflow/..., "
               "/api/2.0/mlflow-artifacts/...), loopml's own API (/api/loopml/v1/...), the "
               "dashboard (/ui/...), health and Prometheus metrics.")
ROUTE_MODULES = (runs, metrics, experiments, health, artifacts, logged_models, registry,
                 deployments, monitoring, pipelines, loops, datasets, identities, secrets,
                 workspaces, targets, ui, ui_admin, ui_build, oidc, audit, features,
                 labeling, ui_labeling, gitops)


async def _not_found(request: Request, exc: Exception) -> Response:
    log.info("404 for %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error_code": "ENDPOINT_NOT_FOUND",
         "message": f"No endpoint {request.method} {request.url.path} on this loopml server."},
        status_code=404,
    )


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error_code": "BAD_REQUEST",
         "message": f"Method {request.method} is not allowed on {request.url.path}."},
        status_code=405,
    )


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    import os

    from loopml._prometheus import mark_dead, register_process

    register_process()  # a --workers process: its CPU and memory join the sums
    yield
    mark_dead(os.getpid())
    audit_log = getattr(app.state.services, "audit", None)
    if audit_log is not None:  # records queued before a clean shutdown are written
        audit_log.close()


def create_app(services: Services) -> Starlette:
    http_metrics = HttpMetrics(services)
    routes: list[BaseRoute] = []
    for module in ROUTE_MODULES:
        routes += module.routes(services)
    routes.append(route("/metrics", http_metrics.endpoint, ["GET"], Permission.READ, services.auth))
    spec, docs = openapi_handlers(lambda: routes, "loopml", __version__, DESCRIPTION)
    routes += [route("/openapi.json", spec, ["GET"], Permission.PUBLIC, services.auth),
               route("/docs", docs, ["GET"], Permission.PUBLIC, services.auth)]
    app = Starlette(
        routes=routes,
        # The audit middleware wraps the guard, so refused state-changing requests are
        # recorded too.
        middleware=[Middleware(AccessLogMiddleware),
                    Middleware(MetricsMiddleware, metrics=http_metrics),
                    Middleware(AuditMiddleware, audit=services.audit),
                    Middleware(HttpGuard, policy=services.guard),
                    Middleware(WorkspaceMiddleware)],
        lifespan=_lifespan,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    app.state.services = services
    app.state.http_metrics = http_metrics
    return app
