"""``/api/loopml/v1/datasets``: the dataset registry (names, versions, tags, aliases,
lineage). Reads need READ, changes WRITE. No route reads a data source: a request never
makes the server open a URI (registering reads the data in the client)."""

from __future__ import annotations

from typing import Any

from loopml.errors import invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.security.entity_scope import DATASET, Addresses
from loopml.server._api import api
from loopml.server._http import Body, entity
from loopml.server.services import Services
from loopml.store.datasets_base import DatasetVersion

_PREFIX = ("/api/loopml/v1",)


_DATASET = (Addresses(DATASET, "name"),)  # checked in its own workspace


def routes(s: Services) -> list[PermissionedRoute]:
    from loopml.store import get_dataset_store

    store = get_dataset_store(s.store)

    def list_(b: Body) -> dict[str, Any]:
        rows = store.list_datasets(b.text("name_like"), b.int_or("limit", 100))
        return {"datasets": [d.to_dict() for d in rows]}

    def create(b: Body) -> dict[str, Any]:
        raw = b.data.get("version")
        if not isinstance(raw, dict):
            raise invalid_param("version", b.where, "an object", raw)
        raw = dict(raw)
        aliases = raw.pop("aliases", None) or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise invalid_param("version.aliases", b.where, "a list of strings", aliases)
        raw.setdefault("version", 0)
        v, created = store.create_version(entity(DatasetVersion, raw, b.where))
        for a in aliases:
            store.set_alias(v.name, a, v.version)
        if aliases:
            v = store.get_version(v.name, v.version)
        return {"version": v.to_dict(), "created": created}

    def versions(b: Body) -> dict[str, Any]:
        return {"versions": [v.to_dict() for v in store.list_versions(b.req_text("name"))]}

    def get(b: Body) -> dict[str, Any]:
        return {"version": store.get_version(b.req_text("name"), b.req_text("ref")).to_dict()}

    def set_tag(b: Body) -> dict[str, Any]:
        store.set_tag(b.req_text("name"), b.req_text("key"), b.text("value") or "",
                      b.int_or("version", 0))
        return {}

    def set_alias(b: Body) -> dict[str, Any]:
        store.set_alias(b.req_text("name"), b.req_text("alias"), b.int_or("version", 0))
        return {}

    def delete_alias(b: Body) -> dict[str, Any]:
        store.delete_alias(b.req_text("name"), b.req_text("alias"))
        return {}

    def add_lineage(b: Body) -> dict[str, Any]:
        store.add_lineage(b.req_text("name"), b.int_or("version", 0), b.req_text("kind"),
                          b.req_text("ref"), b.text("role") or "input")
        return {}

    def lineage(b: Body) -> dict[str, Any]:
        links = store.lineage(b.req_text("name"), b.int_or("version", 0))
        return {"links": [x.to_dict() for x in links]}

    return [
        *api(s, "/datasets", "GET", P.READ, list_, _PREFIX),
        *api(s, "/datasets/create-version", "POST", P.WRITE, create, _PREFIX, entity=_DATASET),
        *api(s, "/datasets/{name}/versions", "GET", P.READ, versions, _PREFIX, entity=_DATASET),
        *api(s, "/datasets/{name}/versions/{version:int}/lineage", "GET", P.READ, lineage,
             _PREFIX, entity=_DATASET),
        *api(s, "/datasets/{name}/versions/{version:int}/lineage", "POST", P.WRITE,
             add_lineage, _PREFIX, entity=_DATASET),
        *api(s, "/datasets/{name}/versions/{ref}", "GET", P.READ, get, _PREFIX, entity=_DATASET),
        *api(s, "/datasets/{name}/tags", "POST", P.WRITE, set_tag, _PREFIX, entity=_DATASET),
        *api(s, "/datasets/{name}/aliases", "POST", P.WRITE, set_alias, _PREFIX, entity=_DATASET),
        *api(s, "/datasets/{name}/aliases/{alias}", "DELETE", P.WRITE, delete_alias, _PREFIX, entity=_DATASET),
    ]


__all__ = [
    "routes",
]
