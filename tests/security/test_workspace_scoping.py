"""Issue 16: what the tenancy work left unscoped is now per workspace: target profiles,
monitor results and alert states (and a monitor's workspace key), pipeline triggers and
the step cache, loops' active slot, audit and consumer cursors; SET_DEFAULT refuses a name
both workspaces use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from loopml.errors import InvalidParameterValue, InvalidState, ResourceDoesNotExist
from loopml.security._workspaces_sql import SqlWorkspaceStore
from loopml.security.workspaces import ALL_WORKSPACES, use_workspace
from loopml.store.loops_base import Loop
from loopml.store.loops_sql import SqlLoopStore
from loopml.store.monitoring_base import AlertState, WindowResult
from loopml.store.monitoring_sql import SqlMonitoringStore
from loopml.store.pipelines_base import PipelineRun, Trigger
from loopml.store.pipelines_sql import SqlPipelineStore
from loopml.store.registry_sql import SqlRegistryStore
from loopml.store.sql import SqlStore


@pytest.fixture
def store(tmp_path) -> Iterator[SqlStore]:  # type: ignore[no-untyped-def]
    s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    SqlWorkspaceStore(s.engine).create("team-a")
    yield s
    s.close()


def test_target_profiles_are_per_workspace(store: SqlStore) -> None:
    from loopml.targets import ProfileStore, profile_from_dict
    from loopml.tracking._client import TrackingClient

    profiles = ProfileStore(TrackingClient(store=store))  # one instance, two workspaces
    profiles.create(profile_from_dict({"name": "edge", "hardware": {"cpu": {"cores": 1}}}))
    with use_workspace("team-a"):
        with pytest.raises(ResourceDoesNotExist):
            profiles.get("edge")
        assert profiles.create(profile_from_dict(
            {"name": "edge", "hardware": {"cpu": {"cores": 8}}})) == 1
        assert profiles.get("edge")[0].hardware.cpu.cores == 8
        exp = store.get_experiment_by_name("loopml-targets")
        assert exp is not None and exp.workspace == "team-a"
    assert profiles.get("edge")[0].hardware.cpu.cores == 1


def test_monitor_results_and_alert_states_are_per_workspace(store: SqlStore) -> None:
    mon = SqlMonitoringStore(store.engine)
    assert mon.put_result(WindowResult("m", 0, 10, {"x": 1.0}))
    with use_workspace("team-a"):
        assert mon.last_window_end("m") == 0  # default's window is not team-a's cursor
        assert mon.put_result(WindowResult("m", 0, 20, {"x": 2.0}))  # same key, own row
        assert mon.put_alert_state("m", "r", "s", None, AlertState(1, True, 20))
        assert [r.metrics for r in mon.results("m")] == [{"x": 2.0}]
    assert mon.last_window_end("m") == 10 and mon.alert_states("m") == {}
    with use_workspace(ALL_WORKSPACES), pytest.raises(InvalidParameterValue, match="several"):
        mon.results("m")  # serving every workspace: the name is ambiguous


def test_a_monitor_spec_names_its_workspace(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loopml.errors import InvalidConfig
    from loopml.monitoring.spec import load_specs

    base = "- {name: m, deployment: d, log_dir: /x, workspace: %s}\n"
    f = tmp_path / "m.yaml"
    f.write_text(base % "team-a" + base % "default")  # one name in two workspaces: fine
    assert [s.workspace for s in load_specs(f)] == ["team-a", "default"]
    f.write_text(base % "Not_Valid")
    with pytest.raises(InvalidConfig, match="workspace"):
        load_specs(f)


def test_triggers_and_the_step_cache_are_per_workspace(store: SqlStore) -> None:
    pipes = SqlPipelineStore(store.engine)

    def trig() -> Trigger:
        return Trigger("nightly", "m:p", "cron", {"cron": "* * * * *"}, marker=1000)

    pipes.create_trigger(trig())
    pipes.cache_put("k", "r1", "s", {"out": "default's"})
    with use_workspace("team-a"):
        assert pipes.create_trigger(trig()).workspace == "team-a"
        assert pipes.cache_get("k") is None  # never another workspace's outputs
        run = PipelineRun(uuid.uuid4().hex, "p", "m:p", {}, "PENDING", creation_time=1)
        assert pipes.fire_trigger("nightly", 1000, 2000, run)
        assert pipes.get_run(run.run_id).workspace == "team-a"
    assert [t.marker for t in pipes.list_triggers()] == [1000]  # default's did not move
    assert pipes.cache_get("k") == ("r1", {"out": "default's"})
    with use_workspace(ALL_WORKSPACES):
        assert sorted(t.workspace for t in pipes.list_triggers()) == ["default", "team-a"]


def test_loops_keep_one_active_slot_per_workspace(store: SqlStore) -> None:
    reg, loops = SqlRegistryStore(store.engine), SqlLoopStore(store.engine)

    def loop() -> Loop:
        return Loop(uuid.uuid4().hex, "churn", "p", "RETRAINING", {})

    reg.create_registered_model("churn")
    assert loops.create_loop(loop(), "go", {})
    with use_workspace("team-a"):
        reg.create_registered_model("churn")
        assert loops.create_loop(loop(), "go", {})  # team-a's churn is another model
        assert [e.action for e in loops.history("churn")] == ["triggered"]
        assert loops.move_cursor("controller", 0, 5)
    assert loops.get_cursor("controller") == 0
    with use_workspace(ALL_WORKSPACES):
        assert len(loops.list_loops("churn")) == 2
        assert loops.get_cursor("controller") == 0  # the all-workspace controller's own


def test_set_default_refuses_a_name_both_workspaces_use(store: SqlStore) -> None:
    reg = SqlRegistryStore(store.engine)
    reg.create_registered_model("churn")
    with use_workspace("team-a"):
        reg.create_registered_model("churn")
        reg.create_registered_model("only-a")
    with pytest.raises(InvalidState, match="churn"):
        SqlWorkspaceStore(store.engine).delete("team-a", "SET_DEFAULT")
    with use_workspace("team-a"):
        reg.delete_registered_model("churn")
    SqlWorkspaceStore(store.engine).delete("team-a", "SET_DEFAULT")
    assert reg.get_registered_model("only-a").name == "only-a"  # moved, children too


def test_a_workspace_artifact_root_holds_its_runs_and_confines_locations(
        store: SqlStore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "team-r-root"
    SqlWorkspaceStore(store.engine).create("team-r", artifact_root=str(root))
    with use_workspace("team-r"):
        eid = store.create_experiment("e")
        run = store.create_run(eid)
        assert run.info.artifact_uri.startswith(f"{root}/{eid}/")
        inside = store.create_experiment("e2", artifact_location=f"file://{root}/sub")
        assert store.get_experiment(inside).artifact_location == f"file://{root}/sub"
        for outside in (str(tmp_path / "team-b-root"), f"{root}/../team-b", "s3://bucket/x",
                        f"{root}-evil/x"):
            with pytest.raises(InvalidParameterValue, match="outside the artifact root"):
                store.create_experiment(f"x-{uuid.uuid4().hex[:6]}", artifact_location=outside)
    # A workspace without its own root keeps the server's behaviour.
    assert store.create_experiment("free", artifact_location=str(tmp_path / "anywhere"))
