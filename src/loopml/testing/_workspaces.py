"""A workspace for contract tests, made the way each backend makes one."""

from __future__ import annotations

import uuid
from typing import Any


def new_workspace(tracking: Any) -> str:
    """Create a fresh workspace beside ``tracking`` (a SQL store: the workspace registry in
    its database; a REST store: MLflow's workspace API on its server) and return its name."""
    name = f"ws-{uuid.uuid4().hex[:8]}"
    if getattr(tracking, "engine", None) is not None:
        from loopml.security.workspaces import get_workspace_store

        get_workspace_store(tracking).create(name)
    else:
        tracking._call("POST", "/api/3.0/mlflow/workspaces", {"name": name})
    return name


__all__ = ["new_workspace"]
