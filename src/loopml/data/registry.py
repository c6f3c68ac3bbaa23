"""The dataset registry's Python API: register a table or a URI as a new version of a named
dataset, look versions up, download them and compare two of them.

    from loopml.data.registry import register_dataset, diff_versions
    v = register_dataset("s3://lake/events/day=*/*.parquet", "events", materialize=True)
    diff = diff_versions("events", 1, 2)      # schema changes + a drift report

A version is identified by its content digest (the same digest ``log_input`` records, so a
dataset registered here and the same rows logged as a run input are one version). The
recorded source keeps ``${env:...}``/``${secret:...}`` references and masks literal
passwords, so a later ``download`` can re-read a source that was not materialised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loopml.errors import InvalidParameterValue, InvalidState
from loopml.store.datasets_base import DatasetStore, DatasetVersion

_REF = re.compile(r"\$\{(?:env|secret):[^}]*\}")
DATA_FILE = "data.parquet"


def recordable_source(uri: str) -> str:
    """``uri`` with literal passwords masked but ``${env:..}``/``${secret:..}`` references
    kept (they name a credential without holding it)."""
    from loopml._redact import _PARAM, _USERINFO, MASK

    def userinfo(m: re.Match[str]) -> str:
        keep = _REF.fullmatch(m.group("pw")) is not None
        return m.group("pre") + (m.group("pw") if keep else MASK) + "@"

    def param(m: re.Match[str]) -> str:
        keep = _REF.fullmatch(m.group("pw")) is not None
        return m.group("pre") + (m.group("pw") if keep else MASK)

    return _PARAM.sub(param, _USERINFO.sub(userinfo, uri))


def _client(tracking_uri: str | None = None) -> Any:
    from loopml.tracking._fluent import client, set_tracking_uri

    if tracking_uri is not None:
        set_tracking_uri(tracking_uri)
    return client()


def dataset_store(tracking_uri: str | None = None) -> DatasetStore:
    """The registry beside the current tracking store (SQL or a server)."""
    from loopml.store import get_dataset_store

    return get_dataset_store(_client(tracking_uri).store)


def _read(data: Any) -> tuple[Any, str, str]:
    """(pyarrow Table, recorded source, source type) of a URI/path or an in-memory table."""
    import pyarrow as pa

    if isinstance(data, str | Path):
        from loopml.data.connectors import open_source

        src = open_source(str(data))
        return src.read_table(), recordable_source(str(data)), src.kind
    if isinstance(data, pa.Table):
        return data, "", "memory"
    from loopml.data._io import to_columns

    return pa.table(to_columns(data)), "", "memory"


def table_digest(table: Any) -> str:
    """The content digest ``log_input`` would record for these rows."""
    from loopml.tracking._datasets import dataset_digest

    return dataset_digest(table.to_pandas())


def register_dataset(data: Any, name: str, *, materialize: bool = False,
                     description: str = "", tags: dict[str, str] | None = None,
                     aliases: tuple[str, ...] | list[str] = (), run_id: str | None = None,
                     source: str | None = None,
                     tracking_uri: str | None = None) -> DatasetVersion:
    """Register ``data`` (a path, glob or connector URI, or a table) as a version of
    ``name``: digest, source (credentials masked), schema, profile and row count; with
    ``materialize`` also a Parquet copy in the artifact store. Registering the same rows
    again returns the existing version. ``run_id`` links the version to a run as its input.
    Raises InvalidParameterValue for empty data."""
    from loopml.data.profile import profile as make_profile
    from loopml.data.schema import infer_schema

    table, recorded, kind = _read(data)
    if table.num_rows == 0 or table.num_columns == 0:
        raise InvalidParameterValue(f"Dataset {name!r}: the data has no rows; nothing to "
                                    "register.")
    prof = make_profile(table)
    digest = table_digest(table)
    client = _client(tracking_uri)
    artifact_uri = _materialize(client, table, name, digest) if materialize else None
    from loopml.store import get_dataset_store

    store = get_dataset_store(client.store)
    version, _ = store.create_version(DatasetVersion(
        name, 0, digest, source if source is not None else recorded, kind,
        orjson.loads(infer_schema(prof).to_json()), prof.to_dict(), table.num_rows,
        artifact_uri, description, tags=dict(tags or {})))
    for a in aliases:
        store.set_alias(name, a, version.version)
    if run_id:
        store.add_lineage(name, version.version, "run", run_id, "input")
    if aliases:
        version = store.get_version(name, version.version)
    return version


def _materialize(client: Any, table: Any, name: str, digest: str) -> str:
    import tempfile

    import pyarrow.parquet as pq

    uri = f"mlflow-artifacts:/datasets/{name}/{digest}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, DATA_FILE)
        pq.write_table(table, path)
        client.artifact_store(uri).put_file(DATA_FILE, path)
    return uri


def download_dataset(name: str, ref: str | int, dest: str | Path, *,
                     tracking_uri: str | None = None) -> Path:
    """Write version ``ref`` of ``name`` as Parquet to ``dest``: the materialised copy, or
    else the source read again, checked against the recorded digest (InvalidState naming
    both digests when the source has changed since). Written to a temporary name and
    renamed, so ``dest`` is never half-written."""
    import os

    import pyarrow.parquet as pq

    client = _client(tracking_uri)
    from loopml.store import get_dataset_store

    v = get_dataset_store(client.store).get_version(name, ref)
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.part")
    if v.artifact_uri:
        client.artifact_store(v.artifact_uri).get_file(DATA_FILE, tmp)
    else:
        if not v.source or "***" in v.source:
            raise InvalidState(
                f"Dataset {name!r} version {v.version} has no materialised copy and its source "
                f"{v.source or '(none)'} cannot be read again (a masked password); register it "
                "with materialize=True, or with the credential as ${env:NAME}.")
        table, _, _ = _read(v.source)
        now = table_digest(table)
        if now != v.digest:
            raise InvalidState(
                f"Dataset {name!r} version {v.version}: the source {v.source} has changed since "
                f"it was registered (digest {v.digest}, now {now}); register the new content "
                "as a new version.")
        pq.write_table(table, tmp)
    os.replace(tmp, dest)
    return dest


@dataclass
class DatasetDiff:
    """Schema and distribution differences from version ``a`` to version ``b``."""

    name: str
    a: int
    b: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    type_changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    rows: tuple[int | None, int | None] = (None, None)
    drift: Any = None  # a loopml.data.DriftReport, or None without profiles on both sides

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "a": self.a, "b": self.b, "added": self.added,
                "removed": self.removed,
                "type_changed": {k: list(v) for k, v in self.type_changed.items()},
                "rows": list(self.rows),
                "drift": self.drift.to_dict() if self.drift is not None else None}


def _column_types(schema: dict[str, Any]) -> dict[str, str]:
    """Column -> type from a loopml DataSchema or an MLflow colspec schema."""
    if isinstance(schema.get("columns"), list):
        return {str(c.get("name")): str(c.get("type") or c.get("kind") or "")
                for c in schema["columns"] if isinstance(c, dict)}
    if isinstance(schema.get("columns"), dict):
        return {str(k): str(v.get("type") or v.get("kind") or "") if isinstance(v, dict)
                else str(v) for k, v in schema["columns"].items()}
    spec = schema.get("mlflow_colspec")
    if isinstance(spec, list):
        return {str(c.get("name")): str(c.get("type")) for c in spec if isinstance(c, dict)}
    return {}


def diff_versions(name: str, a: str | int, b: str | int, *,
                  tracking_uri: str | None = None) -> DatasetDiff:
    """Compare two versions: columns added, removed or retyped, row counts, and a drift
    report of ``b`` against ``a`` from their stored profiles (no data is read)."""
    from loopml.data.drift import detect_drift
    from loopml.data.profile import Profile

    store = dataset_store(tracking_uri)
    va, vb = store.get_version(name, a), store.get_version(name, b)
    ta, tb = _column_types(va.schema), _column_types(vb.schema)
    out = DatasetDiff(name, va.version, vb.version,
                      added=[c for c in tb if c not in ta],
                      removed=[c for c in ta if c not in tb],
                      type_changed={c: (ta[c], tb[c]) for c in ta
                                    if c in tb and ta[c] != tb[c]},
                      rows=(va.num_rows, vb.num_rows))
    if va.profile.get("columns") and vb.profile.get("columns"):
        try:
            out.drift = detect_drift(Profile.from_dict(va.profile),
                                     Profile.from_dict(vb.profile))
        except InvalidParameterValue:
            out.drift = None  # no shared column: the schema diff says it all
    return out


__all__ = [
    "DatasetDiff", "dataset_store", "diff_versions", "download_dataset", "recordable_source", "register_dataset", "table_digest",
]
