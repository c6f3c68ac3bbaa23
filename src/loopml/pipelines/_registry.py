"""The pipelines a server may run: fixed by its operator at start-up, never by a request.

A request (start, resume, a trigger, a loop policy) names a pipeline; the server looks the
name up here and runs the object it finds. Nothing is imported on lookup, so a request
cannot make the server import a module, not even one it uploaded as an artifact (the class
of MLflow's recipe/pipeline code-execution reports). The operator registers pipelines with
``loopml server --pipelines mod:attr,...`` (``LOOPML_SERVER_PIPELINES`` for ``--workers N``
processes); those modules are imported once, at start-up, from the normal Python path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from loopml.errors import InvalidParameterValue, PermissionDenied

if TYPE_CHECKING:
    from loopml.pipelines._dsl import Pipeline

HOW_TO_REGISTER = (
    "The server runs only pipelines its operator registered at start-up: "
    "`loopml server --pipelines mypackage.flows:training,mypackage.flows:retrain` (or the "
    "LOOPML_SERVER_PIPELINES environment variable), with the modules importable by the "
    "server (installed, or on PYTHONPATH).")


def parse_refs(raw: str | Iterable[str] | None) -> list[str]:
    """``"a:p, b:q"`` or ``["a:p", "b:q,c:r"]`` -> ``["a:p", "b:q", "c:r"]`` (order kept,
    duplicates dropped)."""
    items = [raw] if isinstance(raw, str) else list(raw or [])
    out: list[str] = []
    for item in items:
        for ref in item.split(","):
            ref = ref.strip()
            if ref and ref not in out:
                out.append(ref)
    return out


class PipelineRegistry:
    """Registered pipelines by ``module:attr`` reference and by short name (the pipeline's
    name, when no other registered pipeline has it).

    ``resolve(name)`` returns the pipeline or raises ``PermissionDenied`` (HTTP 403); it
    never imports. Build one with ``PipelineRegistry.load(refs)`` (imports now) or from
    pipeline objects (``PipelineRegistry({"mod:attr": p})``, no import at all).
    """

    def __init__(self, pipelines: dict[str, Pipeline] | None = None) -> None:
        self._by_ref: dict[str, Pipeline] = {}
        self._refs: list[str] = []  # what the operator registered, in order, for messages
        for ref, p in (pipelines or {}).items():
            self.add(ref, p)

    @classmethod
    def load(cls, refs: str | Iterable[str] | None) -> PipelineRegistry:
        """Import each ``module:attr`` now (start-up, operator input). Raises
        ``InvalidParameterValue`` naming the reference that cannot be imported or is not a
        ``@pipeline``."""
        from loopml.pipelines._refs import load_pipeline

        reg = cls()
        for ref in parse_refs(refs):
            reg.add(ref, load_pipeline(ref))
        return reg

    def add(self, ref: str, p: Pipeline) -> None:
        if p.ref is None:
            p.ref = ref
        self._by_ref[ref] = p
        self._by_ref.setdefault(p.ref, p)  # what run records say (module:qualname)
        if ref not in self._refs:
            self._refs.append(ref)

    @property
    def refs(self) -> list[str]:
        """The references the operator registered."""
        return list(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def _find(self, name: str) -> Pipeline | None:
        if name in self._by_ref:
            return self._by_ref[name]
        named = {id(p): p for p in self._by_ref.values() if p.name == name}
        if len(named) > 1:
            raise InvalidParameterValue(
                f"Several registered pipelines are named {name!r}; name one by its "
                f"reference: {sorted(r for r, p in self._by_ref.items() if p.name == name)}.")
        return next(iter(named.values()), None)

    def resolve(self, name: str, what: str = "Pipeline") -> Pipeline:
        """The registered pipeline ``name`` (a reference or a short name). Imports nothing.

        Raises ``PermissionDenied`` when it is not registered."""
        p = self._find(name)
        if p is None:
            have = ", ".join(self._refs) if self._refs else "none"
            raise PermissionDenied(
                f"{what} {name!r} is not registered in this server (registered: {have}). "
                f"{HOW_TO_REGISTER}")
        return p

    def check(self, name: str, what: str = "Pipeline") -> None:
        """``resolve`` for validation only (triggers, policies): raises the same errors."""
        self.resolve(name, what)
