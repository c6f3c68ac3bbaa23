"""Contract tests every ``RegistryStore`` backend must pass (SQLite, PostgreSQL, REST).

Subclass ``RegistryStoreContract`` and provide two fixtures: ``registry`` (a fresh registry)
and ``tracking`` (the tracking store beside it, used to create the runs versions come from).
"""

from __future__ import annotations

import uuid

import pytest

from loopml.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from loopml.security.workspaces import use_workspace
from loopml.store.base import TrackingStore
from loopml.store.registry_base import RegistryStore
from loopml.testing._workspaces import new_workspace


def _name() -> str:
    return f"model-{uuid.uuid4().hex[:8]}"


class RegistryStoreContract:
    def _source(self, tracking: TrackingStore) -> tuple[str, str]:
        run = tracking.create_run("0", run_name="train")
        return f"runs:/{run.info.run_id}/model", run.info.run_id

    def _version(self, registry: RegistryStore, tracking: TrackingStore, name: str) -> int:
        src, rid = self._source(tracking)
        return registry.create_model_version(name, src, run_id=rid).version

    # ---- registered models ---------------------------------------------------------------
    def test_create_get(self, registry: RegistryStore) -> None:
        n = _name()
        m = registry.create_registered_model(n, {"team": "risk"}, "fraud model")
        assert m.name == n and m.tags == {"team": "risk"} and m.description == "fraud model"
        got = registry.get_registered_model(n)
        assert got.tags == {"team": "risk"} and got.creation_timestamp > 0

    def test_duplicate_name(self, registry: RegistryStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        with pytest.raises(ResourceAlreadyExists):
            registry.create_registered_model(n)

    def test_names_unique_per_workspace(self, registry: RegistryStore,
                                        tracking: TrackingStore) -> None:
        """Two workspaces may each register a model of one name; each sees its own."""
        ws, n = new_workspace(tracking), _name()
        registry.create_registered_model(n, {"owner": "default"}, "default's")
        v_default = self._version(registry, tracking, n)
        with use_workspace(ws):
            registry.create_registered_model(n, {"owner": ws}, "team's")
            with pytest.raises(ResourceAlreadyExists):
                registry.create_registered_model(n)
            src = f"runs:/{tracking.create_run(tracking.create_experiment(n)).info.run_id}/m"
            mv = registry.create_model_version(n, src, tags={"k": "team"})
            assert mv.version == 1  # numbered per (workspace, name)
            registry.set_registered_model_alias(n, "champion", 1)
            got = registry.get_registered_model(n)
            assert (got.description, got.tags, got.aliases) == ("team's", {"owner": ws},
                                                                 {"champion": 1})
            assert [m.name for m in registry.search_registered_models(
                f"name = '{n}'")] == [n]
            assert [(v.version, v.tags) for v in registry.search_model_versions(
                f"name = '{n}'")] == [(1, {"k": "team"})]
            assert registry.search_registered_models(f"tags.owner = '{ws}'").items[0].name == n
        got = registry.get_registered_model(n)
        assert (got.description, got.tags, got.aliases) == ("default's", {"owner": "default"},
                                                             {})
        assert registry.get_model_version(n, v_default).tags == {}
        assert not registry.search_registered_models(f"tags.owner = '{ws}'").items
        registry.delete_registered_model(n)  # default's only
        with use_workspace(ws):
            assert registry.get_model_version_by_alias(n, "champion").version == 1

    def test_missing(self, registry: RegistryStore) -> None:
        with pytest.raises(ResourceDoesNotExist):
            registry.get_registered_model("nope-" + uuid.uuid4().hex)
        with pytest.raises(ResourceDoesNotExist):
            registry.get_model_version("nope-" + uuid.uuid4().hex, 1)

    def test_bad_names(self, registry: RegistryStore) -> None:
        for bad in ("", "a/b", " padded"):
            with pytest.raises(InvalidParameterValue):
                registry.create_registered_model(bad)

    def test_rename_keeps_versions_tags_aliases(
        self, registry: RegistryStore, tracking: TrackingStore
    ) -> None:
        n, n2 = _name(), _name()
        registry.create_registered_model(n)
        v = self._version(registry, tracking, n)
        registry.set_model_version_tag(n, v, "k", "v")
        registry.set_registered_model_alias(n, "champion", v)
        registry.rename_registered_model(n, n2)
        mv = registry.get_model_version_by_alias(n2, "champion")
        assert mv.version == v and mv.tags == {"k": "v"} and mv.name == n2
        with pytest.raises(ResourceDoesNotExist):
            registry.get_registered_model(n)

    def test_update_and_tags(self, registry: RegistryStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        assert registry.update_registered_model(n, "new").description == "new"
        registry.set_registered_model_tag(n, "a", "1")
        registry.set_registered_model_tag(n, "a", "2")
        assert registry.get_registered_model(n).tags == {"a": "2"}
        registry.delete_registered_model_tag(n, "a")
        assert registry.get_registered_model(n).tags == {}

    def test_delete_model_deletes_versions(
        self, registry: RegistryStore, tracking: TrackingStore
    ) -> None:
        n = _name()
        registry.create_registered_model(n)
        self._version(registry, tracking, n)
        registry.delete_registered_model(n)
        with pytest.raises(ResourceDoesNotExist):
            registry.get_model_version(n, 1)
        registry.create_registered_model(n)  # the name is free again
        assert self._version(registry, tracking, n) == 1

    def test_search_and_paging(self, registry: RegistryStore) -> None:
        prefix = f"pg-{uuid.uuid4().hex[:6]}"
        for i in range(7):
            registry.create_registered_model(f"{prefix}-{i}", {"i": str(i)})
        seen, token = [], None
        while True:
            page = registry.search_registered_models(
                f"name LIKE '{prefix}-%'", max_results=3, page_token=token)
            seen += [m.name for m in page]
            token = page.next_page_token
            if not token:
                break
        assert seen == sorted(f"{prefix}-{i}" for i in range(7))
        tagged = registry.search_registered_models(f"name LIKE '{prefix}%' AND tags.i = '3'")
        assert [m.name for m in tagged] == [f"{prefix}-3"]
        with pytest.raises(InvalidParameterValue):
            registry.search_registered_models("name >>> 3")

    # ---- versions -----------------------------------------------------------------------
    def test_versions_number_up_and_never_reuse(
        self, registry: RegistryStore, tracking: TrackingStore
    ) -> None:
        n = _name()
        registry.create_registered_model(n)
        assert [self._version(registry, tracking, n) for _ in range(3)] == [1, 2, 3]
        registry.delete_model_version(n, 3)
        assert self._version(registry, tracking, n) == 4

    def test_version_fields(self, registry: RegistryStore, tracking: TrackingStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        src, rid = self._source(tracking)
        mv = registry.create_model_version(n, src, run_id=rid, tags={"t": "1"},
                                           description="first")
        assert (mv.version, mv.run_id, mv.source, mv.status) == (1, rid, src, "READY")
        assert mv.tags == {"t": "1"} and mv.description == "first" and not mv.trusted
        assert registry.update_model_version(n, 1, "changed").description == "changed"
        assert registry.get_model_version(n, "1").description == "changed"

    def test_version_tags(self, registry: RegistryStore, tracking: TrackingStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        v = self._version(registry, tracking, n)
        registry.set_model_version_tag(n, v, "stage", "qa")
        assert registry.get_model_version(n, v).tags == {"stage": "qa"}
        registry.delete_model_version_tag(n, v, "stage")
        assert registry.get_model_version(n, v).tags == {}

    def test_bad_version(self, registry: RegistryStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        for bad in ("x", "0", "-1"):
            with pytest.raises(InvalidParameterValue):
                registry.get_model_version(n, bad)
        with pytest.raises(ResourceDoesNotExist):
            registry.get_model_version(n, 99)

    def test_stages_and_latest(self, registry: RegistryStore, tracking: TrackingStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        v1, v2, v3 = (self._version(registry, tracking, n) for _ in range(3))
        registry.transition_model_version_stage(n, v1, "Production")
        registry.transition_model_version_stage(n, v2, "production", archive_existing_versions=True)
        assert registry.get_model_version(n, v1).current_stage == "Archived"
        latest = {v.current_stage: v.version for v in registry.get_latest_versions(n)}
        assert latest == {"Archived": v1, "Production": v2, "None": v3}
        assert [v.version for v in registry.get_latest_versions(n, ["Production"])] == [v2]
        with pytest.raises(InvalidParameterValue):
            registry.transition_model_version_stage(n, v3, "Live")

    def test_search_versions(self, registry: RegistryStore, tracking: TrackingStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        src, rid = self._source(tracking)
        registry.create_model_version(n, src, run_id=rid, tags={"kind": "gbm"})
        self._version(registry, tracking, n)
        by_name = registry.search_model_versions(f"name = '{n}'")
        assert [v.version for v in by_name] == [2, 1]
        assert [v.version for v in registry.search_model_versions(f"run_id = '{rid}'")] == [1]
        assert [v.version for v in registry.search_model_versions(
            f"run_id IN ('{rid}', 'x')")] == [1]
        assert [v.version for v in registry.search_model_versions(
            f"name = '{n}' AND tags.kind = 'gbm'")] == [1]
        page = registry.search_model_versions(f"name = '{n}'", max_results=1)
        assert len(page) == 1 and page.next_page_token

    # ---- aliases -------------------------------------------------------------------------
    def test_aliases(self, registry: RegistryStore, tracking: TrackingStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        v1, v2 = self._version(registry, tracking, n), self._version(registry, tracking, n)
        registry.set_registered_model_alias(n, "champion", v1)
        assert registry.get_model_version_by_alias(n, "champion").version == v1
        registry.set_registered_model_alias(n, "champion", v2)  # moves
        assert registry.get_model_version_by_alias(n, "champion").version == v2
        assert registry.get_model_version(n, v2).aliases == ("champion",)
        assert registry.get_registered_model(n).aliases == {"champion": v2}
        registry.delete_registered_model_alias(n, "champion")
        with pytest.raises(ResourceDoesNotExist):
            registry.get_model_version_by_alias(n, "champion")

    def test_alias_rules(self, registry: RegistryStore, tracking: TrackingStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        v = self._version(registry, tracking, n)
        for bad in ("latest", "v3", "has space", ""):
            with pytest.raises(InvalidParameterValue):
                registry.set_registered_model_alias(n, bad, v)
        with pytest.raises(ResourceDoesNotExist):
            registry.set_registered_model_alias(n, "champion", 42)

    def test_deleting_version_drops_its_aliases(
        self, registry: RegistryStore, tracking: TrackingStore
    ) -> None:
        n = _name()
        registry.create_registered_model(n)
        v = self._version(registry, tracking, n)
        registry.set_registered_model_alias(n, "champion", v)
        registry.delete_model_version(n, v)
        with pytest.raises(ResourceDoesNotExist):
            registry.get_model_version_by_alias(n, "champion")

    def test_trust_mark(self, registry: RegistryStore, tracking: TrackingStore) -> None:
        n = _name()
        registry.create_registered_model(n)
        v = self._version(registry, tracking, n)
        assert not registry.get_model_version(n, v).trusted
        registry.set_model_version_trusted(n, v, True)
        assert registry.get_model_version(n, v).trusted
        registry.set_model_version_trusted(n, v, False)
        assert not registry.get_model_version(n, v).trusted
