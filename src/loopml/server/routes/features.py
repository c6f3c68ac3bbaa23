"""``/api/loopml/v1/features``: feature views and online feature reads/writes over the
server's feature service (``loopml server --features FILE --online-store URI``). Reads need
READ, writes WRITE. Without a feature service every route answers 404 with what to do."""

from __future__ import annotations

from typing import Any

from loopml.errors import ResourceDoesNotExist
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services

_PREFIX = ("/api/loopml/v1",)


def routes(s: Services) -> list[PermissionedRoute]:
    from loopml.features.service import OnlineRequest, WriteRequest, parse

    def service() -> Any:
        if s.features is None:
            raise ResourceDoesNotExist("This server has no feature store; start it with "
                                       "--features FILE (and --online-store URI).")
        return s.features

    def views(b: Body) -> dict[str, Any]:
        return {"views": service().describe()}

    def online(b: Body) -> dict[str, Any]:
        req = parse(OnlineRequest, b.data, b.where)
        return {"features": service().online(req)}

    def write(b: Body) -> dict[str, Any]:
        svc = service()
        view = b.req_text("view")
        data = {k: v for k, v in b.data.items() if k != "view"}
        svc.store.view(view)  # 400 for an unknown view before the body is judged
        return {"written": svc.write(view, parse(WriteRequest, data, b.where))}

    return [
        *api(s, "/features/views", "GET", P.READ, views, _PREFIX),
        *api(s, "/features/online", "POST", P.READ, online, _PREFIX),
        *api(s, "/features/views/{view}/rows", "POST", P.WRITE, write, _PREFIX),
    ]


__all__ = ["routes"]
