"""The edge agent's HTTP app: OIP V2 infer, MLflow /invocations, health, Prometheus metrics.

Each request reads ``agent.current`` once and uses that model to the end, which is what
makes a swap drop nothing. The codecs and the signature checks are loopml's serving ones.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loopml.errors import LoopmlError
from loopml.serving.codec import (
    decode_invocations,
    decode_v2_request,
    encode_invocations,
    encode_v2_response,
    parse_header_length,
)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status, media_type="application/json")


def create_agent_app(agent: Any) -> Starlette:
    """Routes over ``agent`` (an ``EdgeAgent``)."""

    def ready() -> Response:
        if agent.current is None:
            return _json({"status": "no model yet"}, 503)
        return _json({"status": "ok", "version": agent.version, "online": agent.online})

    async def health(_: Request) -> Response:
        return ready()

    async def run(request: Request, v2: bool) -> Response:
        served = agent.current  # one read: this request keeps this model
        if served is None:
            return _json({"error": "no model loaded yet"}, 503)
        body = await request.body()
        rid = str(uuid.uuid4())
        t0 = time.perf_counter()
        try:
            if v2:
                tensors, rid_in, _ = decode_v2_request(
                    body, parse_header_length(request.headers.get("inference-header-content-length")))
                rid = rid_in or rid
                rows = served.rows_from_v2(tensors)
            else:
                rows = served.rows_from_any(decode_invocations(
                    body, request.headers.get("content-type", "application/json"),
                    served.spec.column_types))
            out = np.asarray(served.predict_rows(rows))
        except LoopmlError as e:
            agent.counters["errors"] += 1
            return _json({"error_code": e.error_code, "message": e.message}, 400)
        ms = (time.perf_counter() - t0) * 1000
        agent.counters["requests"] += 1
        inputs = rows.to_numpy() if hasattr(rows, "to_numpy") else np.asarray(rows)
        agent.spool.write({"request_id": rid, "ts": time.time(), "model": agent.name,
                           "version": served.version, "inputs": inputs.tolist(),
                           "outputs": out.tolist(), "latency_ms": ms})
        headers = {"x-model-version": str(served.version)}
        if v2:
            return Response(encode_v2_response(agent.name, served.version, rid, {"predict": out}),
                            media_type="application/json", headers=headers)
        return Response(encode_invocations(out), media_type="application/json", headers=headers)

    async def infer(request: Request) -> Response:
        if request.path_params["name"] != agent.name:
            return _json({"error": f"unknown model {request.path_params['name']!r}; this "
                                   f"agent serves {agent.name!r}"}, 404)
        return await run(request, True)

    async def invocations(request: Request) -> Response:
        return await run(request, False)

    async def meta(request: Request) -> Response:
        served = agent.current
        if served is None:
            return _json({"error": "no model loaded yet"}, 503)
        return _json(served.metadata())

    async def metrics(_: Request) -> Response:
        c = agent.counters
        lines = [
            "# TYPE loopml_edge_requests_total counter",
            f"loopml_edge_requests_total {c['requests']}",
            "# TYPE loopml_edge_errors_total counter", f"loopml_edge_errors_total {c['errors']}",
            "# TYPE loopml_edge_swaps_total counter", f"loopml_edge_swaps_total {c['swaps']}",
            "# TYPE loopml_edge_refused_total counter", f"loopml_edge_refused_total {c['refused']}",
            "# TYPE loopml_edge_log_uploaded_total counter",
            f"loopml_edge_log_uploaded_total {c['uploaded']}",
            "# TYPE loopml_edge_log_pending_segments gauge",
            f"loopml_edge_log_pending_segments {agent.spool.pending()}",
            "# TYPE loopml_edge_online gauge", f"loopml_edge_online {int(agent.online)}",
            "# TYPE loopml_edge_model_version gauge",
            f"loopml_edge_model_version {agent.version if str(agent.version).isdigit() else 0}",
        ]
        return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return Starlette(routes=[
        Route("/health", health), Route("/ping", health), Route("/v2/health/ready", health),
        Route("/v2/health/live", health), Route("/metrics", metrics),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/v2/models/{name}", meta),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
    ])
