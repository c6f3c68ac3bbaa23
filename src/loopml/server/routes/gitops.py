"""``/api/loopml/v1/gitops``: the server side of ``loopml export`` / ``apply`` / ``promote``
(docs/gitops.md), for pipelines that reach the control plane over HTTP rather than the
database. Documents travel as YAML texts; the caller needs the route's permission in every
workspace a document (or a change) is in: read to export, deploy to apply and propose,
approve to approve."""

from __future__ import annotations

from typing import Any

from loopml.errors import InvalidParameterValue, PermissionDenied
from loopml.security import Permission as P
from loopml.security import PermissionedRoute
from loopml.server._api import api
from loopml.server._http import Body
from loopml.server.services import Services

_PREFIX = ("/api/loopml/v1",)


def _docs(b: Body) -> list[Any]:
    """The body's documents, all validated; every problem in one 400."""
    from loopml.gitops import parse

    texts = b.str_list("documents")
    docs, problems = [], []
    for i, text in enumerate(texts):
        doc, errs = parse(text, f"documents[{i}]")
        problems += errs
        if doc is not None:
            docs.append(doc)
    keys = [d.key for d in docs]
    problems += [f"{k}/{n} appears twice" for k, n in sorted(set(keys)) if keys.count((k, n)) > 1]
    if problems:
        raise InvalidParameterValue(f"{len(problems)} problem(s); nothing was changed: "
                                    + "; ".join(problems))
    return docs


def _allowed(b: Body, permission: P, workspaces: set[str]) -> None:
    for ws in sorted(workspaces):
        if not b.caller.allows(permission, ws):
            raise PermissionDenied(f"{b.caller.subject!r} lacks the {permission.value} "
                                   f"permission in workspace {ws!r}, which this change touches.")


def _touched(p: Any) -> set[str]:
    return {(c.after or c.before).workspace for c in p.changes}


def routes(s: Services) -> list[PermissionedRoute]:
    def state() -> Any:
        from loopml.gitops import State

        return State(s.store)

    def export(b: Body) -> dict[str, Any]:
        from loopml.gitops.documents import file_name, render

        docs = [d for d in state().current() if b.caller.allows(P.READ, d.workspace)]
        return {"documents": [{"path": file_name(d), "text": render(d)} for d in docs]}

    def apply(b: Body) -> dict[str, Any]:
        from loopml.gitops import apply_plan, check, plan
        from loopml.gitops.promotion import environment

        st = state()
        p = plan(st, _docs(b), b.flag("prune"))
        _allowed(b, P.DEPLOY, _touched(p))
        problems = check(st, p)
        if problems:
            raise InvalidParameterValue("; ".join(problems))
        dry = b.flag("dry_run")
        if not dry and not p.empty and environment(st)["require_approval"]:
            raise PermissionDenied("This environment takes changes only as approved change "
                                   "requests: POST /api/loopml/v1/gitops/changes.")
        if not dry:
            apply_plan(st, p)
        return {**p.to_dict(), "applied": not dry and not p.empty}

    def propose(b: Body) -> dict[str, Any]:
        from loopml.gitops import plan
        from loopml.gitops.promotion import propose as do_propose

        st = state()
        docs = _docs(b)
        _allowed(b, P.DEPLOY, _touched(plan(st, docs, b.flag("prune"))))
        rid, p = do_propose(st, docs, b.flag("prune"), b.caller.subject,
                            b.text("note") or "")
        return {"id": rid, **p.to_dict()}

    def approve(b: Body) -> dict[str, Any]:
        from loopml.gitops.promotion import approve as do_approve

        done = do_approve(state(), b.req_text("id"), b.caller.subject)
        return {"applied": [c.to_dict() for c in done]}

    return [
        *api(s, "/gitops/export", "GET", P.READ, export, prefixes=_PREFIX),
        *api(s, "/gitops/apply", "POST", P.DEPLOY, apply, prefixes=_PREFIX),
        *api(s, "/gitops/changes", "POST", P.DEPLOY, propose, prefixes=_PREFIX),
        *api(s, "/gitops/changes/approve", "POST", P.APPROVE, approve, prefixes=_PREFIX),
    ]


__all__ = ["routes"]
