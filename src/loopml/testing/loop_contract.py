"""The contract every LoopStore backend passes (SQLite, PostgreSQL, REST).

Subclass ``LoopStoreContract`` and provide a ``loops`` fixture (a fresh store)."""

from __future__ import annotations

import uuid

import pytest

from loopml.errors import ResourceDoesNotExist
from loopml.store.loops_base import Loop, LoopStore, StaleLoop


def _loop(model: str) -> Loop:
    return Loop(uuid.uuid4().hex, model, model, "RETRAINING", {"reason": "test"},
                champion_version=1)


class LoopStoreContract:
    def test_one_active_loop_per_model(self, loops: LoopStore) -> None:
        model = f"m{uuid.uuid4().hex[:8]}"
        first = _loop(model)
        assert loops.create_loop(first, "triggered by test", {"x": 1}) is True
        assert loops.create_loop(_loop(model), "again", {}) is False
        got = loops.get_loop(first.loop_id)
        assert got.state == "RETRAINING" and got.active and got.trigger == {"reason": "test"}
        actions = [(e.action, e.loop_id) for e in loops.history(model)]
        assert actions == [("triggered", first.loop_id), ("ignored", first.loop_id)]
        assert loops.history(model)[0].inputs == {"x": 1}
        assert [x.loop_id for x in loops.list_loops(model, active=True)] == [first.loop_id]

    def test_advance_is_compare_and_set_and_final_frees_the_model(self, loops: LoopStore) -> None:
        model = f"m{uuid.uuid4().hex[:8]}"
        lp = _loop(model)
        loops.create_loop(lp, "t", {})
        moved = loops.advance(lp.loop_id, "RETRAINING", "retrained", "v2", {"v": 2},
                              state="EVALUATING", challenger_version=2,
                              evaluation={"holdout": {"f1": 0.5}})
        assert moved.state == "EVALUATING" and moved.challenger_version == 2
        assert moved.evaluation == {"holdout": {"f1": 0.5}}
        with pytest.raises(StaleLoop):
            loops.advance(lp.loop_id, "RETRAINING", "retrained", "again", {}, state="EVALUATING")
        loops.advance(lp.loop_id, "EVALUATING", "gate_failed", "no", {}, state="REJECTED",
                      decision="REJECTED", reason="gate")
        assert loops.list_loops(model, active=True) == []
        assert [x.decision for x in loops.list_loops(model, active=False)] == ["REJECTED"]
        assert loops.create_loop(_loop(model), "next", {}) is True  # the model is free again

    def test_audit_cursor_and_missing(self, loops: LoopStore) -> None:
        model = f"m{uuid.uuid4().hex[:8]}"
        loops.audit(model, "note", "a manual note", {"k": "v"})
        assert loops.history(model)[-1].message == "a manual note"
        name = f"c{uuid.uuid4().hex[:8]}"
        assert loops.get_cursor(name) == 0
        assert loops.move_cursor(name, 0, 10) is True
        assert loops.move_cursor(name, 0, 20) is False
        assert loops.move_cursor(name, 10, 20) is True and loops.get_cursor(name) == 20
        with pytest.raises(ResourceDoesNotExist):
            loops.get_loop("0" * 32)
