"""MLflow metric history API."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml._json import float_to_json
from loopml.security import Permission as P
from loopml.security import PermissionedRoute, route
from loopml.security.entity_scope import RUN, Addresses
from loopml.server import _mlflow_json as J
from loopml.server._api import MLFLOW_PREFIXES, api, check_entities
from loopml.server._http import Body, read_json
from loopml.server.routes.runs import run_id
from loopml.server.services import Services

_RUN = (Addresses(RUN, "run_id", "run_uuid"),)  # checked in its experiment's workspace


def routes(s: Services) -> list[PermissionedRoute]:
    st = s.store

    def history(b: Body) -> bytes:
        check_entities(s, _RUN, b, P.READ)
        page = st.get_metric_history(
            run_id(b), b.req_text("metric_key"), max_results=b.integer("max_results"),
            page_token=b.text("page_token"),
        )
        # The hot path for 20k-point charts: build plain dicts and let orjson do the rest.
        out: dict[str, Any] = {
            "metrics": [
                {"key": m.key, "value": float_to_json(m.value), "timestamp": m.timestamp,
                 "step": m.step}
                for m in page
            ]
        }
        if page.next_page_token:
            out["next_page_token"] = page.next_page_token
        return orjson.dumps(out)

    async def history_handler(request: Request) -> Response:
        body = await read_json(request, s.max_body_bytes, "metrics/get-history")
        body.principal, body.workspace = request.state.principal, request.state.workspace
        data = history(body) if s.inline_store_calls else await run_in_threadpool(history, body)
        return Response(data, media_type="application/json")

    def bulk_interval(b: Body) -> dict[str, Any]:
        pts = st.get_metric_history_bulk_interval(
            b.str_list("run_ids"), b.req_text("metric_key"),
            max_results=b.int_or("max_results", 320),
            start_step=b.integer("start_step"), end_step=b.integer("end_step"),
        )
        return {"metrics": [J.metric(m) for m in pts]}

    history_routes = [route(p + "/metrics/get-history", history_handler, ["GET"], P.READ,
                            s.auth) for p in MLFLOW_PREFIXES]
    for r in history_routes:
        r.entity = _RUN  # checked in history() (it runs where the store call runs)
    return [
        *history_routes,
        *api(s, "/metrics/get-history-bulk-interval", "GET", P.READ, bulk_interval,
             entity=(Addresses(RUN, "run_ids"),)),
    ]
