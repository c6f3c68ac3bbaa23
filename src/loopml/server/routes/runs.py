"""MLflow runs API: create/get/update/delete, logging, search, inputs/outputs."""

from __future__ import annotations

import time
from typing import Any

from loopml.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
)
from loopml.errors import invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.security.entity_scope import EXPERIMENT, RUN, Addresses
from loopml.server import _mlflow_json as J
from loopml.server._api import api
from loopml.server._http import INT64_MAX, INT64_MIN, Body
from loopml.server.routes.experiments import view_type
from loopml.server.services import Services
from loopml.store._sql_write import MAX_METRICS, MAX_PARAMS, MAX_TAGS

# The body objects a well-formed log-batch can hold: the request itself plus its items.
LOG_BATCH_MAX_OBJECTS = 1 + MAX_METRICS + MAX_PARAMS + MAX_TAGS


def run_id(b: Body) -> str:
    rid = b.text("run_id") or b.text("run_uuid")
    if not rid:
        raise invalid_param("run_id", b.where, "a run id string", None)
    return rid


def metric_from(b: Body) -> Metric:
    value = b.number("value", required=True)
    assert value is not None
    ts = b.integer("timestamp")
    return Metric(
        b.req_text("key"), value, ts if ts is not None else int(time.time() * 1000),
        b.int_or("step", 0),
    )


def _model_metrics(b: Body, metrics: list[Metric]) -> dict[tuple[str, str | None, str | None], list[Metric]]:
    """log-batch metrics that carry a ``model_id`` (MLflow 3), grouped by (model, dataset)."""
    out: dict[tuple[str, str | None, str | None], list[Metric]] = {}
    for d, m in zip(b.data.get("metrics") or [], metrics, strict=False):
        model_id = d.get("model_id") if isinstance(d, dict) else None
        if model_id:
            if not isinstance(model_id, str):
                raise invalid_param("model_id", b.where, "a string", model_id)
            key = (model_id, d.get("dataset_name") or None, d.get("dataset_digest") or None)
            out.setdefault(key, []).append(m)
    return out


def metrics_from(b: Body) -> list[Metric]:
    """Parse a log-batch metric list in one tight loop (the hot path for 1,000 points); any
    item that is not plainly well-formed goes through ``metric_from`` for a precise error."""
    raw = b.data.get("metrics")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_param("metrics", b.where, "a list", raw)
    now = int(time.time() * 1000)
    lo, hi = INT64_MIN, INT64_MAX
    out = []
    for i, d in enumerate(raw):
        try:
            key, value = d["key"], d["value"]
            ts, step = d.get("timestamp", now), d.get("step", 0)
            if (type(key) is str and type(value) in (float, int) and type(ts) is int
                    and type(step) is int and lo <= ts <= hi and lo <= step <= hi):
                out.append(Metric(key, float(value), ts, step))
                continue
        except (TypeError, KeyError):
            pass
        if not isinstance(d, dict):
            raise invalid_param(f"metrics[{i}]", b.where, "an object", d)
        out.append(metric_from(Body(d, f"{b.where} (metrics[{i}])")))
    return out


# What the routes address (security/entity_scope.py): checked in the entity's workspace.
_RUN = (Addresses(RUN, "run_id", "run_uuid"),)
_EXP = (Addresses(EXPERIMENT, "experiment_id", default="0"),)  # as create() does
_EXPS = (Addresses(EXPERIMENT, "experiment_ids"),)


def routes(s: Services) -> list[PermissionedRoute]:
    st = s.store

    def create(b: Body) -> dict[str, Any]:
        run = st.create_run(
            b.text("experiment_id") or "0",
            user_id=b.text("user_id") or "",
            start_time=b.integer("start_time"),
            tags=[RunTag(k, v) for k, v in b.key_values("tags")],
            run_name=b.text("run_name") or None,
        )
        return {"run": J.run(run)}

    def get(b: Body) -> dict[str, Any]:
        return {"run": J.run(st.get_run(run_id(b)))}

    def update(b: Body) -> dict[str, Any]:
        info = st.update_run_info(
            run_id(b), status=b.text("status"), end_time=b.integer("end_time"),
            run_name=b.text("run_name") or None,
        )
        return {"run_info": J.run_info(info)}

    def delete(b: Body) -> dict[str, Any]:
        st.delete_run(run_id(b))
        return {}

    def restore(b: Body) -> dict[str, Any]:
        st.restore_run(run_id(b))
        return {}

    def log_metric(b: Body) -> dict[str, Any]:
        rid, m = run_id(b), metric_from(b)
        st.log_metric(rid, m)
        if b.text("model_id"):  # MLflow 3: the metric is the logged model's too
            st.log_logged_model_metrics(b.req_text("model_id"), rid, [m], b.text("dataset_name"),
                                        b.text("dataset_digest"))
        return {}

    def log_param(b: Body) -> dict[str, Any]:
        st.log_param(run_id(b), Param(b.req_text("key"), b.text("value") or ""))
        return {}

    def set_tag(b: Body) -> dict[str, Any]:
        st.set_tag(run_id(b), RunTag(b.req_text("key"), b.text("value") or ""))
        return {}

    def delete_tag(b: Body) -> dict[str, Any]:
        st.delete_tag(run_id(b), b.req_text("key"))
        return {}

    def log_batch(b: Body) -> dict[str, Any]:
        # MLflow's limits, checked on the parsed lists before any entity is built.
        for name, most in (("metrics", MAX_METRICS), ("params", MAX_PARAMS), ("tags", MAX_TAGS)):
            items = b.data.get(name)
            if isinstance(items, list) and len(items) > most:
                raise invalid_param(name, b.where, f"at most {most} items", len(items))
        rid, metrics = run_id(b), metrics_from(b)
        st.log_batch(
            rid,
            metrics=metrics,
            params=[Param(k, v) for k, v in b.key_values("params")],
            tags=[RunTag(k, v) for k, v in b.key_values("tags")],
        )
        for (model_id, ds_name, ds_digest), ms in _model_metrics(b, metrics).items():
            st.log_logged_model_metrics(model_id, rid, ms, ds_name, ds_digest)
        return {}

    def log_inputs(b: Body) -> dict[str, Any]:
        datasets = []
        for d in b.objects("datasets"):
            raw = d.data.get("dataset")
            if not isinstance(raw, dict):
                raise invalid_param("dataset", d.where, "an object", raw)
            ds = Body(raw, d.where + " dataset")
            datasets.append(
                DatasetInput(
                    Dataset(ds.req_text("name"), ds.req_text("digest"), ds.req_text("source_type"),
                            ds.req_text("source"), ds.text("schema"), ds.text("profile")),
                    tuple(InputTag(k, v) for k, v in d.key_values("tags")),
                )
            )
        models = [m.req_text("model_id") for m in b.objects("models")]
        st.log_inputs(run_id(b), datasets, models)
        return {}

    def log_outputs(b: Body) -> dict[str, Any]:
        models = [
            LoggedModelOutput(m.req_text("model_id"), m.int_or("step", 0))
            for m in b.objects("models")
        ]
        st.log_outputs(run_id(b), models)
        return {}

    def log_model(b: Body) -> dict[str, Any]:
        # MLflow 2's LogModel only recorded a history tag; MLflow 3 uses logged models.
        run_id(b)
        return {}

    def search(b: Body) -> dict[str, Any]:
        page = st.search_runs(
            b.str_list("experiment_ids"),
            filter_string=b.text("filter"),
            run_view_type=view_type(b, "run_view_type"),
            max_results=b.int_or("max_results", 1000),
            order_by=b.str_list("order_by"),
            page_token=b.text("page_token"),
        )
        return J.page("runs", [J.run(r) for r in page], page.next_page_token)

    return [  # the per-step logging routes first (see app.ROUTE_MODULES)
        *api(s, "/runs/log-metric", "POST", P.WRITE, log_metric, entity=_RUN),
        *api(s, "/runs/log-batch", "POST", P.WRITE, log_batch,
             max_objects=LOG_BATCH_MAX_OBJECTS, entity=_RUN),
        *api(s, "/runs/create", "POST", P.WRITE, create, entity=_EXP),
        *api(s, "/runs/get", "GET", P.READ, get, entity=_RUN),
        *api(s, "/runs/update", "POST", P.WRITE, update, entity=_RUN),
        *api(s, "/runs/delete", "POST", P.WRITE, delete, entity=_RUN),
        *api(s, "/runs/restore", "POST", P.WRITE, restore, entity=_RUN),
        *api(s, "/runs/log-parameter", "POST", P.WRITE, log_param, entity=_RUN),
        *api(s, "/runs/set-tag", "POST", P.WRITE, set_tag, entity=_RUN),
        *api(s, "/runs/delete-tag", "POST", P.WRITE, delete_tag, entity=_RUN),
        *api(s, "/runs/log-inputs", "POST", P.WRITE, log_inputs, entity=_RUN),
        *api(s, "/runs/outputs", "POST", P.WRITE, log_outputs, entity=_RUN),
        *api(s, "/runs/log-model", "POST", P.WRITE, log_model, entity=_RUN),
        *api(s, "/runs/search", "POST", P.READ, search, entity=_EXPS),
    ]
