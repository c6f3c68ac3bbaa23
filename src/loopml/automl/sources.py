"""Where a build's data comes from: a CSV/Parquet path, a registered dataset
(``dataset:NAME``, ``dataset:NAME@VERSION|ALIAS``) or a connector URI (``s3://...``,
``postgresql://...?query=``, ``duckdb://?query=...``; see ``loopml.data.connectors``).

``fingerprint(data)`` is what the build's cache keys on: a file's size, mtime and a sha256
of its bytes, a dataset version's digest, or the URI itself for a connector (a source
that changes under the same URI must be registered as a dataset version to be cached
correctly).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from loopml.automl.checks import BuildInputError

_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _dataset_ref(data: str) -> tuple[str, str]:
    name, _, ref = data.removeprefix("dataset:").partition("@")
    if not name:
        raise BuildInputError(f"{data!r}: name the dataset, e.g. dataset:churn@3.")
    return name, ref or "latest"


def fingerprint(data: str, tracking_uri: str | None = None) -> str:
    """A digest that changes when the content behind ``data`` changes (see module doc)."""
    if data.startswith("dataset:"):
        from loopml.data.registry import dataset_store

        name, ref = _dataset_ref(data)
        return f"dataset:{dataset_store(tracking_uri).get_version(name, ref).digest}"
    p = Path(data)
    if p.is_file():
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return f"file:{h.hexdigest()}"
    return f"uri:{data}"


def load(data: str, tracking_uri: str | None = None) -> Any:
    """The rows behind ``data`` as a pandas DataFrame. Raises ``BuildInputError`` for a
    missing file, an unknown suffix, an empty or unreadable file."""
    import pandas as pd

    if data.startswith("dataset:"):
        import tempfile

        from loopml.data.registry import download_dataset

        name, ref = _dataset_ref(data)
        with tempfile.TemporaryDirectory(prefix="loopml-build-") as tmp:
            path = download_dataset(name, ref, Path(tmp) / "data.parquet",
                                    tracking_uri=tracking_uri)
            return pd.read_parquet(path)
    p = Path(data)
    if p.suffix.lower() in _SUFFIXES or p.exists():
        if not p.is_file():
            raise BuildInputError(f"No such file: {data}.")
        kind = _SUFFIXES.get(p.suffix.lower())
        if kind is None:
            raise BuildInputError(f"{data}: expected a .csv or .parquet file.")
        if p.stat().st_size == 0:
            raise BuildInputError(f"{data} is empty (0 bytes); upload a file with a header "
                                  "row and data rows.")
        try:
            return pd.read_csv(p) if kind == "csv" else pd.read_parquet(p)
        except pd.errors.EmptyDataError:
            raise BuildInputError(f"{data} has no columns; upload a file with a header row.") \
                from None
        except (ValueError, OSError, pd.errors.ParserError) as e:
            raise BuildInputError(f"{data} cannot be read as {kind}: {e}") from None
    from loopml.data.connectors import is_uri, open_source

    if not is_uri(data):
        raise BuildInputError(f"{data!r} is not a file, a dataset:NAME[@VERSION] reference or "
                              "a connector URI (s3://, postgresql://..., duckdb://...).")
    return open_source(data).read_table().to_pandas()


__all__ = ["fingerprint", "load"]
