"""Read-only secrets from mounted files: ``<dir>/<NAME>`` in workspace ``default`` and
``<dir>/<workspace>/<NAME>`` in others. This is how a Kubernetes Secret reaches a pod
(a volume with one file per key; the kubelet's ``..data`` links and hidden entries are
skipped). A trailing newline is dropped; the version is 1 (a mount keeps no history)."""

from __future__ import annotations

from pathlib import Path

from loopml.errors import ResourceDoesNotExist
from loopml.security.secrets import (
    DEFAULT_WORKSPACE,
    SecretBackend,
    SecretInfo,
    SecretValue,
    check_name,
)


class FileSecretBackend(SecretBackend):
    read_only = True

    def __init__(self, directory: str | Path) -> None:
        self.root = Path(directory).expanduser().resolve()

    def _folder(self, workspace: str) -> Path:
        return self.root if workspace == DEFAULT_WORKSPACE else \
            self.root / check_name(workspace, "the workspace")

    def get(self, name: str, workspace: str = DEFAULT_WORKSPACE,
            version: int | None = None) -> SecretValue:
        path = self._folder(workspace) / check_name(name)
        # Names have no '/', so path stays in root; resolve() follows the kubelet's links.
        try:
            if version not in (None, 1) or not path.resolve().is_file():
                raise FileNotFoundError(path)
            value = path.read_text()
        except OSError:
            raise ResourceDoesNotExist(
                f"No secret {name!r} in workspace {workspace!r}: no readable file {path}.") \
                from None
        return SecretValue(name, workspace, 1, value.removesuffix("\n"))

    def list_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[SecretInfo]:
        folder = self._folder(workspace)
        if not folder.is_dir():
            return []
        return [SecretInfo(p.name, workspace, 1) for p in sorted(folder.iterdir())
                if not p.name.startswith(".") and p.resolve().is_file()]
