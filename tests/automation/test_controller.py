"""The closed loop, driven in-process: promotion, a bad challenger rejected at the gate, a
canary guardrail rolling back, one loop per model, approval, dry runs, and alerts as
triggers."""

from __future__ import annotations

import pytest

from loopml.errors import InvalidParameterValue, InvalidState
from loopml.store import get_registry_store
from tests.automation.conftest import World


def _actions(ctl, model: str = "pm") -> list[str]:  # type: ignore[no-untyped-def]
    return [e.action for e in ctl.loops.history(model)]


def test_good_challenger_is_promoted_after_a_clean_canary(world: World) -> None:
    ctl = world.controller()
    loop = ctl.trigger("pm", "manual")
    assert loop is not None and loop.champion_version == 1
    loop = world.drive(ctl, loop.loop_id, {"CANARY"})
    assert loop.challenger_version == 2 and loop.gate["passed"]
    hold = loop.evaluation["holdout"]
    assert hold["challenger"]["f1"] > hold["champion"]["f1"] + 0.02
    assert world.routes() == [("models:/pm/1", 75.0), ("models:/pm/2", 25.0)]
    world.traffic(2, 25)
    world.traffic(1, 60)
    loop = world.drive(ctl, loop.loop_id, {"PROMOTED"})
    assert world.champion() == 2 and world.routes() == [("models:/pm/2", 100.0)]
    assert _actions(ctl) == ["triggered", "retrain_started", "retrained", "gate_passed",
                             "canary_started", "promoted"]
    promoted = ctl.loops.history("pm")[-1]
    assert promoted.inputs["stats"]["challenger"]["requests"] == 25.0
    events = [e.type for e in world.tracking.read_events(types=["loop.promoted"])]
    assert events == ["loop.promoted"]


def test_bad_challenger_is_rejected_at_the_gate(world: World) -> None:
    ctl = world.controller(retrain={"params": {"kind": "bad"}}, gate={"min": {"f1": 0.5}})
    loop = ctl.trigger("pm", "manual")
    assert loop is not None
    loop = world.drive(ctl, loop.loop_id, {"REJECTED"})
    assert "does not meet >= 0.5" in str(loop.reason)
    assert "improvement" in str(loop.reason) and loop.gate["passed"] is False
    assert world.champion() == 1 and world.routes() == [("models:/pm/1", 100.0)]
    assert _actions(ctl)[-1] == "gate_failed"


def test_canary_guardrail_breach_rolls_back(world: World) -> None:
    ctl = world.controller()
    loop = ctl.trigger("pm", "manual")
    assert loop is not None
    loop = world.drive(ctl, loop.loop_id, {"CANARY"})
    world.traffic(2, 10, status=500)  # the challenger errors in production
    world.traffic(2, 10)
    loop = world.drive(ctl, loop.loop_id, {"ROLLED_BACK"})
    assert "error rate 0.500 > 0.1" in str(loop.reason)
    assert world.routes() == [("models:/pm/1", 100.0)] and world.champion() == 1
    mv = get_registry_store(world.tracking).get_model_version("pm", 2)
    assert "error rate" in mv.tags["loopml.rejected"]


def test_live_quality_guardrail_rolls_back(world: World) -> None:
    ctl = world.controller(canary={"max_quality_drop": 0.1, "min_labels": 10})
    loop = ctl.trigger("pm", "manual")
    assert loop is not None
    world.drive(ctl, loop.loop_id, {"CANARY"})
    world.traffic(2, 20, correct=False)
    world.traffic(1, 20, correct=True)
    loop = world.drive(ctl, loop.loop_id, {"ROLLED_BACK"})
    assert "live f1" in str(loop.reason)


def test_one_loop_per_model_and_alerts_as_triggers(world: World) -> None:
    ctl = world.controller(retrain={"params": {"pause": 2.0}})
    world.tracking.append_event("alert.firing", "drift_share/pm", {"value": 0.6})
    world.tracking.append_event("alert.firing", "latency_p99/pm", {"value": 900})  # no match
    ctl.run_once()
    loops = ctl.loops.list_loops("pm")
    assert len(loops) == 1 and loops[0].trigger["reason"] == "alert drift_share/pm"
    # A new alert while that loop runs is recorded, not acted on.
    world.tracking.append_event("alert.firing", "drift_share/pm", {"value": 0.7})
    ctl.run_once()
    assert len(ctl.loops.list_loops("pm")) == 1
    assert _actions(ctl).count("ignored") == 1
    assert ctl.trigger("pm", "manual") is None
    world.drive(ctl, loops[0].loop_id, {"CANARY"})


def test_approval_is_required_when_the_policy_says_so(world: World) -> None:
    from loopml.automation.controller import approve

    ctl = world.controller(gate={"approval": True})
    loop = ctl.trigger("pm", "manual")
    assert loop is not None
    loop = world.drive(ctl, loop.loop_id, {"AWAITING_APPROVAL"})
    ctl.run_once()
    assert ctl.loops.get_loop(loop.loop_id).state == "AWAITING_APPROVAL"
    assert world.routes() == [("models:/pm/1", 100.0)]
    approve(ctl.loops, loop.loop_id, "alice")
    with pytest.raises(InvalidState, match="not waiting for approval"):
        approve(ctl.loops, loop.loop_id, "bob")
    ctl.run_once()  # the canary starts on the controller's next pass
    loop = ctl.loops.get_loop(loop.loop_id)
    assert loop.state == "CANARY" and loop.approved_by == "alice" and len(world.routes()) == 2


def test_dry_run_changes_nothing(world: World) -> None:
    ctl = world.controller(dry_run=True)
    loop = ctl.trigger("pm", "manual")
    assert loop is not None and loop.dry_run
    loop = world.drive(ctl, loop.loop_id, {"REJECTED"})
    assert "dry run" in str(loop.reason)
    assert world.routes() == [("models:/pm/1", 100.0)] and world.champion() == 1
    assert "would send 25%" in ctl.loops.history("pm")[-1].message


@pytest.mark.parametrize("over,match", [
    ({"model": ""}, "model: must not be empty"),
    ({"retrain": {"pipeline": "nocolon"}}, "retrain.pipeline: 'nocolon' is not module:attr"),
    ({"evaluate": {"metric": "auc"}}, "evaluate.metric: 'auc' is not valid"),
    ({"canary": {"weight": 100}}, "canary.weight: must be between 0 and 100"),
    ({"canary": {"wieght": 10}}, "canary.wieght: unknown key; did you mean 'weight'"),
    ({"trigger": {"schedule": "daily"}}, "trigger.schedule: 'daily' is not a cron expression"),
    ({"colour": "red"}, "colour: unknown key"),
    ({"trigger": {"alerts": "drift*"}}, r"trigger.alerts: expected a list, got 'drift\*'"),
])
def test_bad_policies(tmp_path, over: dict, match: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    bare = World(tmp_path, None, None)  # type: ignore[arg-type]  # policies only: no store
    with pytest.raises(InvalidParameterValue, match=match):
        bare.policy(**over)


def test_alerts_of_one_episode_are_merged_and_a_promotion_cools_down(world: World) -> None:
    from loopml.automation import Controller
    from loopml.entities import Event
    from loopml.store.loops_base import Loop

    p = world.policy(cooldown_seconds=600, trigger={"merge_seconds": 60})
    ended = Loop("l1", "pm", "pm", "REJECTED", created_time=1_000_000, updated_time=1_030_000)
    promoted = Loop("l2", "pm", "pm", "PROMOTED", challenger_version=2,
                    created_time=1_000_000, updated_time=1_030_000)

    def at(ms: int) -> Event:
        return Event(1, "alert.firing", "quality_f1/pm", {}, ms)

    assert "merged into loop l1" in str(Controller._quiet(p, ended, at(1_020_000)))  # during
    assert "merged" in str(Controller._quiet(p, ended, at(1_050_000)))  # 50 s after trigger
    assert Controller._quiet(p, ended, at(1_100_000)) is None  # a new episode
    assert "cool-down" in str(Controller._quiet(p, promoted, at(1_100_000)))
    assert Controller._quiet(p, promoted, at(1_700_000)) is None  # cool-down over


def test_policies_reload_when_their_file_changes(world: World) -> None:
    import time

    import yaml

    from loopml.automation import Controller

    raw = {"model": "pm", "deployment": "pm", "log_dir": str(world.root / "inference"),
           "retrain": {"pipeline": "tests.automation.flows:retrain"},
           "trigger": {"alerts": ["drift*"]}}
    path = world.root / "policies.yaml"
    path.write_text(yaml.safe_dump(raw))
    ctl = Controller(world.tracking, [world.policy()], policies_file=path)
    assert not ctl.reload()  # unchanged
    time.sleep(0.01)
    path.write_text(yaml.safe_dump({**raw, "trigger": {"alerts": ["quality*"]}}))
    ctl.run_once()
    assert ctl.policies["pm"].trigger.alerts == ["quality*"]
    assert _actions(ctl)[-1] == "policy_reloaded"
    path.write_text("model: [unclosed")  # a broken file: the loaded policies stay
    assert not ctl.reload() and ctl.policies["pm"].trigger.alerts == ["quality*"]
