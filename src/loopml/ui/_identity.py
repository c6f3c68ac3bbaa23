"""Who is signed in, in which workspace, and which workspaces they may switch to: what the
header of every dashboard page shows (``nav`` is a Jinja global, so every ``render`` call
gets it without its view knowing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from loopml.errors import LoopmlError
from loopml.security._principal import ANONYMOUS, Permission, Principal
from loopml.security.workspaces import DEFAULT_WORKSPACE, workspace_of
from loopml.ui._render import ENV


@dataclass(frozen=True)
class NavIdentity:
    """``subject``/``kind``/``role`` of the caller in ``workspace``; ``workspaces``: the
    ones the switcher offers; ``is_admin``: admin in ``workspace`` (admin links shown);
    ``signed_in``: a sign-in cookie is set (the sign-out button shown); ``anonymous``: auth
    is off ("local (no auth)")."""

    subject: str
    kind: str
    role: str
    workspace: str
    workspaces: list[str]
    is_admin: bool
    signed_in: bool
    anonymous: bool


def all_workspaces(services: Any) -> list[str]:
    """Every workspace's name (the registry beside a SQL store; only ``default`` else)."""
    engine = getattr(getattr(services, "store", None), "engine", None)
    if engine is None:
        return [DEFAULT_WORKSPACE]
    from loopml.security._workspaces_sql import SqlWorkspaceStore

    return [w.name for w in SqlWorkspaceStore(engine).list()]


def visible_workspaces(services: Any, principal: Principal) -> list[str]:
    """The workspaces ``principal`` holds a role in (all of them for a ``*`` binding, an
    admin of every workspace, or anonymous)."""
    return [w for w in all_workspaces(services) if principal.role_in(w) is not None]


def nav(request: Request) -> NavIdentity:
    """The header's identity block for ``request`` (set by ``route()`` on
    ``request.state``); never raises, so an error page still renders."""
    from loopml.security import TOKEN_COOKIE

    p: Principal = getattr(request.state, "principal", ANONYMOUS)
    try:
        ws = getattr(request.state, "workspace", None) or workspace_of(request)
    except LoopmlError:
        ws = DEFAULT_WORKSPACE
    services = getattr(request.app.state, "services", None) if "app" in request.scope else None
    try:
        names = visible_workspaces(services, p) if services is not None else [ws]
    except Exception:  # noqa: BLE001 - the header must render even if the registry fails
        names = [ws]
    if ws not in names:
        names = [ws, *names]
    role = p.role_in(ws)
    # ANONYMOUS (auth off) holds every role; the unauthenticated caller of a public page
    # (the sign-in page with auth on) holds none.
    anonymous = p is ANONYMOUS
    return NavIdentity(p.subject, p.kind.value, role.name.lower() if role else "no role", ws,
                       names, p.allows(Permission.ADMIN, ws),
                       bool(request.cookies.get(TOKEN_COOKIE)), anonymous)


ENV.globals["nav"] = nav
