"""MLflow model registry API 2.0 (registered-models/*, model-versions/*, aliases), plus the
loopml-only trust mark, which needs the approve permission (only an approver may let
``loopml serve`` unpickle a version)."""

from __future__ import annotations

from typing import Any

from loopml.registry.sources import resolve_source
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.security.entity_scope import REGISTERED_MODEL, RUN, Addresses
from loopml.server import _mlflow_json as J
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services

_RM, _MV = "/registered-models", "/model-versions"
# What the routes address (security/entity_scope.py): checked in the entity's workspace.
_MODEL = Addresses(REGISTERED_MODEL, "name")
_SOURCE_RUN = Addresses(RUN, "run_id", need=P.READ)  # a version reads its run


def routes(s: Services) -> list[PermissionedRoute]:
    reg = s.registry

    def name(b: Body) -> str:
        return b.req_text("name")

    def version(b: Body) -> str:
        return b.req_text("version")

    def rm(b: Body) -> dict[str, Any]:
        return {"registered_model": J.registered_model(reg.get_registered_model(name(b)))}

    def create_rm(b: Body) -> dict[str, Any]:
        m = reg.create_registered_model(
            name(b), dict(b.key_values("tags")), b.text("description"))
        return {"registered_model": J.registered_model(m)}

    def rename_rm(b: Body) -> dict[str, Any]:
        m = reg.rename_registered_model(name(b), b.req_text("new_name"))
        return {"registered_model": J.registered_model(m)}

    def update_rm(b: Body) -> dict[str, Any]:
        m = reg.update_registered_model(name(b), b.text("description"))
        return {"registered_model": J.registered_model(m)}

    def delete_rm(b: Body) -> dict[str, Any]:
        reg.delete_registered_model(name(b))
        return {}

    def search_rm(b: Body) -> dict[str, Any]:
        page = reg.search_registered_models(
            b.text("filter"), b.int_or("max_results", 100), b.str_list("order_by"),
            b.text("page_token"))
        return J.page("registered_models", [J.registered_model(m) for m in page],
                      page.next_page_token)

    def latest(b: Body) -> dict[str, Any]:
        versions = reg.get_latest_versions(name(b), b.str_list("stages") or None)
        return {"model_versions": [J.model_version(v) for v in versions]}

    def set_rm_tag(b: Body) -> dict[str, Any]:
        reg.set_registered_model_tag(name(b), b.req_text("key"), b.text("value", default="") or "")
        return {}

    def delete_rm_tag(b: Body) -> dict[str, Any]:
        reg.delete_registered_model_tag(name(b), b.req_text("key"))
        return {}

    def set_alias(b: Body) -> dict[str, Any]:
        reg.set_registered_model_alias(name(b), b.req_text("alias"), version(b))
        return {}

    def delete_alias(b: Body) -> dict[str, Any]:
        reg.delete_registered_model_alias(name(b), b.req_text("alias"))
        return {}

    def get_alias(b: Body) -> dict[str, Any]:
        v = reg.get_model_version_by_alias(name(b), b.req_text("alias"))
        return {"model_version": J.model_version(v)}

    def create_mv(b: Body) -> dict[str, Any]:
        src = resolve_source(
            b.req_text("source"), b.text("run_id") or None, s.store, reg, s.allowed_model_roots)
        v = reg.create_model_version(
            name(b), b.req_text("source"), src.storage_location, src.run_id,
            dict(b.key_values("tags")), b.text("run_link"), b.text("description"),
            b.text("model_id") or src.model_id,
        )
        return {"model_version": J.model_version(v)}

    def get_mv(b: Body) -> dict[str, Any]:
        return {"model_version": J.model_version(reg.get_model_version(name(b), version(b)))}

    def update_mv(b: Body) -> dict[str, Any]:
        v = reg.update_model_version(name(b), version(b), b.text("description"))
        return {"model_version": J.model_version(v)}

    def transition(b: Body) -> dict[str, Any]:
        v = reg.transition_model_version_stage(
            name(b), version(b), b.req_text("stage"), b.flag("archive_existing_versions"))
        return {"model_version": J.model_version(v)}

    def delete_mv(b: Body) -> dict[str, Any]:
        reg.delete_model_version(name(b), version(b))
        return {}

    def search_mv(b: Body) -> dict[str, Any]:
        page = reg.search_model_versions(
            b.text("filter"), b.int_or("max_results", 10000), b.str_list("order_by"),
            b.text("page_token"))
        return J.page("model_versions", [J.model_version(v) for v in page], page.next_page_token)

    def download_uri(b: Body) -> dict[str, Any]:
        return {"artifact_uri": reg.get_model_version_download_uri(name(b), version(b))}

    def set_mv_tag(b: Body) -> dict[str, Any]:
        reg.set_model_version_tag(name(b), version(b), b.req_text("key"),
                                  b.text("value", default="") or "")
        return {}

    def delete_mv_tag(b: Body) -> dict[str, Any]:
        reg.delete_model_version_tag(name(b), version(b), b.req_text("key"))
        return {}

    def trust(b: Body) -> dict[str, Any]:
        reg.set_model_version_trusted(name(b), version(b), b.flag("trusted", True))
        v = reg.get_model_version(name(b), version(b))
        return {"model_version": J.model_version(v), "trusted": v.trusted}

    def get_trust(b: Body) -> dict[str, Any]:
        return {"trusted": reg.get_model_version(name(b), version(b)).trusted}

    table: list[tuple[str, str, P, Any]] = [
        (f"{_RM}/create", "POST", P.WRITE, create_rm),
        (f"{_RM}/rename", "POST", P.WRITE, rename_rm),
        (f"{_RM}/update", "PATCH", P.WRITE, update_rm),
        (f"{_RM}/delete", "DELETE", P.WRITE, delete_rm),
        (f"{_RM}/get", "GET", P.READ, rm),
        (f"{_RM}/search", "GET", P.READ, search_rm),
        (f"{_RM}/get-latest-versions", "POST", P.READ, latest),
        (f"{_RM}/get-latest-versions", "GET", P.READ, latest),
        (f"{_RM}/set-tag", "POST", P.WRITE, set_rm_tag),
        (f"{_RM}/delete-tag", "DELETE", P.WRITE, delete_rm_tag),
        (f"{_RM}/alias", "POST", P.WRITE, set_alias),
        (f"{_RM}/alias", "DELETE", P.WRITE, delete_alias),
        (f"{_RM}/alias", "GET", P.READ, get_alias),
        (f"{_MV}/create", "POST", P.WRITE, create_mv),
        (f"{_MV}/get", "GET", P.READ, get_mv),
        (f"{_MV}/update", "PATCH", P.WRITE, update_mv),
        (f"{_MV}/transition-stage", "POST", P.WRITE, transition),
        (f"{_MV}/delete", "DELETE", P.WRITE, delete_mv),
        (f"{_MV}/search", "GET", P.READ, search_mv),
        (f"{_MV}/get-download-uri", "GET", P.READ, download_uri),
        (f"{_MV}/set-tag", "POST", P.WRITE, set_mv_tag),
        (f"{_MV}/delete-tag", "DELETE", P.WRITE, delete_mv_tag),
    ]
    out: list[PermissionedRoute] = []
    for path, method, perm, fn in table:
        # Every route but create and search names an existing registered model (versions
        # live in their model's workspace); create-version may also name a source run.
        addressed: tuple[Addresses, ...] = () if fn in (create_rm, search_rm, search_mv) \
            else (_MODEL, _SOURCE_RUN) if fn is create_mv else (_MODEL,)
        out += api(s, path, method, perm, fn, entity=addressed)
    loopml = ("/api/loopml/v1",)
    out += api(s, f"{_MV}/trust", "POST", P.APPROVE, trust, prefixes=loopml, entity=(_MODEL,))
    out += api(s, f"{_MV}/trust", "GET", P.READ, get_trust, prefixes=loopml, entity=(_MODEL,))
    return out + lineage_routes(s)


def lineage_routes(s: Services) -> list[PermissionedRoute]:
    from loopml.registry.lineage import lineage

    def get(b: Body) -> dict[str, Any]:
        g = lineage(s.store, s.registry, model_uri=b.text("uri"), run_id=b.text("run_id"),
                    deployments=s.deployments)
        return g.to_dict()

    return api(s, "/lineage", "GET", P.READ, get, prefixes=("/api/loopml/v1",),
               entity=(_SOURCE_RUN,))
