"""Workspaces: the tenancy unit that scopes experiments, registered models, deployments,
pipelines and loop policies (and that roles, quotas and secrets are given per).

A request names its workspace the way the mlflow client does after
``mlflow.set_workspace(NAME)``: the ``X-MLFLOW-WORKSPACE`` header (``WORKSPACE_HEADER``);
no header means ``default``. ``workspace_of(request)`` reads it (role checks call it), and
``WorkspaceMiddleware`` binds it to ``current_workspace()`` for the request, which the SQL
stores read to filter listings and to stamp what they create, the way MLflow's server
binds its request workspace to a context variable. Outside a request,
``use_workspace(name)`` binds it, else ``LOOPML_WORKSPACE`` / ``MLFLOW_WORKSPACE``.

Names follow MLflow's rule (a Kubernetes DNS label): 2-63 lowercase letters, digits and
inner hyphens, not ``workspaces``, ``api``, ``ajax-api`` or ``static-files``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from loopml.errors import InvalidParameterValue
from loopml.security._principal import ALL_WORKSPACES

DEFAULT_WORKSPACE = "default"
WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"
# Set by the dashboard's workspace switcher; read only on /ui routes (no header sent there).
WORKSPACE_COOKIE = "loopml_workspace"
ENV_WORKSPACE = "LOOPML_WORKSPACE"
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_RESERVED = frozenset({"workspaces", "api", "ajax-api", "static-files"})
_current: ContextVar[str | None] = ContextVar("loopml_workspace", default=None)


@dataclass(frozen=True)
class Workspace:
    """A workspace: ``artifact_root`` (None: the server's root) is where experiments created
    in it keep their artifacts. The JSON form is MLflow's ``Workspace`` message."""

    name: str
    description: str | None = None
    artifact_root: str | None = None
    creation_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            out["description"] = self.description
        if self.artifact_root is not None:
            out["default_artifact_root"] = self.artifact_root
        return out


def check_workspace_name(name: object, all_ok: bool = False) -> str:
    """``name`` when valid (``default`` always is; ``"*"``, every workspace, only when
    ``all_ok``), else ``InvalidParameterValue`` naming the rule."""
    if name == DEFAULT_WORKSPACE or (all_ok and name == ALL_WORKSPACES):
        return str(name)
    if (not isinstance(name, str) or not 2 <= len(name) <= 63 or not _NAME.fullmatch(name)
            or name in _RESERVED):
        raise InvalidParameterValue(
            f"Workspace name {name!r} is not valid: use 2-63 lowercase letters, digits and "
            "inner hyphens (a Kubernetes DNS label), not one of "
            f"{', '.join(sorted(_RESERVED))}.")
    return name


def check_artifact_root(root: str | None) -> str | None:
    """A workspace's artifact root: empty or None (the server's root), an absolute folder,
    ``file://`` or ``s3://bucket/prefix`` (the artifact stores loopml has). A relative path
    would depend on where each server process starts. Raises ``InvalidParameterValue``."""
    if not root:
        return root
    from loopml.artifacts import BACKENDS

    scheme = root.split("://", 1)[0].lower() if "://" in root else ""
    if scheme not in BACKENDS or (not scheme and not os.path.isabs(root)) or (
            scheme and not root.split("://", 1)[1].strip("/")):
        raise InvalidParameterValue(
            f"Artifact root {root!r} is not usable: give an absolute folder, file:///path or "
            "s3://bucket/prefix.")
    return root


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Any: ...


def workspace_for(headers: Any, path: str = "") -> str:
    """The workspace a request acts in, the one rule both the role check
    (``security._http.request_workspace``) and ``WorkspaceMiddleware`` (store scoping) use:
    the ``X-MLFLOW-WORKSPACE`` header (what ``mlflow.set_workspace`` sends); else, on
    dashboard routes (``path`` under ``/ui``), the ``loopml_workspace`` cookie the
    dashboard's switcher sets; else ``default``. ``headers``: a case-insensitive mapping
    (Starlette ``Headers``). Raises ``InvalidParameterValue`` (400) for an invalid header;
    an invalid cookie is ignored (``default``), so a stale cookie never locks a browser out.
    Whether the workspace exists is not checked here."""
    # Starlette's Headers ignore case; plain dicts (gRPC metadata, tests) may use either.
    raw = (headers.get(WORKSPACE_HEADER.lower()) or headers.get(WORKSPACE_HEADER) or "").strip()
    if raw:
        # "*" (every workspace) is what a model server or controller sends to list across
        # workspaces; the role check then needs a role bound on "*" itself.
        return check_workspace_name(raw, all_ok=True)
    if path == "/ui" or path.startswith("/ui/"):
        from starlette.requests import cookie_parser

        jar = cookie_parser(headers.get("cookie") or headers.get("Cookie") or "")
        cookie = jar.get(WORKSPACE_COOKIE, "").strip()
        if cookie and is_workspace_name(cookie):
            return cookie
    return DEFAULT_WORKSPACE


def is_workspace_name(name: str) -> bool:
    """``check_workspace_name`` as a predicate."""
    try:
        check_workspace_name(name)
    except InvalidParameterValue:
        return False
    return True


def workspace_of(request: _HasHeaders) -> str:
    """The workspace a request acts in (``workspace_for`` with the request's headers and
    path). Raises ``InvalidParameterValue`` (400) for an invalid header."""
    url = getattr(request, "url", None)
    return workspace_for(request.headers, getattr(url, "path", "") or "")


def current_workspace() -> str:
    """The workspace of the request being served (bound by ``WorkspaceMiddleware``), else the
    one ``use_workspace`` bound, else ``LOOPML_WORKSPACE`` / ``MLFLOW_WORKSPACE``, else
    ``default``."""
    bound = _current.get()
    if bound:
        return bound
    env = (os.environ.get(ENV_WORKSPACE) or os.environ.get("MLFLOW_WORKSPACE") or "").strip()
    return check_workspace_name(env) if env else DEFAULT_WORKSPACE


def creating_workspace() -> str:
    """The workspace new things are created in: the current one (``default`` while every
    workspace is bound)."""
    ws = current_workspace()
    return DEFAULT_WORKSPACE if ws == ALL_WORKSPACES else ws


def scoped(query: Any, column: Any) -> Any:
    """``query`` filtered to the current workspace (unfiltered while ``ALL_WORKSPACES`` is
    bound: the loop controller and the trigger runner serve every workspace)."""
    ws = current_workspace()
    return query if ws == ALL_WORKSPACES else query.where(column == ws)


def name_workspace(conn: Any, table: Any, name: str, column: str = "name") -> str:
    """The workspace a lookup of ``name`` in ``table`` acts in. Names are unique per
    workspace (migration 0013), so a name means the current workspace's entity. While every
    workspace is bound (``*``: ``loopml serve``, the loop controller), the one workspace
    holding that name; ``default`` when none does (the caller's own lookup answers 404).
    Raises ``InvalidParameterValue`` when several workspaces hold it: bind one
    (``X-MLFLOW-WORKSPACE``, ``use_workspace`` or ``LOOPML_WORKSPACE``)."""
    ws = current_workspace()
    if ws != ALL_WORKSPACES:
        return ws
    import sqlalchemy as sa

    found = sorted({str(r[0]) for r in conn.execute(
        sa.select(table.c.workspace).where(table.c[column] == name).limit(10))})
    if len(found) > 1:
        raise InvalidParameterValue(
            f"{name!r} exists in several workspaces ({', '.join(found)}); name the "
            "workspace (X-MLFLOW-WORKSPACE header, use_workspace(...) or LOOPML_WORKSPACE).")
    return found[0] if found else DEFAULT_WORKSPACE


@contextlib.contextmanager
def use_workspace(name: str) -> Iterator[str]:
    """Bind ``name`` as the current workspace inside the ``with`` block (this thread or task,
    and the threads it starts through ``contextvars``); ``ALL_WORKSPACES`` (``"*"``) makes
    listings span every workspace, for components that serve them all."""
    token = _current.set(check_workspace_name(name, all_ok=True))
    try:
        yield name
    finally:
        _current.reset(token)


def get_workspace_store(tracking: Any) -> Any:
    """The workspace registry beside a SQL tracking store (``loopml.store.get_store()``):
    a ``SqlWorkspaceStore`` with ``create``, ``list``, ``get``, ``update`` and ``delete``.
    Against a server, use MLflow's workspace API (``mlflow.create_workspace`` ...) or
    ``loopml workspaces``. Raises ``InvalidParameterValue`` for another store."""
    engine = getattr(tracking, "engine", None)
    if engine is None:
        raise InvalidParameterValue(
            f"Workspaces live in a SQL store; {type(tracking).__name__} is not one (against "
            "a server, use mlflow.create_workspace or `loopml workspaces`).")
    from loopml.security._workspaces_sql import SqlWorkspaceStore

    return SqlWorkspaceStore(engine)


class WorkspaceMiddleware:
    """Pure ASGI middleware: binds each HTTP request's workspace (``workspace_for``) for the
    handlers and the store calls they make (the thread pool copies the context). A request
    with an invalid workspace header is answered 400 here."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers

        try:
            name = workspace_for(Headers(scope=scope), scope.get("path", ""))
        except InvalidParameterValue as e:
            from loopml.server._http import error_response

            await error_response(e)(scope, receive, send)
            return
        token = _current.set(name)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


__all__ = ["ALL_WORKSPACES", "DEFAULT_WORKSPACE", "ENV_WORKSPACE", "WORKSPACE_COOKIE",
           "WORKSPACE_HEADER", "Workspace", "WorkspaceMiddleware", "check_artifact_root",
           "check_workspace_name",
           "creating_workspace", "current_workspace", "get_workspace_store",
           "is_workspace_name", "name_workspace", "scoped", "use_workspace", "workspace_for", "workspace_of"]
