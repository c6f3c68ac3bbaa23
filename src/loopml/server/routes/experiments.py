"""MLflow experiments API."""

from __future__ import annotations

from typing import Any

from loopml.artifacts._paths import validate_artifact_location
from loopml.entities import ViewType
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist, invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.security.entity_scope import EXPERIMENT, EXPERIMENT_NAME, Addresses
from loopml.server import _mlflow_json as J
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services


def view_type(b: Body, name: str) -> ViewType:
    raw = b.data.get(name)
    if raw is None:
        return ViewType.ACTIVE_ONLY
    try:
        return ViewType.parse(raw[0] if isinstance(raw, list) else raw)
    except (ValueError, KeyError):
        raise invalid_param(name, b.where, "one of ACTIVE_ONLY, DELETED_ONLY, ALL", raw) from None


# What the routes address (security/entity_scope.py): checked in the entity's workspace.
_EXP = (Addresses(EXPERIMENT, "experiment_id", "experiment_uuid"),)


def routes(s: Services) -> list[PermissionedRoute]:
    st = s.store

    def create(b: Body) -> dict[str, Any]:
        loc = b.text("artifact_location")
        if loc:
            validate_artifact_location(loc)
            root = s.blobs.root_uri.rstrip("/")
            if not (loc.startswith("mlflow-artifacts:") or loc == root or loc.startswith(root + "/")):
                raise InvalidParameterValue(
                    f"artifact_location {loc!r} is outside this server's artifact root. Omit it "
                    f"(the server picks mlflow-artifacts:/<id>) or use a path under {root!r}."
                )
        tags = dict(b.key_values("tags"))
        return {"experiment_id": st.create_experiment(b.req_text("name"), loc or None, tags)}

    def get(b: Body) -> dict[str, Any]:
        eid = b.text("experiment_id") or b.text("experiment_uuid")
        if eid is None:
            raise invalid_param("experiment_id", b.where, "a string", None)
        return {"experiment": J.experiment(st.get_experiment(eid))}

    def get_by_name(b: Body) -> dict[str, Any]:
        name = b.req_text("experiment_name")
        exp = st.get_experiment_by_name(name)
        if exp is None:
            raise ResourceDoesNotExist(f"Could not find experiment with name {name!r}.")
        return {"experiment": J.experiment(exp)}

    def search(b: Body) -> dict[str, Any]:
        page = st.search_experiments(
            view_type=view_type(b, "view_type"),
            max_results=b.int_or("max_results", 1000),
            filter_string=b.text("filter"),
            order_by=b.str_list("order_by"),
            page_token=b.text("page_token"),
        )
        return J.page("experiments", [J.experiment(e) for e in page], page.next_page_token)

    def update(b: Body) -> dict[str, Any]:
        new_name = b.text("new_name")
        if new_name:
            st.rename_experiment(b.req_text("experiment_id"), new_name)
        return {}

    def delete(b: Body) -> dict[str, Any]:
        st.delete_experiment(b.req_text("experiment_id"))
        return {}

    def restore(b: Body) -> dict[str, Any]:
        st.restore_experiment(b.req_text("experiment_id"))
        return {}

    def set_tag(b: Body) -> dict[str, Any]:
        st.set_experiment_tag(b.req_text("experiment_id"), b.req_text("key"), b.text("value") or "")
        return {}

    def delete_tag(b: Body) -> dict[str, Any]:
        st.delete_experiment_tag(b.req_text("experiment_id"), b.req_text("key"))
        return {}

    return [
        *api(s, "/experiments/create", "POST", P.WRITE, create),
        *api(s, "/experiments/get", "GET", P.READ, get, entity=_EXP),
        *api(s, "/experiments/get-by-name", "GET", P.READ, get_by_name,
             entity=(Addresses(EXPERIMENT_NAME, "experiment_name"),)),
        *api(s, "/experiments/search", "POST", P.READ, search),
        *api(s, "/experiments/search", "GET", P.READ, search),
        *api(s, "/experiments/update", "POST", P.WRITE, update, entity=_EXP),
        *api(s, "/experiments/delete", "POST", P.WRITE, delete, entity=_EXP),
        *api(s, "/experiments/restore", "POST", P.WRITE, restore, entity=_EXP),
        *api(s, "/experiments/set-experiment-tag", "POST", P.WRITE, set_tag, entity=_EXP),
        *api(s, "/experiments/delete-experiment-tag", "POST", P.WRITE, delete_tag, entity=_EXP),
    ]
