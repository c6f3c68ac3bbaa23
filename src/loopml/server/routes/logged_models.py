"""MLflow 3 logged models API (``log_model`` creates, uploads, then finalizes one)."""

from __future__ import annotations

from typing import Any

from loopml.errors import invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.security.entity_scope import EXPERIMENT, LOGGED_MODEL, Addresses
from loopml.server import _mlflow_json as J
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services

_MODEL = (Addresses(LOGGED_MODEL, "model_id"),)  # checked in its experiment's workspace


def routes(s: Services) -> list[PermissionedRoute]:
    st = s.store

    def create(b: Body) -> dict[str, Any]:
        m = st.create_logged_model(
            b.req_text("experiment_id"), name=b.text("name"), source_run_id=b.text("source_run_id"),
            tags=dict(b.key_values("tags")), params=dict(b.key_values("params")),
            model_type=b.text("model_type"),
        )
        return {"model": J.logged_model(m)}

    def get(b: Body) -> dict[str, Any]:
        return {"model": J.logged_model(st.get_logged_model(b.req_text("model_id")))}

    def finalize(b: Body) -> dict[str, Any]:
        m = st.finalize_logged_model(b.req_text("model_id"), b.req_text("status"))
        return {"model": J.logged_model(m)}

    def delete(b: Body) -> dict[str, Any]:
        st.delete_logged_model(b.req_text("model_id"))
        return {}

    def set_tags(b: Body) -> dict[str, Any]:
        mid = b.req_text("model_id")
        st.set_logged_model_tags(mid, dict(b.key_values("tags")))
        return {"model": J.logged_model(st.get_logged_model(mid))}

    def delete_tag(b: Body) -> dict[str, Any]:
        st.delete_logged_model_tag(b.req_text("model_id"), b.req_text("tag_key"))
        return {}

    def log_params(b: Body) -> dict[str, Any]:
        st.log_logged_model_params(b.req_text("model_id"), dict(b.key_values("params")))
        return {}

    def search(b: Body) -> dict[str, Any]:
        order = []
        for o in b.objects("order_by"):
            field = o.req_text("field_name")
            order.append({"field_name": field, "ascending": o.flag("ascending", True)})
        max_results = b.int_or("max_results", 100)
        if max_results < 1:
            raise invalid_param("max_results", b.where, "a positive int", max_results)
        page = st.search_logged_models(
            b.str_list("experiment_ids"), filter_string=b.text("filter"),
            max_results=max_results, order_by=order, page_token=b.text("page_token"),
        )
        return J.page("models", [J.logged_model(m) for m in page], page.next_page_token)

    return [
        *api(s, "/logged-models", "POST", P.WRITE, create,
             entity=(Addresses(EXPERIMENT, "experiment_id"),)),
        *api(s, "/logged-models/search", "POST", P.READ, search,
             entity=(Addresses(EXPERIMENT, "experiment_ids"),)),
        *api(s, "/logged-models/{model_id}", "GET", P.READ, get, entity=_MODEL),
        *api(s, "/logged-models/{model_id}", "PATCH", P.WRITE, finalize, entity=_MODEL),
        *api(s, "/logged-models/{model_id}", "DELETE", P.WRITE, delete, entity=_MODEL),
        *api(s, "/logged-models/{model_id}/tags", "PATCH", P.WRITE, set_tags, entity=_MODEL),
        *api(s, "/logged-models/{model_id}/tags/{tag_key}", "DELETE", P.WRITE, delete_tag, entity=_MODEL),
        *api(s, "/logged-models/{model_id}/params", "POST", P.WRITE, log_params, entity=_MODEL),
    ]
