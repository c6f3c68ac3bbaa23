"""The dataset registry store: named, versioned datasets with tags, aliases and lineage.

Backends: ``datasets_sql.py`` (the tracking database, migration 0012: a version and its
``dataset.version_created`` event commit together) and ``datasets_rest.py`` (a loopml
server's ``/api/loopml/v1/datasets``). Datasets that the unmodified MLflow client logs with
``mlflow.log_input`` are registered by the SQL tracking store in the same transaction, so they
are listed here too.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

LINEAGE_KINDS = ("run", "pipeline_run", "model_version")
LINEAGE_ROLES = ("input", "output")


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a named dataset. ``schema``/``profile`` are the JSON forms of
    ``loopml.data.DataSchema``/``Profile`` (empty for a version logged by a client that sent
    none); ``source`` never holds a password; ``artifact_uri`` is the materialised Parquet
    copy, or None."""

    name: str
    version: int
    digest: str
    source: str = ""
    source_type: str = ""
    schema: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    num_rows: int | None = None
    artifact_uri: str | None = None
    description: str = ""
    created_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["aliases"] = list(self.aliases)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetVersion:
        return cls(**{**d, "aliases": tuple(d.get("aliases", ()))})


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    latest_version: int
    num_versions: int
    description: str
    created_time: int
    updated_time: int
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class LineageLink:
    kind: str  # run | pipeline_run | model_version
    ref: str  # run id, pipeline run id, "model/version"
    role: str  # input | output
    created_time: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class DatasetStore(abc.ABC):
    @abc.abstractmethod
    def create_version(self, version: DatasetVersion) -> tuple[DatasetVersion, bool]:
        """Register ``version`` (its ``version`` field is ignored: the next number is taken)
        unless the name already has a version of the same digest. Returns (the version,
        whether it was created). A new version writes ``dataset.version_created``."""

    @abc.abstractmethod
    def list_datasets(self, name_like: str | None = None,
                      limit: int = 100) -> list[DatasetSummary]:
        """By name; ``name_like`` is a SQL LIKE pattern."""

    @abc.abstractmethod
    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Newest first; ResourceDoesNotExist for an unknown name."""

    @abc.abstractmethod
    def get_version(self, name: str, ref: str | int) -> DatasetVersion:
        """``ref``: a version number, an alias, ``latest`` or a digest."""

    @abc.abstractmethod
    def set_tag(self, name: str, key: str, value: str, version: int = 0) -> None:
        """A tag of a version, or of the dataset when ``version`` is 0."""

    @abc.abstractmethod
    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    @abc.abstractmethod
    def delete_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    def add_lineage(self, name: str, version: int, kind: str, ref: str,
                    role: str = "input") -> None:
        """Link a version to a run, pipeline run or model version (idempotent)."""

    @abc.abstractmethod
    def lineage(self, name: str, version: int) -> list[LineageLink]:
        """Explicit links plus the runs that logged the digest as an MLflow input."""


__all__ = [
    "LINEAGE_KINDS", "LINEAGE_ROLES", "DatasetStore", "DatasetSummary", "DatasetVersion", "LineageLink",
]
