"""The secrets store: named, versioned, per-workspace values that configuration refers to as
``${secret:NAME}`` instead of holding them (webhook secrets and URLs, pipeline parameters,
deployment environments).

One small interface, ``SecretBackend``, with one file per backend (chosen by the
``secrets_backend`` setting through ``BACKENDS``, the table a plug-in would add to):

- ``builtin`` (``_secrets_builtin.py``): AES-GCM encrypted rows in the metadata store,
  versioned (``put`` adds a version, old ones stay readable for a rotation), key from a file,
  a variable or a KMS plug-in (``_secrets_keys.py``).
- ``env`` (``_secrets_env.py``): read-only, from ``LOOPML_SECRET_<NAME>`` variables.
- ``files`` (``_secrets_files.py``): read-only, one file per secret in a folder: how a
  Kubernetes Secret reaches a pod as a volume.

A reference is resolved at use (``resolve_refs``), never when configuration is loaded or
stored, and every value resolved is registered with ``loopml._redact``, so that a log line or
error message that quotes it shows ``***`` instead.
"""

from __future__ import annotations

import abc
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml._redact import register_secret
from loopml.errors import InvalidConfig, InvalidParameterValue, InvalidState

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from loopml.config import Settings

DEFAULT_WORKSPACE = "default"
# Letters, digits, '_', '.', '-'; no '/' (the files backend maps a name to a file name).
NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,255}"
_NAME = re.compile(NAME_PATTERN)
# Anything that starts like a reference: a malformed one is an error, never left as text.
_REF = re.compile(r"\$\{secret:([^}]*)\}")
_REF_START = "${secret:"


@dataclass(frozen=True)
class SecretValue:
    """One version of a secret. ``value`` is plain text: never log or return it."""

    name: str
    workspace: str
    version: int
    value: str

    def __repr__(self) -> str:  # keeps the value out of tracebacks and debug logs
        return f"SecretValue({self.name!r}, {self.workspace!r}, version={self.version})"


@dataclass(frozen=True)
class SecretInfo:
    """What listing shows: never the value."""

    name: str
    workspace: str
    version: int  # the latest
    created_time: int | None = None  # ms since the epoch, when the backend knows it


def check_name(name: object, where: str = "the secret name") -> str:
    """``name`` when it is a valid secret name, else ``InvalidParameterValue``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidParameterValue(
            f"{where} must be 1-256 letters, digits, '_', '.' or '-' (not starting with '.' "
            f"or '-'). Got {name!r}.")
    return name


class SecretBackend(abc.ABC):
    """Where secret values live. ``workspace`` scopes every name: the same name in two
    workspaces is two secrets. Errors: ``ResourceDoesNotExist`` for an unknown name or
    version, ``InvalidState`` for a write to a read-only backend, ``InvalidParameterValue``
    for a bad name."""

    read_only: bool = False

    @abc.abstractmethod
    def get(self, name: str, workspace: str = DEFAULT_WORKSPACE,
            version: int | None = None) -> SecretValue:
        """The latest version of ``name`` (or ``version``)."""

    @abc.abstractmethod
    def list_names(self, workspace: str = DEFAULT_WORKSPACE) -> list[SecretInfo]:
        """The secrets of ``workspace``, sorted by name, without values."""

    def put(self, name: str, value: str, workspace: str = DEFAULT_WORKSPACE) -> int:
        """Store ``value`` as a new version of ``name`` (creating it); returns the version."""
        raise self._read_only()

    def rotate(self, name: str, value: str, workspace: str = DEFAULT_WORKSPACE) -> int:
        """Like ``put`` for a secret that must already exist; earlier versions stay readable
        until deleted, so consumers can move to the new value one at a time."""
        raise self._read_only()

    def delete(self, name: str, workspace: str = DEFAULT_WORKSPACE) -> None:
        """Delete every version of ``name``."""
        raise self._read_only()

    def _read_only(self) -> InvalidState:
        return InvalidState(
            f"The {type(self).__name__} secrets backend is read-only: change the secret where "
            "it comes from (the variable or the mounted file), or use secrets_backend: builtin.")


# ---- references -------------------------------------------------------------------------


def parse_refs(text: str) -> list[str]:
    """The secret names ``text`` refers to as ``${secret:NAME}``, in order (repeats kept).
    Raises ``InvalidParameterValue`` for a malformed reference (``${secret:}``,
    ``${secret:a b}``, or a ``${secret:`` never closed), so a typo fails loudly instead of
    reaching a receiver as text."""
    names = [check_name(m.group(1), f"The reference {m.group(0)!r}") for m in _REF.finditer(text)]
    if text.count(_REF_START) != len(names):
        raise InvalidParameterValue(
            f"An unclosed '${{secret:' reference in {_shorten(text)!r}: write ${{secret:NAME}}.")
    return names


def has_refs(obj: Any) -> bool:
    """Whether ``obj`` (a string, or lists/mappings of them) holds any reference."""
    if isinstance(obj, str):
        return _REF_START in obj
    if isinstance(obj, Mapping):
        return any(has_refs(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(has_refs(v) for v in obj)
    return False


def resolve_refs(obj: Any, backend: SecretBackend, workspace: str = DEFAULT_WORKSPACE) -> Any:
    """``obj`` with every ``${secret:NAME}`` replaced by the latest value of ``NAME`` in
    ``workspace``; strings inside lists, tuples and mappings too (mapping keys are left
    alone). Other values pass through. Every value used is registered for redaction."""
    if isinstance(obj, str):
        if _REF_START not in obj:
            return obj
        parse_refs(obj)  # validates every reference before any is read

        def one(m: re.Match[str]) -> str:
            value = backend.get(m.group(1), workspace).value
            register_secret(value)
            return value

        return _REF.sub(one, obj)
    if isinstance(obj, Mapping):
        return {k: resolve_refs(v, backend, workspace) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(resolve_refs(v, backend, workspace) for v in obj)
    return obj


def _shorten(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


# ---- backends by name ---------------------------------------------------------------------

BACKENDS: dict[str, str] = {
    "builtin": "loopml.security._secrets_builtin:BuiltinSecretBackend",
    "env": "loopml.security._secrets_env:EnvSecretBackend",
    "files": "loopml.security._secrets_files:FileSecretBackend",
}


def get_secret_backend(settings: Settings | None = None,
                       engine: Engine | None = None) -> SecretBackend:
    """The backend ``settings.secrets_backend`` names (default: loaded settings). The
    built-in one stores in ``engine`` (default: the settings' metadata store). Raises
    ``InvalidConfig`` (exit 2) naming the setting to fix, e.g. a built-in backend without a
    key."""
    from loopml.config import load_settings

    settings = settings or load_settings()
    kind = settings.secrets_backend
    module, _, attr = BACKENDS[kind].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if kind == "env":
        return cls(settings.secrets_env_prefix)  # type: ignore[no-any-return]
    if kind == "files":
        if settings.secrets_dir is None:
            raise InvalidConfig("secrets_backend: files needs secrets_dir (LOOPML_SECRETS_DIR): "
                                "the folder where the secrets are mounted.")
        return cls(settings.secrets_dir)  # type: ignore[no-any-return]
    from loopml.security._secrets_keys import key_provider_from_settings

    keys = key_provider_from_settings(settings)
    if engine is None:  # one store per database in this process, migrated once
        uri = settings.backend_uri
        if uri not in _ENGINES:
            from loopml.store.sql import SqlStore

            _ENGINES[uri] = SqlStore(uri, settings.artifact_root).engine
        engine = _ENGINES[uri]
    return cls(engine, keys)  # type: ignore[no-any-return]


_ENGINES: dict[str, Engine] = {}


def generate_key() -> str:
    """A new random AES-256 key for the built-in backend, as base64 text (what
    ``loopml secrets keygen`` prints): save it in a 0600 file named by
    ``secrets_key_file``, or in ``LOOPML_SECRETS_KEY``."""
    from loopml.security._secrets_keys import generate_key as new_key

    return new_key()


__all__ = ["BACKENDS", "DEFAULT_WORKSPACE", "SecretBackend", "SecretInfo", "SecretValue",
           "check_name", "generate_key", "get_secret_backend", "has_refs", "parse_refs", "resolve_refs"]
