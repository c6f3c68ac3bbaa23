"""A deployment's ``env`` reaching the model server that serves it.

``loopml serve --deployment NAME`` applies the deployment's environment before it loads the
revision's models (a flavor that reads a variable at load time sees it), resolving each
``${secret:NAME}`` reference at that moment, in the deployment's workspace, through the
configured secrets backend (``loopml.security.secrets``). The resolved values live only in
this process's environment: they are registered for redaction (a log line or error that
quotes one shows ``***``), and the store, events, the status reports, the dashboard and the
API keep the references as written.

One server process has one environment: two deployments served by one process that set one
variable to different values are refused (``InvalidState``) rather than letting the later
one silently win.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from loopml.entities import Deployment
from loopml.errors import InvalidState

_lock = threading.Lock()
_owner: dict[str, tuple[str, str]] = {}  # variable -> (deployment, value) set in this process


def resolve_env(d: Deployment, backend: Any = None) -> dict[str, str]:
    """``d.env`` with its secret references resolved in ``d.workspace`` (``backend``:
    default, the settings' secrets backend). Raises ``ResourceDoesNotExist`` for a secret
    that does not exist and ``PermissionDenied`` where the backend refuses the read."""
    from loopml.security.secrets import get_secret_backend, has_refs, resolve_refs

    if not has_refs(d.env):
        return dict(d.env)
    backend = backend or get_secret_backend()
    return dict(resolve_refs(d.env, backend, d.workspace))


def apply_env(d: Deployment, backend: Any = None) -> list[str]:
    """Resolve and set ``d``'s environment in this process; returns the variable names set
    (never the values). Raises ``InvalidState`` when another deployment served here set one
    of them to another value."""
    values = resolve_env(d, backend)
    with _lock:
        for k, v in values.items():
            prev = _owner.get(k)
            if prev is not None and prev[0] != d.name and prev[1] != v:
                raise InvalidState(
                    f"Deployment {d.name!r} sets env {k} to another value than deployment "
                    f"{prev[0]!r} served by this process; serve them from separate "
                    "`loopml serve` processes.")
        for k, v in values.items():
            os.environ[k] = v
            _owner[k] = (d.name, v)
    return sorted(values)


__all__ = ["apply_env", "resolve_env"]
