"""``create_app(services)``: the tracking server as an ASGI app.

The middleware order is visible here and nowhere else: metrics wrap everything, so failed,
refused and unmatched requests are counted too; the guard (Host allow-list, Origin check,
no form content types on the APIs: ``_guard.py``) runs before any route.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from loopml.server._guard import HttpGuard
from loopml.server._http import JSONResponse, log
from loopml.server._permissions import Permission, route
from loopml.server._prom import HttpMetrics, MetricsMiddleware
from loopml.server.routes import (
    artifacts,
    datasets,
    deployments,
    experiments,
    health,
    logged_models,
    loops,
    metrics,
    monitoring,
    pipelines,
    registry,
    runs,
    ui,
)
from loopml.server.services import Services

# Starlette tries routes in order, one regex each: the tracking hot paths (log-metric,
# log-batch, search, get-history) come first so that a training loop's requests match
# within the first few dozen routes instead of after the health and experiment routes.
ROUTE_MODULES = (runs, metrics, experiments, health, artifacts, logged_models, registry,
                 deployments, monitoring, pipelines, loops, datasets, ui)


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


def create_app(services: Services) -> Starlette:
    http_metrics = HttpMetrics()
    routes: list[BaseRoute] = []
    for module in ROUTE_MODULES:
        routes += module.routes(services)
    routes.append(route("/metrics", http_metrics.endpoint, ["GET"], Permission.READ, services.auth))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(MetricsMiddleware, metrics=http_metrics),
                    Middleware(HttpGuard, policy=services.guard)],
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    app.state.services = services
    app.state.http_metrics = http_metrics
    return app
