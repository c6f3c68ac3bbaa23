"""The dashboard: server-rendered pages under ``/ui`` (``/`` redirects there).

Pages need READ; actions need a CSRF token plus DEPLOY (re-run a pipeline) or APPROVE
(approve a loop).
When auth is on, browsers sign in with a token or a local user's password (a cookie,
accepted only on these routes, whose forms all carry the CSRF token) or with basic auth.
``POST /ui/workspace`` (the header's switcher) sets the ``loopml_workspace`` cookie that
dashboard routes act in when no ``X-MLFLOW-WORKSPACE`` header is sent. Sign-in attempts are limited per
client with exponential backoff (``_login.py``); the cookie expires after
``Services.session_max_age_s`` and is Secure over TLS; ``POST /ui/logout`` clears it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

import loopml.ui._identity  # noqa: F401 - registers the header's `nav` template global
from loopml.errors import InvalidParameterValue, LoopmlError, Unauthenticated
from loopml.security import IdentityKind, PermissionedRoute, principal_of, route
from loopml.security import Permission as P
from loopml.security.audit import record_decision
from loopml.security.entity_scope import (
    DATASET,
    EXPERIMENT,
    LOGGED_MODEL,
    LOOP,
    PIPELINE_RUN,
    REGISTERED_MODEL,
    RUN,
    Addresses,
)
from loopml.server._api import check_entities
from loopml.server._http import Body, content_disposition
from loopml.server._login import (
    LoginLimiter,
    clear_session,
    client_key,
    password_session,
    set_session,
    set_workspace_cookie,
    switchable,
)
from loopml.server.services import Services
from loopml.ui import views_data as vd
from loopml.ui import views_ops as ops
from loopml.ui import views_tracking as tr
from loopml.ui._mlflow_links import ROOT_HEADERS, ROOT_PAGE
from loopml.ui._render import HEADERS, HERE, check_csrf, render

View = Callable[..., dict[str, Any]]


def _denied(request: Request, e: Exception) -> Response:
    """Not signed in: to the login page. Signed in without the role: a 403 page naming it."""
    if request.method == "GET" and isinstance(e, Unauthenticated):
        return RedirectResponse(f"/ui/login?next={quote(str(request.url.path))}", 303)
    return render(request, "error.html", 403, status=403, message=str(e))


# What dashboard pages address (security/entity_scope.py): checked in the entity's workspace.
_RUN = (Addresses(RUN, "run_id"),)
_PRUN = (Addresses(PIPELINE_RUN, "run_id"),)


def routes(s: Services) -> list[PermissionedRoute]:
    limiter = LoginLimiter()

    def page(template: str, view: View) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            q = dict(request.query_params)
            if "run" in request.query_params:  # the runs table's compare checkboxes
                q["runs"] = ",".join(request.query_params.getlist("run"))
            try:
                ctx = await run_in_threadpool(view, s, q, **request.path_params)
            except LoopmlError as e:
                return render(request, "error.html", e.http_status, status=e.http_status,
                              message=e.message)
            return render(request, template, **ctx)
        return handler

    def ui(path: str, handler: Callable[[Request], Any], perm: P = P.READ,
           methods: tuple[str, ...] = ("GET",),
           entity: tuple[Addresses, ...] = ()) -> PermissionedRoute:
        """A dashboard route; ``entity``: what it addresses by id or name, checked in the
        entity's own workspace before ``handler`` (security/entity_scope.py)."""
        r = route(path, scoped_page(handler, perm, entity) if entity else handler,
                  list(methods), perm, s.auth, cookie_auth=True, on_denied=_denied)
        r.entity = entity
        return r

    def scoped_page(handler: Callable[[Request], Any], perm: P,
                    entity: tuple[Addresses, ...]) -> Callable[[Request], Any]:
        async def checked(request: Request) -> Response:
            data: dict[str, Any] = {**request.query_params, **request.path_params}
            if "run" in request.query_params:  # compare: ?run=A&run=B or ?runs=A,B
                data["run"] = request.query_params.getlist("run")
            if isinstance(data.get("runs"), str):
                data["runs"] = [x for x in data["runs"].split(",") if x]
            body = Body(data, request.url.path)
            body.principal, body.workspace = principal_of(request), request.state.workspace
            try:
                await run_in_threadpool(check_entities, s, entity, body, perm)
            except LoopmlError as e:
                return render(request, "error.html", e.http_status, status=e.http_status,
                              message=e.message)
            result: Response = await handler(request)
            return result
        return checked

    async def root(request: Request) -> Response:
        # Not a redirect: the mlflow client's "View run" links carry their route in the
        # fragment, which only a script on this page can read (ui/_mlflow_links.py).
        return HTMLResponse(ROOT_PAGE, headers=ROOT_HEADERS)

    def lifecycle(kind: str, action: str) -> Callable[[Request], Any]:
        """POST: delete or restore a run or an experiment (editor; CSRF-checked form)."""
        async def handler(request: Request) -> Response:
            form = await request.form()
            ident = request.path_params["run_id" if kind == "run" else "experiment_id"]
            try:
                check_csrf(request, form)
                back = await run_in_threadpool(tr.set_lifecycle, s, kind, ident, action)
            except LoopmlError as e:
                return render(request, "error.html", e.http_status, status=e.http_status,
                              message=e.message)
            return RedirectResponse(back, 303)
        return handler

    async def static(request: Request) -> Response:
        return FileResponse(HERE / "static" / "app.css", media_type="text/css",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def login(request: Request) -> Response:
        nxt = request.query_params.get("next", "/ui/experiments")
        if request.method == "GET":
            return render(request, "login.html", next=nxt, failed=False)
        form = await request.form()
        try:
            check_csrf(request, form)
        except LoopmlError as e:
            return render(request, "error.html", 403, status=403, message=e.message)
        token = str(form.get("token", ""))
        username = str(form.get("username", "")).strip()
        nxt = str(form.get("next") or "/ui/experiments")
        if not nxt.startswith("/ui/") or nxt.startswith("//"):
            nxt = "/ui/experiments"  # no open redirect
        who = client_key(request, s.trust_proxy)
        wait = limiter.wait_s(who)
        if wait > 0:  # checked before the token, so a blocked client learns nothing
            resp = render(request, "login.html", 429, next=nxt, failed=False,
                          wait=int(wait) + 1)
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        if username:  # a local user's password: the cookie holds a signed session
            session = await run_in_threadpool(password_session, s, username,
                                              str(form.get("password", "")))
            ok, token = session is not None, session or ""
            record_decision(request, "login.password", "allow" if ok else "deny",
                            actor=username, via="password", target="dashboard")
        else:
            ok = bool(token) and _token_ok(s, token)
            record_decision(request, "login.token", "allow" if ok else "deny", actor=who,
                            via="token", target="dashboard")
        if not ok:
            limiter.failed(who)
            return render(request, "login.html", 401, next=nxt, failed=True)
        limiter.succeeded(who)
        resp = RedirectResponse(nxt, 303)
        set_session(resp, request, token, s.session_max_age_s, s.trust_proxy)
        return resp

    async def logout(request: Request) -> Response:
        form = await request.form()
        try:
            check_csrf(request, form)
        except LoopmlError as e:
            return render(request, "error.html", 403, status=403, message=e.message)
        resp = RedirectResponse("/ui/login", 303)
        clear_session(resp, request, s.trust_proxy)
        return resp

    async def switch(request: Request) -> Response:
        form = await request.form()
        try:
            check_csrf(request, form)
            ws = await run_in_threadpool(switchable, s, request, str(form.get("workspace", "")))
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        nxt = str(form.get("next") or "/ui/experiments")
        if not nxt.startswith("/ui/") or nxt.startswith("//"):
            nxt = "/ui/experiments"  # no open redirect
        resp = RedirectResponse(nxt, 303)
        set_workspace_cookie(resp, request, ws, s.trust_proxy)
        return resp

    async def artifact(request: Request) -> Response:
        try:
            data, _ = await run_in_threadpool(tr.artifact_bytes, s, request.path_params["run_id"],
                                              request.query_params.get("path", ""))
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        name = Path(request.query_params.get("path", "artifact")).name
        # Always a download, never rendered: an uploaded .html or .svg cannot run here.
        return Response(data, media_type="application/octet-stream", headers={
            **HEADERS, "Content-Disposition": content_disposition(name)})

    async def image(request: Request) -> Response:
        path = request.query_params.get("path", "")
        try:
            data, ctype = await run_in_threadpool(tr.artifact_bytes, s,
                                                  request.path_params["run_id"], path)
            if ctype not in tr.IMAGE_TYPES:
                raise InvalidParameterValue(f"{path!r} is not a PNG, JPEG, GIF or WebP image.")
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        return Response(data, media_type=ctype, headers=HEADERS)

    async def rerun(request: Request) -> Response:
        form = await request.form()
        try:
            check_csrf(request, form)
            rid = request.path_params["run_id"]
            await run_in_threadpool(_rerun, s, rid)
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        return RedirectResponse(f"/ui/pipelines/{rid}", 303)

    async def approve(request: Request) -> Response:
        from loopml.automation.controller import approve as do_approve

        form = await request.form()
        try:
            check_csrf(request, form)
            who = principal_of(request)  # the signed-in approver, recorded in the audit
            name = "dashboard" if who.kind is IdentityKind.ANONYMOUS else who.subject
            await run_in_threadpool(do_approve, s.loops, request.path_params["loop_id"], name)
        except LoopmlError as e:
            return render(request, "error.html", e.http_status, status=e.http_status,
                          message=e.message)
        return RedirectResponse("/ui/loop", 303)

    return [
        ui("/", root),
        route("/ui/static/app.css", static, ["GET"], P.PUBLIC, s.auth),
        route("/ui/login", login, ["GET", "POST"], P.PUBLIC, s.auth),
        route("/ui/logout", logout, ["POST"], P.PUBLIC, s.auth),
        # PUBLIC so that a caller without a role in the current workspace can still leave
        # it; ``switchable`` authenticates and checks the target itself.
        route("/ui/workspace", switch, ["POST"], P.PUBLIC, s.auth),
        ui("/ui/experiments", page("experiments.html", tr.experiments)),
        ui("/ui/experiments/{experiment_id}", page("runs.html", tr.runs),
           entity=(Addresses(EXPERIMENT, "experiment_id"),)),
        ui("/ui/runs/{run_id}", page("run.html", tr.run), entity=_RUN),
        ui("/ui/runs/{run_id}/delete", lifecycle("run", "delete"), P.WRITE, ("POST",),
           entity=_RUN),
        ui("/ui/runs/{run_id}/restore", lifecycle("run", "restore"), P.WRITE, ("POST",),
           entity=_RUN),
        ui("/ui/experiments/{experiment_id}/delete", lifecycle("experiment", "delete"), P.WRITE,
           ("POST",), entity=(Addresses(EXPERIMENT, "experiment_id"),)),
        ui("/ui/experiments/{experiment_id}/restore", lifecycle("experiment", "restore"),
           P.WRITE, ("POST",), entity=(Addresses(EXPERIMENT, "experiment_id"),)),
        ui("/ui/logged-models/{model_id}", page("logged_model.html", tr.logged_model),
           entity=(Addresses(LOGGED_MODEL, "model_id"),)),
        ui("/ui/compare", page("compare.html", tr.compare),
           entity=(Addresses(RUN, "run", "runs"),)),
        ui("/ui/artifact/{run_id}", artifact, entity=_RUN),
        ui("/ui/preview/{run_id}", image, entity=_RUN),
        ui("/ui/models", page("models.html", ops.models)),
        ui("/ui/models/{name}", page("model.html", ops.model),
           entity=(Addresses(REGISTERED_MODEL, "name"),)),
        ui("/ui/pipelines", page("pipelines.html", ops.pipelines)),
        ui("/ui/pipelines/{run_id}", page("pipeline_run.html", ops.pipeline_run),
           entity=_PRUN),
        ui("/ui/pipelines/{run_id}/rerun", rerun, P.DEPLOY, ("POST",), entity=_PRUN),
        ui("/ui/deployments", page("deployments.html", ops.deployments)),
        ui("/ui/datasets", page("datasets.html", vd.datasets)),
        ui("/ui/datasets/{name}", page("dataset.html", vd.dataset),
           entity=(Addresses(DATASET, "name"),)),
        ui("/ui/monitors", page("monitors.html", ops.monitors)),
        ui("/ui/loop", page("loop.html", ops.loop)),
        ui("/ui/loop/{loop_id}/approve", approve, P.APPROVE, ("POST",),
           entity=(Addresses(LOOP, "loop_id"),)),
    ]


def _rerun(s: Services, run_id: str) -> None:
    """Resume a failed run in the background, or start the same pipeline again."""
    import threading

    from loopml.pipelines import load_pipeline, resume, start
    from loopml.tracking._client import TrackingClient

    rec = s.pipelines.get_run(run_id)
    client = TrackingClient(store=s.store, proxy_root=s.blobs.root_uri)
    if rec.status == "FAILED":
        threading.Thread(target=resume, args=(run_id,), kwargs={"client": client},
                         daemon=True).start()
        return
    start(load_pipeline(rec.ref), rec.params, executor=rec.executor, client=client)


def _token_ok(s: Services, token: str) -> bool:
    """Any bearer token the server's verifier chain accepts (the shared token, an API token,
    an OIDC JWT) signs in to the dashboard."""
    from loopml.security import IdentityKind

    try:
        p = s.auth.authenticate({"authorization": f"Bearer {token}"})
    except LoopmlError:
        return False
    return p.kind is not IdentityKind.ANONYMOUS
