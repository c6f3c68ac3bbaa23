"""``/api/loopml/v1/targets``: target profiles (docs/targets.md). A profile that cannot
exist (0 cores, a negative budget, an unknown key) is a 400 naming the key path."""

from __future__ import annotations

from typing import Any

from loopml.errors import invalid_param
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services

_PREFIX = ("/api/loopml/v1",)


def routes(s: Services) -> list[PermissionedRoute]:
    def store() -> Any:
        from loopml.targets.store import ProfileStore
        from loopml.tracking._client import TrackingClient

        return ProfileStore(TrackingClient(store=s.store))

    def create(b: Body) -> dict[str, Any]:
        from loopml.targets.profile import profile_from_dict

        raw = b.data.get("profile")
        if not isinstance(raw, dict):
            raise invalid_param("profile", b.where, "an object (a TargetProfile)", raw)
        profile = profile_from_dict(raw, "profile")
        return {"name": profile.name, "version": store().create(profile)}

    def list_(b: Body) -> dict[str, Any]:
        return {"targets": store().list()}

    def get(b: Body) -> dict[str, Any]:
        v = b.text("version")
        profile, version = store().get(b.req_text("name"), int(v) if v and v.isdigit() else None)
        return {"version": version, "profile": profile.to_dict()}

    return [
        *api(s, "/targets", "GET", P.READ, list_, _PREFIX),
        *api(s, "/targets/create", "POST", P.WRITE, create, _PREFIX),
        *api(s, "/targets/{name}", "GET", P.READ, get, _PREFIX),
    ]


__all__ = ["routes"]
