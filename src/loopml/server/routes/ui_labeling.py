"""The dashboard's labeling page: ``/ui/labeling`` lists the deployments with a known
inference log; ``/ui/labeling/{deployment}`` shows one item at a time with the model's
pre-label, one button per class, Skip and Undo.

No JavaScript: keyboard shortcuts are HTML ``accesskey`` attributes (Alt+key in Chromium
and Firefox on Linux/Windows, Ctrl+Alt+key on macOS): 1-9, 0, then letters for the classes,
``c`` confirms the pre-label, ``s`` skips, ``u`` undoes. Each is a plain form POST (CSRF
token, WRITE) answered with a redirect to the next item. The page needs READ. Images are
served from ``Services.label_image_roots`` only, and only when the bytes are a PNG, JPEG,
GIF or WebP image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopml.errors import InvalidParameterValue, LoopmlError, ResourceDoesNotExist
from loopml.labeling.queue import coerce_label
from loopml.security import Permission as P
from loopml.security import PermissionedRoute, principal_of, route
from loopml.server._http import Body
from loopml.server.routes.labeling import labeling_service, queue_view
from loopml.server.routes.ui import _denied
from loopml.server.services import Services
from loopml.ui._render import HEADERS, check_csrf, render

__all__ = ["access_keys", "routes"]

_RESERVED = set("csu")  # confirm, skip, undo
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))
MAX_IMAGE_BYTES = 20 * 1024 * 1024


def access_keys(n: int) -> list[str]:
    """Access keys for ``n`` class buttons: 1-9, 0, then a-z without c, s and u."""
    keys = [*"1234567890", *(k for k in "abdefghijklmnopqrtvwxyz" if k not in _RESERVED)]
    return [keys[i] if i < len(keys) else "" for i in range(n)]


def _image_type(head: bytes) -> str | None:
    for magic, ctype in _MAGIC:
        if head.startswith(magic):
            return ctype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _confined(s: Services, ref: str) -> Path | None:
    """The image file ``ref`` names, if it lies under one of the image roots."""
    path = ref[7:] if ref.startswith("file://") else ref
    if "://" in path or "\x00" in path:
        return None
    p = Path(path).resolve()
    for root in s.label_image_roots:
        r = Path(root).resolve()
        if p.is_relative_to(r) and p.is_file():
            return p
    return None


def _page(s: Services, request: Request, deployment: str) -> dict[str, Any]:
    q = dict(request.query_params)
    strategy = q.get("strategy") or "entropy"
    body = Body({"deployment": deployment, "strategy": strategy, "limit": 1,
                 "seed": q.get("seed", "0")}, request.url.path)
    view = queue_view(s, body, remaining=True)
    svc = labeling_service(s)
    stats = svc.stats(deployment)
    item = view["items"][0] if view["items"] else None
    classes = view["classes"]
    if item is not None and item["prelabel"] is not None and \
            str(item["prelabel"]) not in {str(c) for c in classes}:
        classes = [*classes, item["prelabel"]]
    remaining = int(view["remaining"])
    image = None
    if item and item.get("image") and _confined(s, item["image"]):
        image = f"/ui/labeling/image?{urlencode({'path': item['image']})}"
    return {"deployment": deployment, "strategy": strategy, "item": item,
            "classes": list(zip(classes, access_keys(len(classes)), strict=True)),
            "classes_json": orjson.dumps(classes).decode(),
            "prelabel_json": "" if not item or item["prelabel"] is None
            else orjson.dumps(item["prelabel"]).decode(),
            "stats": stats.to_dict(), "done": stats.labeled + stats.skipped,
            "total": stats.labeled + stats.skipped + remaining, "image": image,
            "strategies": ["entropy", "margin", "least_confidence", "disagreement", "drift",
                           "random"]}


def _json_field(form: Any, name: str, most: int = 10_000) -> Any:
    raw = str(form.get(name, "") or "")
    if not raw:
        return None
    if len(raw) > most:
        raise InvalidParameterValue(f"The form field {name!r} is too long.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidParameterValue(f"The form field {name!r} is not JSON: reload the page.") \
            from None


def _act(s: Services, request: Request, deployment: str, action: str,
         form: Any) -> None:
    svc, who = labeling_service(s), principal_of(request).subject or "anonymous"
    if action == "undo":
        svc.undo(deployment, who)
        return
    rid = str(form.get("request_id", ""))
    if action == "skip":
        svc.skip(deployment, rid, who, "dashboard")
        return
    classes = _json_field(form, "classes")
    classes = classes if isinstance(classes, list) else []
    pre = _json_field(form, "prelabel")
    label = coerce_label(str(form.get("label", "")), [*classes, *([] if pre is None else [pre])])
    if label == "":
        raise InvalidParameterValue("Pick a class: no label was sent.")
    svc.label(deployment, rid, label, pre, who, "dashboard", str(form.get("strategy", ""))[:32])


def routes(s: Services) -> list[PermissionedRoute]:
    def ui(path: str, handler: Any, perm: P = P.READ,
           methods: tuple[str, ...] = ("GET",)) -> PermissionedRoute:
        return route(path, handler, list(methods), perm, s.auth, cookie_auth=True,
                     on_denied=_denied)

    async def index(request: Request) -> Response:
        names = sorted({str(x.deployment) for x in [*s.monitor_specs, *s.policies]
                        if getattr(x, "deployment", None)})
        return render(request, "labeling_index.html", deployments=names)

    async def page(request: Request) -> Response:
        dep = request.path_params["deployment"]
        try:
            ctx = await run_in_threadpool(_page, s, request, dep)
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        return render(request, "labeling.html", **ctx)

    def action(name: str) -> Any:
        async def handler(request: Request) -> Response:
            dep = request.path_params["deployment"]
            form = await request.form()
            try:
                check_csrf(request, form)
                await run_in_threadpool(_act, s, request, dep, name, form)
            except LoopmlError as e:
                return render(request, "error.html", e.http_status, status=e.http_status,
                              message=e.message)
            strategy = str(form.get("strategy", "") or "entropy")
            return RedirectResponse(
                f"/ui/labeling/{quote(dep, safe='')}?{urlencode({'strategy': strategy})}", 303)
        return handler

    async def image(request: Request) -> Response:
        ref = request.query_params.get("path", "")
        try:
            p = _confined(s, ref)
            if p is None:
                raise ResourceDoesNotExist(
                    f"No image {ref!r} under the server's label image roots.")
            data = await run_in_threadpool(p.read_bytes)
            ctype = _image_type(data[:16])
            if ctype is None or len(data) > MAX_IMAGE_BYTES:
                raise InvalidParameterValue(f"{ref!r} is not a PNG, JPEG, GIF or WebP image.")
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        return Response(data, media_type=ctype, headers=HEADERS)

    return [
        ui("/ui/labeling", index),
        ui("/ui/labeling/image", image),
        ui("/ui/labeling/{deployment}", page),
        ui("/ui/labeling/{deployment}/label", action("label"), P.WRITE, ("POST",)),
        ui("/ui/labeling/{deployment}/skip", action("skip"), P.WRITE, ("POST",)),
        ui("/ui/labeling/{deployment}/undo", action("undo"), P.WRITE, ("POST",)),
    ]
