"""Reconcile a store to a folder of documents: ``plan`` (what would change, with a unified
diff per object), ``apply_plan`` (write it), ``export`` (the store as files).

The plan compares canonical documents (``documents.canonical``), so applying the same
folder twice changes nothing, and a store changed by hand since the last apply shows as
drift: an ``update`` (or, with ``prune``, a ``delete``) of the objects changed.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.gitops.documents import KINDS, Doc, file_name, render
from loopml.gitops.state import State

_ORDER = {k: i for i, k in enumerate(KINDS)}  # deployments before the policies naming them


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    kind: str
    name: str
    before: Doc | None
    after: Doc | None

    @property
    def diff(self) -> str:
        a = render(self.before).splitlines(keepends=True) if self.before else []
        b = render(self.after).splitlines(keepends=True) if self.after else []
        label = f"{self.kind}/{self.name}"
        return "".join(difflib.unified_diff(a, b, f"store:{label}", f"desired:{label}"))

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "diff": self.diff}


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    unmanaged: list[tuple[str, str]] = field(default_factory=list)  # in the store, not DIR

    @property
    def empty(self) -> bool:
        return not self.changes

    def digest(self) -> str:
        """SHA-256 of the changes (their before and after): what an approval approves."""
        h = hashlib.sha256()
        for c in self.changes:
            h.update(f"{c.action}\0{c.kind}\0{c.name}\0".encode())
            h.update(render(c.before).encode() if c.before else b"-")
            h.update(render(c.after).encode() if c.after else b"-")
        return h.hexdigest()

    def summary(self) -> str:
        n = {a: sum(c.action == a for c in self.changes) for a in ("create", "update", "delete")}
        extra = (f", {len(self.unmanaged)} in the store only (kept; --prune deletes them)"
                 if self.unmanaged else "")
        return (f"{n['create']} to create, {n['update']} to update, {n['delete']} to delete, "
                f"{self.unchanged} unchanged{extra}")

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "unchanged": self.unchanged,
                "unmanaged": [f"{k}/{n}" for k, n in self.unmanaged],
                "digest": self.digest(), "summary": self.summary()}


def plan(state: State, desired: list[Doc], prune: bool = False) -> Plan:
    """Changes that make the store hold ``desired`` (and, with ``prune``, nothing else)."""
    current = {d.key: d for d in state.current()}
    out = Plan()
    for doc in sorted(desired, key=lambda d: (_ORDER[d.kind], d.name)):
        before = current.get(doc.key)
        if before is None:
            out.changes.append(Change("create", doc.kind, doc.name, None, doc))
        elif before.spec != doc.spec or before.workspace != doc.workspace:
            out.changes.append(Change("update", doc.kind, doc.name, before, doc))
        else:
            out.unchanged += 1
    wanted = {d.key for d in desired}
    extra = sorted((k for k in current if k not in wanted), key=lambda k: (-_ORDER[k[0]], k[1]))
    for key in extra:
        if prune:
            out.changes.append(Change("delete", key[0], key[1], current[key], None))
        else:
            out.unmanaged.append(key)
    return out


def check(state: State, p: Plan) -> list[str]:
    """Problems only the store can find (a route to a version that does not exist), for
    every create and update, before anything is written."""
    from loopml.errors import LoopmlError

    problems = []
    for c in p.changes:
        if c.after is None:
            continue
        try:
            state.check(c.after)
        except LoopmlError as e:
            problems.append(f"{c.after.source or c.kind + '/' + c.name}: {e.message}")
    return problems


def apply_plan(state: State, p: Plan) -> list[Change]:
    """Write the plan's changes in order (deletes last); returns those written."""
    done = []
    for c in p.changes:
        doc = c.after or c.before
        assert doc is not None
        state.write(c.action, doc, c.before)
        done.append(c)
    return done


def export(state: State, folder: str | Path) -> list[Path]:
    """Write every managed object of the store to ``folder`` (one file each), removing
    files of objects the store no longer has; returns the files written."""
    root = Path(folder)
    written = []
    for doc in sorted(state.current(), key=lambda d: (_ORDER[d.kind], d.name)):
        path = root / file_name(doc)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render(doc)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    keep = set(written)
    for folder_name in {file_name(Doc(k, "x", "default", {})).split("/")[0] for k in KINDS}:
        for old in (root / folder_name).glob("*.yaml") if (root / folder_name).is_dir() else []:
            if old not in keep:
                old.unlink()
    return written


__all__ = ["Change", "Plan", "apply_plan", "check", "export", "plan"]
