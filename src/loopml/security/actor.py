"""Who is acting: the identity recorded on every event and loop audit entry.

A request's actor is the principal ``route()`` authenticated (its subject and identity
kind); the server's own background services (the loop controller, the monitor scheduler,
the trigger runner, the audit monitor) act as service identities ``loopml:<name>`` of kind
``service``. Bound like the current workspace (``security/workspaces.py``): a context
variable set for the duration of a request or a background pass, so a store writes the
actor in the same transaction as the change and its event, without every producer passing
it through. Nothing bound (a local script, a CLI command on the embedded store): no actor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

SERVICE = "service"  # the kind of loopml's own background services

_current: ContextVar[tuple[str, str] | None] = ContextVar("loopml_actor", default=None)


def current_actor() -> tuple[str | None, str | None]:
    """``(actor id, kind)`` bound now, e.g. ``("ann", "user")``,
    ``("loopml:loop-controller", "service")``; ``(None, None)`` when nothing is bound."""
    bound = _current.get()
    return bound if bound is not None else (None, None)


@contextmanager
def acting_as(actor: str, kind: str) -> Iterator[None]:
    """Bind ``(actor, kind)`` inside the ``with`` block (this thread or task, and what it
    starts through ``contextvars``)."""
    token = _current.set((actor[:255], kind[:32]))
    try:
        yield
    finally:
        _current.reset(token)


def service_actor(name: str) -> str:
    """The actor id of loopml's own background service ``name``: ``loopml:<name>``."""
    return f"loopml:{name}"


__all__ = ["SERVICE", "acting_as", "current_actor", "service_actor"]
