"""Promotion between environments as an approved, audited change.

A store can be *protected* (``protect``): plain ``apply`` then refuses to write and changes
go through a change request instead. ``propose`` records the documents and the plan's
digest (table ``config_objects``, kind ``ChangeRequest``); ``approve`` by another person,
who holds the approver role in every workspace the change touches (loopml.security roles;
on a store without identities any other name is accepted), re-plans, refuses if the store
drifted since the proposal (the digest differs), and applies. Each step is a record in the
audit log (``gitops.change_proposed``, ``gitops.change_approved``, ``gitops.change_refused``)
with the digest, so "who changed production, approved by whom, to what" is answered there.
"""

from __future__ import annotations

import time
from typing import Any

from loopml.errors import InvalidState, PermissionDenied, ResourceDoesNotExist
from loopml.gitops.documents import Doc, parse, render
from loopml.gitops.plan import Change, Plan, apply_plan, plan
from loopml.gitops.state import State

REQUEST = "ChangeRequest"
SETTINGS = ("GitopsSettings", "environment")


def environment(state: State) -> dict[str, Any]:
    """``{"name", "require_approval"}`` of this store (default: unprotected)."""
    return state.config.get(*SETTINGS) or {"name": "", "require_approval": False}


def protect(state: State, name: str, require_approval: bool, actor: str) -> None:
    state.config.put(*SETTINGS, {"name": name, "require_approval": require_approval})
    _audit(state, "gitops.environment_set", "allow", actor, name,
           f"require_approval={require_approval}")


def _audit(state: State, action: str, outcome: str, actor: str, target: str,
           detail: str) -> None:
    from loopml.security.audit import AuditLog

    log = AuditLog.for_store(state.tracking)
    if log is None:
        return
    log.record(action, outcome, actor=actor, kind="user", via="gitops", target=target,
               detail=detail)
    log.close()  # written now: the caller may exit right after


def propose(state: State, docs: list[Doc], prune: bool, actor: str,
            note: str = "") -> tuple[str, Plan]:
    """Record a change request for ``docs``; returns (its id, the plan)."""
    p = plan(state, docs, prune)
    if p.empty:
        raise InvalidState("Nothing to promote: the store already matches these documents.")
    rid = p.digest()[:16]
    env = environment(state)
    state.config.put(REQUEST, rid, {
        "digest": p.digest(), "documents": [render(d) for d in docs], "prune": prune,
        "requested_by": actor, "requested_time": int(time.time() * 1000), "note": note,
        "status": "pending", "summary": p.summary(), "environment": env["name"]})
    _audit(state, "gitops.change_proposed", "allow", actor, rid,
           f"{env['name'] or 'store'}: {p.summary()}; digest {p.digest()}; {note}".strip())
    return rid, p


def requests(state: State) -> list[dict[str, Any]]:
    return [{"id": name, **{k: v for k, v in spec.items() if k != "documents"}}
            for name, _, spec in state.config.list(REQUEST)]


def _check_approver(state: State, actor: str, requester: str, workspaces: set[str]) -> None:
    if actor == requester:
        raise PermissionDenied(f"{actor!r} proposed this change and cannot approve it too: "
                               "another person with the approver role must.")
    from loopml.security import Role
    from loopml.store import get_identity_store

    ids = get_identity_store(state.tracking)
    if not ids.list_identities():
        return  # a store without identities (single user): the names are recorded only
    try:
        who = ids.get_identity(actor)
    except ResourceDoesNotExist:
        raise PermissionDenied(f"{actor!r} is not a user of this store; approvers are users "
                               "with the approver role (loopml users grant NAME --role "
                               "approver).") from None
    from loopml.security._identities import identity_role_in

    for ws in sorted(workspaces):
        role = identity_role_in(who, ws)
        if role is None or role < Role.APPROVER:
            raise PermissionDenied(f"{actor!r} does not hold the approver role in workspace "
                                   f"{ws!r}, which this change touches.")


def approve(state: State, rid: str, actor: str) -> list[Change]:
    """Approve and apply change request ``rid``; returns the changes written."""
    spec = state.config.get(REQUEST, rid)
    if spec is None:
        raise ResourceDoesNotExist(f"No change request {rid!r}; see `loopml promote list`.")
    if spec["status"] != "pending":
        raise InvalidState(f"Change request {rid} is {spec['status']}, not pending.")
    docs = [d for d in (parse(text, f"{REQUEST} {rid}")[0] for text in spec["documents"])
            if d is not None]
    p = plan(state, docs, bool(spec["prune"]))
    touched = {c.after.workspace if c.after else c.before.workspace  # type: ignore[union-attr]
               for c in p.changes}
    try:
        _check_approver(state, actor, spec["requested_by"], touched or {"default"})
        if p.digest() != spec["digest"]:
            raise InvalidState(
                f"The store changed since change request {rid} was proposed (drift): it no "
                "longer does what was reviewed. Propose it again and review the new diff.")
    except (PermissionDenied, InvalidState) as e:
        _audit(state, "gitops.change_refused", "deny", actor, rid, e.message)
        raise
    done = apply_plan(state, p)
    state.config.put(REQUEST, rid, {**spec, "status": "applied", "approved_by": actor,
                                    "approved_time": int(time.time() * 1000)})
    _audit(state, "gitops.change_approved", "allow", actor, rid,
           f"requested by {spec['requested_by']}; {p.summary()}; digest {spec['digest']}")
    return done


__all__ = ["approve", "environment", "propose", "protect", "requests"]
