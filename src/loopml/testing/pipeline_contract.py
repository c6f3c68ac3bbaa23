"""The contract every PipelineStore backend passes (SQLite, PostgreSQL, REST).

Subclass ``PipelineStoreContract`` and provide a ``pipelines`` fixture (a fresh store)."""

from __future__ import annotations

import uuid

import pytest

from loopml.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from loopml.store.pipelines_base import PipelineRun, PipelineStore, StepRun, Trigger


def _run(**kw: object) -> PipelineRun:
    base: dict[str, object] = {"run_id": uuid.uuid4().hex, "pipeline": "p", "ref": "m:p",
                               "params": {"n": 1, "xs": [1, 2]}, "status": "PENDING",
                               "creation_time": 1000}
    base.update(kw)
    return PipelineRun(**base)  # type: ignore[arg-type]


class PipelineStoreContract:
    def test_run_lifecycle(self, pipelines: PipelineStore) -> None:
        r = pipelines.create_run(_run(trigger={"kind": "manual"}))
        assert r.status == "PENDING" and r.params == {"n": 1, "xs": [1, 2]}
        assert r.trigger == {"kind": "manual"} and r.attempt == 1
        with pytest.raises(ResourceAlreadyExists):
            pipelines.create_run(r)
        r2 = pipelines.update_run(r.run_id, status="RUNNING", start_time=2000,
                                  tracking_run_id="abc", params={"n": 2})
        assert (r2.status, r2.start_time, r2.tracking_run_id, r2.params) == \
            ("RUNNING", 2000, "abc", {"n": 2})
        r3 = pipelines.update_run(r.run_id, status="FAILED", error="boom", end_time=3000)
        assert r3.error == "boom" and pipelines.get_run(r.run_id) == r3
        with pytest.raises(InvalidParameterValue, match="Cannot update"):
            pipelines.update_run(r.run_id, pipeline="other")
        with pytest.raises(ResourceDoesNotExist):
            pipelines.get_run("0" * 32)
        with pytest.raises(ResourceDoesNotExist):
            pipelines.update_run("0" * 32, status="RUNNING")

    def test_list_runs_newest_first_and_filtered(self, pipelines: PipelineStore) -> None:
        name = f"p{uuid.uuid4().hex[:6]}"
        ids = [pipelines.create_run(_run(pipeline=name, creation_time=t)).run_id
               for t in (1, 3, 2)]
        assert [r.run_id for r in pipelines.list_runs(name)] == [ids[1], ids[2], ids[0]]
        pipelines.update_run(ids[0], status="SUCCEEDED")
        assert [r.run_id for r in pipelines.list_runs(name, status="SUCCEEDED")] == [ids[0]]
        assert len(pipelines.list_runs(name, limit=2)) == 2

    def test_steps_upsert(self, pipelines: PipelineStore) -> None:
        r = pipelines.create_run(_run())
        ref = {"uri": "/a", "path": "steps/s/output.json", "digest": "d" * 64, "kind": "json"}
        pipelines.put_step(StepRun(r.run_id, "s", "RUNNING", 0, "k" * 64, None,
                                   {"x": {"value": 1}}, start_time=10))
        pipelines.put_step(StepRun(r.run_id, "s", "SUCCEEDED", 1, "k" * 64, None,
                                   {"x": {"value": 1}}, {"output": ref}, "tr", "/log", None,
                                   10, 25))
        pipelines.put_step(StepRun(r.run_id, "t", "UPSTREAM_FAILED", error="no",
                                   start_time=30, end_time=30))
        steps = {s.step: s for s in pipelines.get_steps(r.run_id)}
        assert steps["s"].status == "SUCCEEDED" and steps["s"].outputs == {"output": ref}
        assert steps["s"].duration_ms == 15 and steps["s"].tracking_run_id == "tr"
        assert steps["t"].error == "no"

    def test_cache(self, pipelines: PipelineStore) -> None:
        key = uuid.uuid4().hex * 2
        assert pipelines.cache_get(key) is None
        pipelines.cache_put(key, "run1", "s", {"output": {"digest": "1"}})
        pipelines.cache_put(key, "run2", "s", {"output": {"digest": "2"}})
        assert pipelines.cache_get(key) == ("run2", {"output": {"digest": "2"}})
        pipelines.cache_delete(key)
        assert pipelines.cache_get(key) is None

    def test_triggers_fire_once(self, pipelines: PipelineStore) -> None:
        name = f"t{uuid.uuid4().hex[:8]}"
        t = pipelines.create_trigger(Trigger(name, "m:p", "cron", {"cron": "* * * * *"},
                                             {"n": 3}, "inprocess", 1000))
        assert t.marker == 1000 and t.params == {"n": 3} and t.enabled
        with pytest.raises(ResourceAlreadyExists):
            pipelines.create_trigger(t)
        rec = _run(trigger={"kind": "cron", "trigger": name})
        assert pipelines.fire_trigger(name, 1000, 2000, rec) is True
        # A second server holding the old marker loses the race and records nothing.
        assert pipelines.fire_trigger(name, 1000, 2000, _run()) is False
        assert pipelines.get_run(rec.run_id).status == "PENDING"
        assert next(x for x in pipelines.list_triggers() if x.name == name).marker == 2000
        assert pipelines.fire_trigger(name, 2000, 3000, None) is True
        pipelines.delete_trigger(name)
        assert name not in [x.name for x in pipelines.list_triggers()]
        with pytest.raises(ResourceDoesNotExist):
            pipelines.delete_trigger(name)
