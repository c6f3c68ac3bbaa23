"""``/api/loopml/v1/loops``: closed-loop cycles, their audit log, approval, and a manual
trigger handled by the controller running in this server (``loopml server --policies``).

Who may do what (issue 16): a loop's records (create, advance, audit, cursors) are the
controller's, so they need DEPLOY and a service identity, and no write route sets
``approved_by`` or the approval transition: only ``/approve`` does, and it needs APPROVE.
Triggering a loop needs DEPLOY (loop policies are the deployer's)."""

from __future__ import annotations

from typing import Any

from loopml.errors import InvalidState, PermissionDenied, invalid_param
from loopml.security import IdentityKind, PermissionedRoute
from loopml.security import Permission as P
from loopml.security.entity_scope import LOOP, REGISTERED_MODEL, Addresses
from loopml.server._api import api
from loopml.server._http import Body, entity
from loopml.server.services import Services
from loopml.store.loops_base import Loop

_PREFIX = ("/api/loopml/v1",)


def _obj(b: Body, name: str) -> dict[str, Any]:
    v = b.data.get(name) or {}
    if not isinstance(v, dict):
        raise invalid_param(name, b.where, "an object", v)
    return v


_SERVICE_KINDS = frozenset({IdentityKind.SERVICE_ACCOUNT, IdentityKind.ANONYMOUS})


def _controller_only(b: Body, what: str) -> None:
    """Loop records are written by the controller, which runs as a service identity."""
    if b.caller.kind not in _SERVICE_KINDS:
        raise PermissionDenied(
            f"Only the loop controller (a service account) may {what}; "
            f"{b.caller.kind.value} {b.caller.subject!r} is not a service identity. Approve "
            "a loop with POST /api/loopml/v1/loops/{loop_id}/approve (approver role).")


def _no_approval(b: Body, fields: dict[str, Any], action: str | None = None) -> None:
    if fields.get("approved_by") is not None or action == "approved":
        raise PermissionDenied(
            f"{b.where}: a loop's approval cannot be written here; use POST "
            "/api/loopml/v1/loops/{loop_id}/approve, which needs the approver role.")


_LOOP = (Addresses(LOOP, "loop_id"),)  # checked in its own workspace


def routes(s: Services) -> list[PermissionedRoute]:
    store = s.loops

    def list_(b: Body) -> dict[str, Any]:
        active = b.text("active")
        loops = store.list_loops(b.text("model"), None if active is None else active == "true",
                                 b.int_or("limit", 100))
        return {"loops": [x.to_dict() for x in loops]}

    def get(b: Body) -> dict[str, Any]:
        return {"loop": store.get_loop(b.req_text("loop_id")).to_dict()}

    def create(b: Body) -> dict[str, Any]:
        _controller_only(b, "create loop records")
        _no_approval(b, _obj(b, "loop"))
        loop = entity(Loop, _obj(b, "loop"), b.where)
        return {"created": store.create_loop(loop, b.text("message") or "",
                                             _obj(b, "inputs"))}

    def advance(b: Body) -> dict[str, Any]:
        _controller_only(b, "advance a loop")
        _no_approval(b, _obj(b, "fields"), b.text("action"))
        loop = store.advance(b.req_text("loop_id"), b.req_text("expected_state"),
                             b.req_text("action"), b.text("message") or "", _obj(b, "inputs"),
                             **_obj(b, "fields"))
        return {"loop": loop.to_dict()}

    def audit(b: Body) -> dict[str, Any]:
        store.audit(b.req_text("model"), b.req_text("action"), b.text("message") or "",
                    _obj(b, "inputs"), b.text("loop_id"))
        return {}

    def history(b: Body) -> dict[str, Any]:
        entries = store.history(b.text("model"), b.text("loop_id"), b.int_or("after_seq", 0),
                                b.int_or("limit", 1000))
        return {"entries": [e.to_dict() for e in entries]}

    def get_cursor(b: Body) -> dict[str, Any]:
        return {"seq": store.get_cursor(b.req_text("name"))}

    def move_cursor(b: Body) -> dict[str, Any]:
        return {"moved": store.move_cursor(b.req_text("name"), b.int_or("expected", 0),
                                           b.int_or("new", 0))}

    def approve(b: Body) -> dict[str, Any]:
        from loopml.automation.controller import approve as do_approve

        # The approver is who authenticated, not what the body claims (anonymous: auth is
        # off, so the body's name is all there is).
        who = b.caller.subject if b.caller.kind is not IdentityKind.ANONYMOUS else \
            b.text("by") or "api"
        return {"loop": do_approve(store, b.req_text("loop_id"), who).to_dict()}

    def trigger(b: Body) -> dict[str, Any]:
        from loopml.automation import Controller

        if not s.policies:
            raise InvalidState(
                "No loop controller runs in this server: start it with `loopml server "
                "--policies policies.yaml`, or use `loopml loop run MODEL --policies ...`.")
        # Record the loop; the server's controller (in whichever process) drives it.
        ctl = Controller(s.store, s.policies, proxy_root=s.blobs.root_uri, runnable=s.runnable)
        loop = ctl.trigger(b.req_text("model"), b.text("reason") or "manual (API)")
        return {"loop": loop.to_dict() if loop else None, "started": loop is not None}

    return [
        *api(s, "/loops", "GET", P.READ, list_, _PREFIX),
        *api(s, "/loops/create", "POST", P.DEPLOY, create, _PREFIX),
        *api(s, "/loops/history", "GET", P.READ, history, _PREFIX),
        *api(s, "/loops/audit", "POST", P.DEPLOY, audit, _PREFIX),
        *api(s, "/loops/trigger", "POST", P.DEPLOY, trigger, _PREFIX,
             entity=(Addresses(REGISTERED_MODEL, "model"),)),
        *api(s, "/loops/cursors/{name}", "GET", P.READ, get_cursor, _PREFIX),
        *api(s, "/loops/cursors/{name}", "POST", P.DEPLOY, move_cursor, _PREFIX),
        *api(s, "/loops/{loop_id}", "GET", P.READ, get, _PREFIX,
             entity=_LOOP),
        *api(s, "/loops/{loop_id}/advance", "POST", P.DEPLOY, advance, _PREFIX,
             entity=_LOOP),
        *api(s, "/loops/{loop_id}/approve", "POST", P.APPROVE, approve, _PREFIX,
             entity=_LOOP),
    ]
