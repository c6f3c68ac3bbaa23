"""The dataset registry contract every DatasetStore backend passes (SQLite, PostgreSQL,
REST). Subclass and provide a ``datasets`` fixture."""

from __future__ import annotations

import pytest

from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
from loopml.security.workspaces import use_workspace
from loopml.store.datasets_base import DatasetStore, DatasetVersion


def _v(name: str, digest: str, rows: int = 10) -> DatasetVersion:
    return DatasetVersion(name, 0, digest, "s3://b/k.parquet", "s3",
                          {"columns": [{"name": "x", "type": "float"}]}, {}, rows,
                          tags={"team": "risk"})


class DatasetStoreContract:
    """Also needs ``workspace``: a fresh workspace beside the store
    (``loopml.testing._workspaces.new_workspace``)."""

    def test_names_unique_per_workspace(self, datasets: DatasetStore, workspace: str) -> None:
        datasets.create_version(_v("churn", "d1"))
        datasets.set_alias("churn", "golden", 1)
        with use_workspace(workspace):
            v, created = datasets.create_version(_v("churn", "d1", 5))  # same content
            assert (v.version, created, v.num_rows) == (1, True, 5)
            datasets.create_version(_v("churn", "d2"))
            assert [x.version for x in datasets.list_versions("churn")] == [2, 1]
            with pytest.raises(ResourceDoesNotExist):
                datasets.get_version("churn", "golden")
            assert [d.name for d in datasets.list_datasets(name_like="churn")] == ["churn"]
        assert [x.version for x in datasets.list_versions("churn")] == [1]
        assert datasets.get_version("churn", "golden").num_rows == 10

    def test_versions_number_by_digest(self, datasets: DatasetStore) -> None:
        v1, c1 = datasets.create_version(_v("events", "d1"))
        v1b, c1b = datasets.create_version(_v("events", "d1"))
        v2, c2 = datasets.create_version(_v("events", "d2", 20))
        assert (v1.version, c1, v1b.version, c1b, v2.version, c2) == (1, True, 1, False, 2, True)
        assert v2.num_rows == 20 and v2.tags == {"team": "risk"}
        assert v2.schema["columns"][0]["name"] == "x" and v2.source == "s3://b/k.parquet"
        assert [v.version for v in datasets.list_versions("events")] == [2, 1]
        summary = {d.name: d for d in datasets.list_datasets()}["events"]
        assert (summary.latest_version, summary.num_versions) == (2, 2)
        assert [d.name for d in datasets.list_datasets(name_like="ev%")] == ["events"]

    def test_refs_aliases_tags(self, datasets: DatasetStore) -> None:
        datasets.create_version(_v("t", "a"))
        datasets.create_version(_v("t", "b"))
        datasets.set_alias("t", "golden", 1)
        assert datasets.get_version("t", "golden").version == 1
        assert datasets.get_version("t", "latest").version == 2
        assert datasets.get_version("t", "b").version == 2  # by digest
        assert datasets.get_version("t", 1).aliases == ("golden",)
        datasets.set_alias("t", "golden", 2)  # moves
        assert datasets.get_version("t", "golden").version == 2
        datasets.delete_alias("t", "golden")
        with pytest.raises(ResourceDoesNotExist):
            datasets.get_version("t", "golden")
        datasets.set_tag("t", "owner", "me", version=2)
        datasets.set_tag("t", "domain", "fraud")
        assert datasets.get_version("t", 2).tags["owner"] == "me"
        assert {d.name: d for d in datasets.list_datasets()}["t"].tags == {"domain": "fraud"}
        with pytest.raises(InvalidParameterValue):
            datasets.set_alias("t", "3", 1)
        with pytest.raises(ResourceDoesNotExist):
            datasets.set_alias("t", "x", 9)

    def test_lineage(self, datasets: DatasetStore) -> None:
        datasets.create_version(_v("l", "a"))
        datasets.add_lineage("l", 1, "model_version", "fraud/3", "input")
        datasets.add_lineage("l", 1, "model_version", "fraud/3", "input")  # idempotent
        datasets.add_lineage("l", 1, "pipeline_run", "p1", "output")
        links = {(x.kind, x.ref, x.role) for x in datasets.lineage("l", 1)}
        assert links == {("model_version", "fraud/3", "input"), ("pipeline_run", "p1", "output")}
        with pytest.raises(InvalidParameterValue):
            datasets.add_lineage("l", 1, "table", "x")

    def test_unknown_names_and_bad_names(self, datasets: DatasetStore) -> None:
        with pytest.raises(ResourceDoesNotExist):
            datasets.list_versions("nope")
        with pytest.raises(ResourceDoesNotExist):
            datasets.get_version("nope", "latest")
        with pytest.raises(InvalidParameterValue):
            datasets.create_version(_v("a/b", "x"))


__all__ = [
    "DatasetStoreContract",
]
