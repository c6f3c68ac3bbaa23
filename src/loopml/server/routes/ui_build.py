"""The dashboard's no-code form: ``GET /ui/build`` (upload a CSV/Parquet file, choose the
target column, task, target profile, latency and time budgets), ``POST /ui/build`` (checks
the data at once, errors back in the form with a 400; else the build starts on a
background thread and the browser goes to its progress page) and ``GET
/ui/build/{build_id}`` (stage, trials done, best score so far, time left; a meta refresh
every 2 s until it ends on the endpoint with a curl example, or on the error).

Pages need READ; starting a build needs DEPLOY (it registers and deploys) and the form's
CSRF token. When a build finishes, its drift monitor joins the monitors this server lists.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from loopml.errors import LoopmlError
from loopml.security import Permission as P
from loopml.security import PermissionedRoute, route
from loopml.server.routes.ui import _denied
from loopml.server.services import Services
from loopml.ui._render import check_csrf, render

__all__ = ["routes"]


def _root() -> Path:
    from loopml.config import loopml_home

    return loopml_home() / "automl" / "builds"


def _client(s: Services) -> Any:
    from loopml.tracking._client import TrackingClient

    return TrackingClient(store=s.store, proxy_root=s.blobs.root_uri)


def _add_monitor(s: Services) -> Callable[[Any], None]:
    def done(res: Any) -> None:
        if not res.monitors_file:
            return
        from loopml.monitoring.spec import load_specs

        have = {m.name for m in s.monitor_specs}
        s.monitor_specs.extend(m for m in load_specs(res.monitors_file) if m.name not in have)
    return done


def routes(s: Services) -> list[PermissionedRoute]:
    from loopml.automl.checks import TASKS

    def form_page(request: Request, code: int = 200, error: str = "",
                  values: dict[str, str] | None = None) -> Response:
        return render(request, "build.html", code, error=error, tasks=TASKS,
                      values=values or {"task": "auto", "target": "probe", "budget_s": "60"})

    async def form(request: Request) -> Response:
        if request.method == "GET":
            return form_page(request)
        from loopml.automl import jobs

        data = await request.form()
        values = {k: str(v) for k, v in data.items() if not isinstance(v, UploadFile)}
        try:
            check_csrf(request, data)
            upload = data.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return form_page(request, 400, "Choose a CSV or Parquet file to upload.", values)
            req = jobs.BuildRequest.from_form(values, upload.filename)
            content = await upload.read()
            build_id = await run_in_threadpool(jobs.start, _root(), req, content, _client(s),
                                               _add_monitor(s))
        except LoopmlError as e:
            return form_page(request, e.http_status, e.message, values)
        return RedirectResponse(f"/ui/build/{build_id}", 303)

    async def progress(request: Request) -> Response:
        from loopml.automl import jobs

        try:
            d = await run_in_threadpool(jobs.read_progress, _root(),
                                        request.path_params["build_id"])
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        done = d.get("stage") in ("done", "failed", "no feasible model")
        return render(request, "build_progress.html", p=d, done=done,
                      build_id=request.path_params["build_id"], result=d.get("result") or {})

    def ui(path: str, handler: Callable[[Request], Any], perm: P,
           methods: list[str]) -> PermissionedRoute:
        return route(path, handler, methods, perm, s.auth, cookie_auth=True, on_denied=_denied)

    return [ui("/ui/build", form, P.READ, ["GET"]),
            ui("/ui/build", form, P.DEPLOY, ["POST"]),
            ui("/ui/build/{build_id}", progress, P.READ, ["GET"])]
