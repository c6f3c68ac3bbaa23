"""Ground truth (``POST /api/loopml/v1/feedback``), monitor results as time series, and the
monitors' alert states and read cursors (what lets any process continue a monitor)."""

from __future__ import annotations

from typing import Any

from loopml.errors import invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services
from loopml.store.monitoring_base import AlertState, AlertTransition, WindowResult

_PREFIX = ("/api/loopml/v1",)


def routes(s: Services) -> list[PermissionedRoute]:
    store = s.monitoring

    def feedback(b: Body) -> dict[str, Any]:
        """{request_id, label} or {items: [{request_id, label}, ...]}."""
        raw = b.data.get("items")
        if raw is None:
            raw = [{"request_id": b.data.get("request_id"), "label": b.data.get("label")}]
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            raise invalid_param("items", b.where, "a list of {request_id, label}", raw)
        return {"stored": store.log_feedback([(x.get("request_id"), x.get("label"))
                                              for x in raw])}

    def get_feedback(b: Body) -> dict[str, Any]:
        return {"labels": store.get_feedback(b.str_list("request_ids"))}

    def results(b: Body) -> dict[str, Any]:
        until = b.integer("until")
        rs = store.results(b.req_text("name"), b.int_or("since", 0), until)
        return {"results": [r.to_dict() for r in rs]}

    def put_result(b: Body) -> dict[str, Any]:
        metrics = b.data.get("metrics")
        if not isinstance(metrics, dict):
            raise invalid_param("metrics", b.where, "an object {name: number}", metrics)
        r = WindowResult(b.req_text("name"), b.int_or("window_start", 0),
                         b.int_or("window_end", 0), metrics, b.data.get("details") or {})
        return {"stored": store.put_result(r)}

    def cursor(b: Body) -> dict[str, Any]:
        return {"window_end": store.last_window_end(b.req_text("name"))}

    def alerts(b: Body) -> dict[str, Any]:
        return {"alerts": [{"rule": r, "subject": subj, **st.to_dict()} for (r, subj), st
                           in sorted(store.alert_states(b.req_text("name")).items())]}

    def state_of(b: Body, name: str) -> AlertState:
        raw = b.data.get(name)
        if not isinstance(raw, dict):
            raise invalid_param(name, b.where, "an object {streak, firing, last_window}", raw)
        sb = Body(raw, f"{b.where}.{name}")
        return AlertState(sb.int_or("streak", 0), sb.flag("firing"), sb.integer("last_window"))

    def transition_of(b: Body) -> AlertTransition | None:
        raw = b.data.get("event")
        if raw is None:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("payload"), dict):
            raise invalid_param("event", b.where, "an object {type, subject, payload}", raw)
        eb = Body(raw, f"{b.where}.event")
        return AlertTransition(eb.req_text("type"), eb.req_text("subject"), raw["payload"])

    def put_alert(b: Body) -> dict[str, Any]:
        expected = None if b.data.get("expected") is None else state_of(b, "expected")
        return {"stored": store.put_alert_state(b.req_text("name"), b.req_text("rule"),
                                                b.req_text("subject"), expected,
                                                state_of(b, "state"), transition_of(b))}

    return [
        *api(s, "/monitors/{name}/cursor", "GET", P.READ, cursor, _PREFIX),
        *api(s, "/monitors/{name}/alerts", "GET", P.READ, alerts, _PREFIX),
        *api(s, "/monitors/{name}/alerts", "POST", P.WRITE, put_alert, _PREFIX),
        *api(s, "/feedback", "POST", P.WRITE, feedback, _PREFIX),
        *api(s, "/feedback/get", "POST", P.READ, get_feedback, _PREFIX),
        *api(s, "/monitors/{name}/results", "GET", P.READ, results, _PREFIX),
        *api(s, "/monitors/{name}/results", "POST", P.WRITE, put_result, _PREFIX),
    ]
