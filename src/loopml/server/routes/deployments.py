"""``/api/loopml/v1/deployments``: traffic specs that ``loopml serve --deployment`` applies
live (weights, shadow models, sticky routing). Changing one needs the deploy permission."""

from __future__ import annotations

from typing import Any

from loopml.entities import TrafficRoute
from loopml.errors import invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.security.entity_scope import DEPLOYMENT, MODEL_URI, Addresses
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services

_PREFIX = ("/api/loopml/v1",)


def _routes(b: Body) -> list[TrafficRoute] | None:
    raw = b.data.get("routes")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise invalid_param("routes", b.where, "a list of {model_uri, weight}", raw)
    out = []
    for r in raw:
        if not isinstance(r, dict) or not isinstance(r.get("model_uri"), str):
            raise invalid_param("routes", b.where, "objects with model_uri and weight", r)
        w = r.get("weight", 100)
        if isinstance(w, bool) or not isinstance(w, int | float):
            raise invalid_param("routes[].weight", b.where, "a number", w)
        out.append(TrafficRoute(r["model_uri"], float(w)))
    return out


def _env(b: Body) -> dict[str, str] | None:
    raw = b.data.get("env")
    if raw is not None and not isinstance(raw, dict):
        raise invalid_param("env", b.where, "an object {NAME: value}", raw)
    return raw


def _replicas(b: Body, default: int | None = None) -> int | None:
    raw = b.data.get("replicas", default)
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise invalid_param("replicas", b.where, "an integer from 1 to 1000", raw)
    return raw


_DEP = (Addresses(DEPLOYMENT, "name"),)  # checked in its own workspace
# The models a deployment routes to (models:/NAME/..., runs:/ID/...) must be readable where
# they live, or a deployment would serve another workspace's model.
_MODELS = (Addresses(MODEL_URI, "routes[].model_uri", need=P.READ),
           Addresses(MODEL_URI, "shadow", need=P.READ))


def routes(s: Services) -> list[PermissionedRoute]:
    store = s.deployments

    def create(b: Body) -> dict[str, Any]:
        d = store.create_deployment(b.req_text("name"), _routes(b) or [],
                                    b.str_list("shadow"), b.text("sticky_header"),
                                    _replicas(b, 1) or 0, _env(b))  # 0: refused
        return {"deployment": d.to_dict()}

    def update(b: Body) -> dict[str, Any]:
        shadow = b.str_list("shadow") if "shadow" in b.data else None
        d = store.update_deployment(b.req_text("name"), _routes(b), shadow,
                                    b.text("sticky_header"), _replicas(b), _env(b))
        return {"deployment": d.to_dict()}

    def get(b: Body) -> dict[str, Any]:
        return {"deployment": store.get_deployment(b.req_text("name")).to_dict()}

    def list_(b: Body) -> dict[str, Any]:
        return {"deployments": [d.to_dict() for d in store.list_deployments()]}

    def delete(b: Body) -> dict[str, Any]:
        store.delete_deployment(b.req_text("name"))
        return {}

    return [
        *api(s, "/deployments", "POST", P.DEPLOY, create, _PREFIX, entity=_MODELS),
        *api(s, "/deployments", "GET", P.READ, list_, _PREFIX),
        *api(s, "/deployments/{name}", "GET", P.READ, get, _PREFIX,
             entity=_DEP),
        *api(s, "/deployments/{name}", "PATCH", P.DEPLOY, update, _PREFIX,
             entity=(*_DEP, *_MODELS)),
        *api(s, "/deployments/{name}", "DELETE", P.DEPLOY, delete, _PREFIX,
             entity=_DEP),
    ]
