"""Read-only secrets from environment variables: ``NAME`` in workspace ``default`` is
``<prefix><NAME>`` (default prefix ``LOOPML_SECRET_``), in workspace ``ws`` it is
``<prefix><WS>__<NAME>``; names are upper-cased and '.' / '-' become '_'. Versions are
always 1 (the environment keeps no history)."""

from __future__ import annotations

import os

from loopml.errors import ResourceDoesNotExist
from loopml.security.secrets import (
    DEFAULT_WORKSPACE,
    SecretBackend,
    SecretInfo,
    SecretValue,
    check_name,
)


def _part(s: str) -> str:
    return s.upper().replace(".", "_").replace("-", "_")


class EnvSecretBackend(SecretBackend):
    read_only = True

    def __init__(self, prefix: str = "LOOPML_SECRET_") -> None:
        self.prefix = prefix

    def variable(self, name: str, workspace: str = DEFAULT_WORKSPACE) -> str:
        """The variable that holds ``name`` in ``workspace``."""
        ws = "" if workspace == DEFAULT_WORKSPACE else f"{_part(workspace)}__"
        return f"{self.prefix}{ws}{_part(check_name(name))}"

    def get(self, name: str, workspace: str = DEFAULT_WORKSPACE,
            version: int | None = None) -> SecretValue:
        var = self.variable(name, workspace)
        value = os.environ.get(var)
        if value is None or version not in (None, 1):
            raise ResourceDoesNotExist(
                f"No secret {name!r} in workspace {workspace!r}: the env secrets backend reads "
                f"it from the variable {var}, which is not set.")
        return SecretValue(name, workspace, 1, value)

    def list_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[SecretInfo]:
        ws = "" if workspace == DEFAULT_WORKSPACE else f"{_part(workspace)}__"
        start = self.prefix + ws
        out = []
        for var in os.environ:
            rest = var[len(start):] if var.startswith(start) else ""
            if rest and (ws or "__" not in rest):  # default: not another workspace's
                out.append(SecretInfo(rest.lower(), workspace, 1))
        return sorted(out, key=lambda i: i.name)
