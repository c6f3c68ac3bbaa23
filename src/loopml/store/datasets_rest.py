"""The dataset registry over a loopml server's ``/api/loopml/v1/datasets``."""

from __future__ import annotations

from loopml.store.datasets_base import (
    DatasetStore,
    DatasetSummary,
    DatasetVersion,
    LineageLink,
)
from loopml.store.rest import RestStore

_API = "/api/loopml/v1/datasets"


class RestDatasetStore(DatasetStore):
    def __init__(self, tracking: RestStore) -> None:
        self._rest = tracking

    def create_version(self, version: DatasetVersion) -> tuple[DatasetVersion, bool]:
        d = self._rest._call("POST", f"{_API}/create-version", {"version": version.to_dict()})
        return DatasetVersion.from_dict(d["version"]), bool(d["created"])

    def list_datasets(self, name_like: str | None = None,
                      limit: int = 100) -> list[DatasetSummary]:
        d = self._rest._call("GET", _API, {"name_like": name_like, "limit": limit})
        return [DatasetSummary(**x) for x in d["datasets"]]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        d = self._rest._call("GET", f"{_API}/{name}/versions")
        return [DatasetVersion.from_dict(x) for x in d["versions"]]

    def get_version(self, name: str, ref: str | int) -> DatasetVersion:
        d = self._rest._call("GET", f"{_API}/{name}/versions/{ref}")
        return DatasetVersion.from_dict(d["version"])

    def set_tag(self, name: str, key: str, value: str, version: int = 0) -> None:
        self._rest._call("POST", f"{_API}/{name}/tags", {"key": key, "value": value,
                                                         "version": version})

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._rest._call("POST", f"{_API}/{name}/aliases", {"alias": alias,
                                                            "version": version})

    def delete_alias(self, name: str, alias: str) -> None:
        self._rest._call("DELETE", f"{_API}/{name}/aliases/{alias}")

    def add_lineage(self, name: str, version: int, kind: str, ref: str,
                    role: str = "input") -> None:
        self._rest._call("POST", f"{_API}/{name}/versions/{version}/lineage",
                         {"kind": kind, "ref": ref, "role": role})

    def lineage(self, name: str, version: int) -> list[LineageLink]:
        d = self._rest._call("GET", f"{_API}/{name}/versions/{version}/lineage")
        return [LineageLink(**x) for x in d["links"]]


__all__ = [
    "RestDatasetStore",
]
