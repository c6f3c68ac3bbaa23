"""The one small interface every data source implements, and the registry that picks the
backend by URI scheme.

A :class:`DataSource` is opened from a URI (``open_source``) and yields Arrow record batches
(``batches``): a file of any size, a database query or a DuckDB query is read a bounded number
of rows at a time, never whole, unless the caller asks for ``read_table``. Backends register
their schemes in ``_REGISTRY`` (the built-ins use the same table); no if-chains.

Credentials never travel in messages: every error and ``describe()`` shows the URI through
``loopml._redact.redact_uri``. A URI may name its secrets by reference instead of inline:
``${env:NAME}`` (an environment variable) or ``${secret:NAME}`` (the secrets store, resolved
by the hook :func:`set_secret_resolver`), so the stored/registered URI holds no password.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from loopml._redact import redact_text, redact_uri
from loopml.errors import InvalidParameterValue, InvalidState

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_BATCH_ROWS = 65_536

_REF = re.compile(r"\$\{(?P<kind>env|secret):(?P<name>[A-Za-z_][A-Za-z0-9_./-]*)\}")
_secret_resolver: Callable[[str], str | None] | None = None


class DataChanged(InvalidState):
    """The source changed while it was being read (its size, modification time or ETag
    differ before and after): the batches read mix two versions, so none of them is used."""


def set_secret_resolver(resolver: Callable[[str], str | None] | None) -> None:
    """Install the function that turns ``${secret:NAME}`` into its value (the secrets store
    of the security package registers itself here); None removes it. The resolver returns
    None for an unknown name."""
    global _secret_resolver
    _secret_resolver = resolver


def resolve_references(uri: str) -> str:
    """``uri`` with every ``${env:NAME}`` and ``${secret:NAME}`` replaced by its value.
    Raises InvalidParameterValue naming the reference (never a value) when one is unset."""

    def sub(m: re.Match[str]) -> str:
        kind, name = m.group("kind"), m.group("name")
        if kind == "env":
            value = os.environ.get(name)
        elif _secret_resolver is None:
            raise InvalidParameterValue(
                f"{m.group(0)}: no secrets store is configured in this process; pass the "
                f"credential as ${{env:NAME}} (an environment variable) instead.")
        else:
            value = _secret_resolver(name)
        if value is None:
            raise InvalidParameterValue(f"{m.group(0)} is not set: define it and retry.")
        from urllib.parse import quote

        # Inside a URI a password must be percent-encoded ('@', '/', ':' would split it).
        return quote(value, safe="")

    return _REF.sub(sub, uri)


def scheme_of(uri: str) -> str:
    """The backend key of ``uri``: the scheme before ``://`` (``postgresql+psycopg`` ->
    ``postgresql+psycopg``), or ``file`` for a plain path or glob."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*)://", uri)
    if m is None or len(m.group(1)) == 1:  # a Windows drive letter is a path
        return "file"
    return m.group(1).lower()


def is_uri(value: Any) -> bool:
    """Whether a string should be read through a connector rather than as a plain path:
    it has a scheme or glob characters."""
    return isinstance(value, str) and (scheme_of(value) != "file" or any(
        ch in value for ch in "*?["))


class DataSource(ABC):
    """An opened source. Subclasses read lazily: opening checks the URI's form only;
    ``schema``/``batches`` talk to the backend.

    ``uri`` is what the user gave (references unresolved), ``redacted`` is what messages and
    records show."""

    schemes: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = "source"

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.redacted = redact_uri(uri)

    @abstractmethod
    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS,
                columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``batch_rows`` rows (only ``columns`` when given), in
        source order. Raises a LoopmlError subclass with a redacted message on failure, and
        :class:`DataChanged` if the source changed between the first and the last batch."""

    def schema(self) -> pa.Schema:
        """The Arrow schema of the rows (the default reads one batch to learn it)."""
        it: Any = self.batches(batch_rows=1024)  # a generator: close() is what we need
        try:
            for batch in it:
                return batch.schema
        finally:
            it.close()  # let a database cursor go now, not at garbage collection
        raise InvalidParameterValue(f"{self.redacted}: the source returned no columns.")

    def read_table(self, columns: list[str] | None = None) -> pa.Table:
        """Every row at once (the caller accepts the memory cost)."""
        import pyarrow as pa

        batches = list(self.batches(columns=columns))
        if not batches:
            return pa.table({})
        return pa.Table.from_batches(batches)

    def describe(self) -> dict[str, str]:
        """What a record of this read may keep: the redacted URI and the backend kind."""
        return {"source": self.redacted, "source_type": self.kind}

    def error(self, what: str, e: BaseException | str) -> str:
        """A one-line message about ``e`` with every credential masked."""
        text = e if isinstance(e, str) else (" ".join(str(e).split()) or type(e).__name__)
        return redact_text(f"{self.redacted}: {what}: {text}")


_REGISTRY: dict[str, type[DataSource]] = {}


def register_source(cls: type[DataSource]) -> type[DataSource]:
    """Class decorator: ``cls`` reads every scheme in ``cls.schemes``."""
    for s in cls.schemes:
        _REGISTRY[s] = cls
    return cls


def _load_builtins() -> None:
    # Imported on first use: each backend imports its driver lazily too, so the CLI's
    # start does not pay for pyarrow.fs, SQLAlchemy or DuckDB.
    from loopml.data.connectors import duckdb_source, files, sql  # noqa: F401


def registered_schemes() -> list[str]:
    """The URI schemes a data source is registered for (``""`` is a local path), sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def open_source(uri: str) -> DataSource:
    """The DataSource for ``uri``. Raises InvalidParameterValue for an unknown scheme,
    listing the known ones."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidParameterValue("A data URI must be a non-empty string.")
    _load_builtins()
    scheme = scheme_of(uri)
    cls = _REGISTRY.get(scheme) or _REGISTRY.get(scheme.split("+")[0])
    if cls is None:
        cls = _fsspec_fallback(scheme)
    if cls is None:
        raise InvalidParameterValue(
            f"{redact_uri(uri)}: no connector reads '{scheme}://' URIs. Known: "
            f"{', '.join(sorted(_REGISTRY))}.")
    return cls(uri)


def _fsspec_fallback(scheme: str) -> type[DataSource] | None:
    """Any file system fsspec knows (gcs, abfs, hdfs, http...) when its package is there."""
    try:
        import fsspec

        fsspec.get_filesystem_class(scheme)
    except (ImportError, ValueError):
        return None
    from loopml.data.connectors.files import FsspecFiles

    return FsspecFiles


__all__ = [
    "DEFAULT_BATCH_ROWS", "DataChanged", "DataSource", "is_uri", "open_source", "register_source", "registered_schemes", "resolve_references", "scheme_of", "set_secret_resolver",
]
