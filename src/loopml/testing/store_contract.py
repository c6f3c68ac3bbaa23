"""Contract tests every ``TrackingStore`` backend must pass (SQLite, PostgreSQL, REST).

Subclass ``TrackingStoreContract`` in a test module and provide a ``store`` fixture that
yields a fresh, empty store. Only the public ``TrackingStore`` interface is used, so the same
tests hold a REST store to exactly the SQL store's behaviour, errors included.
"""

from __future__ import annotations

import math
import uuid

import pytest

from loopml.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from loopml.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from loopml.security.workspaces import use_workspace
from loopml.store.base import TrackingStore
from loopml.testing._workspaces import new_workspace


def _name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


class TrackingStoreContract:
    # ---- experiments -------------------------------------------------------------------
    def test_default_experiment_exists(self, store: TrackingStore) -> None:
        exp = store.get_experiment("0")
        assert exp.name == "Default"
        assert store.get_experiment_by_name("Default") is not None

    def test_create_get_experiment(self, store: TrackingStore) -> None:
        name = _name()
        eid = store.create_experiment(name, tags={"team": "ml"})
        exp = store.get_experiment(eid)
        assert exp.name == name and exp.tags == {"team": "ml"}
        assert exp.lifecycle_stage == "active" and exp.artifact_location
        assert store.get_experiment_by_name(name) == exp
        assert store.get_experiment_by_name(_name()) is None

    def test_duplicate_experiment_name(self, store: TrackingStore) -> None:
        name = _name()
        store.create_experiment(name)
        with pytest.raises(ResourceAlreadyExists):
            store.create_experiment(name)

    def test_experiment_names_unique_per_workspace(self, store: TrackingStore) -> None:
        name, ws = _name(), new_workspace(store)
        mine = store.create_experiment(name)
        with use_workspace(ws):
            theirs = store.create_experiment(name)
            with pytest.raises(ResourceAlreadyExists):
                store.create_experiment(name)
            found = store.get_experiment_by_name(name)
            assert found is not None and found.experiment_id == theirs
            assert [e.name for e in store.search_experiments(
                filter_string=f"name = '{name}'")] == [name]
        assert theirs != mine
        found = store.get_experiment_by_name(name)
        assert found is not None and found.experiment_id == mine

    def test_missing_experiment(self, store: TrackingStore) -> None:
        with pytest.raises(ResourceDoesNotExist):
            store.get_experiment("987654321")

    def test_bad_experiment_name(self, store: TrackingStore) -> None:
        with pytest.raises(InvalidParameterValue):
            store.create_experiment("")

    def test_rename_delete_restore_experiment(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        new = _name("renamed")
        store.rename_experiment(eid, new)
        assert store.get_experiment(eid).name == new
        run = store.create_run(eid)
        store.delete_experiment(eid)
        assert store.get_experiment(eid).lifecycle_stage == "deleted"
        assert store.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
        with pytest.raises(InvalidState):
            store.create_run(eid)
        store.restore_experiment(eid)
        assert store.get_experiment(eid).lifecycle_stage == "active"
        assert store.get_run(run.info.run_id).info.lifecycle_stage == "active"

    def test_experiment_tags(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        store.set_experiment_tag(eid, "k", "v1")
        store.set_experiment_tag(eid, "k", "v2")
        assert store.get_experiment(eid).tags == {"k": "v2"}
        store.delete_experiment_tag(eid, "k")
        assert store.get_experiment(eid).tags == {}

    def test_search_experiments(self, store: TrackingStore) -> None:
        prefix = _name("srch")
        ids = [store.create_experiment(f"{prefix}-{i}", tags={"i": str(i)}) for i in range(5)]
        store.delete_experiment(ids[0])
        found = store.search_experiments(filter_string=f"name LIKE '{prefix}-%'")
        assert sorted(e.experiment_id for e in found) == sorted(ids[1:])
        deleted = store.search_experiments(
            view_type=ViewType.DELETED_ONLY, filter_string=f"name LIKE '{prefix}-%'"
        )
        assert [e.experiment_id for e in deleted] == [ids[0]]
        page1 = store.search_experiments(
            max_results=2, filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"]
        )
        assert len(page1) == 2 and page1.next_page_token
        page2 = store.search_experiments(
            max_results=2, filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"],
            page_token=page1.next_page_token,
        )
        names = [e.name for e in page1] + [e.name for e in page2]
        assert names == [f"{prefix}-{i}" for i in range(1, 5)]
        assert page2.next_page_token is None
        tagged = store.search_experiments(filter_string=f"tags.i = '3' AND name LIKE '{prefix}%'")
        assert [e.experiment_id for e in tagged] == [ids[3]]

    # ---- runs ----------------------------------------------------------------------------
    def test_create_get_run(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        run = store.create_run(eid, user_id="ann", start_time=123, tags=[RunTag("a", "b")],
                               run_name="first")
        got = store.get_run(run.info.run_id)
        assert got.info.run_name == "first" and got.info.user_id == "ann"
        assert got.info.start_time == 123 and got.info.status == "RUNNING"
        assert got.data.tags["a"] == "b" and got.data.tags["mlflow.runName"] == "first"
        assert run.info.run_id in got.info.artifact_uri
        assert len(run.info.run_id) == 32

    def test_generated_run_name(self, store: TrackingStore) -> None:
        run = store.create_run(store.create_experiment(_name()))
        assert run.info.run_name and run.data.tags["mlflow.runName"] == run.info.run_name

    def test_missing_run(self, store: TrackingStore) -> None:
        with pytest.raises(ResourceDoesNotExist):
            store.get_run(uuid.uuid4().hex)

    def test_update_run(self, store: TrackingStore) -> None:
        run = store.create_run(store.create_experiment(_name()))
        info = store.update_run_info(run.info.run_id, status="FINISHED", end_time=999,
                                     run_name="renamed")
        assert info.status == "FINISHED" and info.end_time == 999 and info.run_name == "renamed"
        assert store.get_run(run.info.run_id).data.tags["mlflow.runName"] == "renamed"
        with pytest.raises(InvalidParameterValue):
            store.update_run_info(run.info.run_id, status="BOGUS")

    def test_delete_restore_run(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        run = store.create_run(eid)
        rid = run.info.run_id
        store.delete_run(rid)
        assert store.get_run(rid).info.lifecycle_stage == "deleted"
        with pytest.raises(InvalidState):
            store.log_metric(rid, Metric("m", 1.0, 1, 0))
        assert store.search_runs([eid]).items == []
        assert len(store.search_runs([eid], run_view_type=ViewType.DELETED_ONLY)) == 1
        store.restore_run(rid)
        store.log_metric(rid, Metric("m", 1.0, 1, 0))

    def test_log_batch_and_get(self, store: TrackingStore) -> None:
        run = store.create_run(store.create_experiment(_name()))
        rid = run.info.run_id
        store.log_batch(
            rid,
            metrics=[Metric("loss", 1.0 / (i + 1), 1000 + i, i) for i in range(10)],
            params=[Param("lr", "0.1"), Param("depth", "3")],
            tags=[RunTag("stage", "dev")],
        )
        got = store.get_run(rid)
        assert got.data.params == {"lr": "0.1", "depth": "3"}
        assert got.data.tags["stage"] == "dev"
        assert got.data.metrics["loss"].step == 9
        assert got.data.metrics["loss"].value == 0.1

    def test_log_batch_is_atomic(self, store: TrackingStore) -> None:
        run = store.create_run(store.create_experiment(_name()))
        rid = run.info.run_id
        store.log_param(rid, Param("p", "1"))
        with pytest.raises(InvalidParameterValue):
            store.log_batch(rid, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "2")])
        with pytest.raises(InvalidParameterValue):
            store.log_batch(rid, metrics=[Metric("ok", 1.0, 1, 0), Metric("", 1.0, 1, 0)])
        got = store.get_run(rid)
        assert got.data.metrics == {} and got.data.params == {"p": "1"}

    def test_params_write_once(self, store: TrackingStore) -> None:
        rid = store.create_run(store.create_experiment(_name())).info.run_id
        store.log_param(rid, Param("p", "1"))
        store.log_param(rid, Param("p", "1"))  # same value again is fine
        with pytest.raises(InvalidParameterValue, match="p"):
            store.log_param(rid, Param("p", "2"))

    def test_batch_limits(self, store: TrackingStore) -> None:
        rid = store.create_run(store.create_experiment(_name())).info.run_id
        with pytest.raises(InvalidParameterValue, match="1000"):
            store.log_batch(rid, metrics=[Metric("m", 1.0, 1, i) for i in range(1001)])
        with pytest.raises(InvalidParameterValue):
            store.log_param(rid, Param("big", "x" * 6001))

    def test_tags_set_delete(self, store: TrackingStore) -> None:
        rid = store.create_run(store.create_experiment(_name())).info.run_id
        store.set_tag(rid, RunTag("t", "1"))
        store.set_tag(rid, RunTag("t", "2"))
        assert store.get_run(rid).data.tags["t"] == "2"
        store.delete_tag(rid, "t")
        assert "t" not in store.get_run(rid).data.tags
        with pytest.raises(ResourceDoesNotExist):
            store.delete_tag(rid, "t")
        store.set_tag(rid, RunTag("mlflow.runName", "via-tag"))
        assert store.get_run(rid).info.run_name == "via-tag"

    def test_special_float_round_trip(self, store: TrackingStore) -> None:
        rid = store.create_run(store.create_experiment(_name())).info.run_id
        values = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
        store.log_batch(rid, metrics=[Metric("v", v, 10, i) for i, v in enumerate(values)])
        hist = store.get_metric_history(rid, "v")
        assert len(hist) == len(values)
        for m, v in zip(hist, values, strict=True):
            assert _same_float(m.value, v), (m.value, v)
        store.log_metric(rid, Metric("last", -0.0, 1, 0))
        assert _same_float(store.get_run(rid).data.metrics["last"].value, -0.0)
        store.log_metric(rid, Metric("nan", math.nan, 1, 0))
        assert math.isnan(store.get_run(rid).data.metrics["nan"].value)

    def test_metric_history_order_and_paging(self, store: TrackingStore) -> None:
        rid = store.create_run(store.create_experiment(_name())).info.run_id
        pts = [Metric("m", float(i), 100 - i, step) for i, step in enumerate([3, 1, 2, 1, 0])]
        store.log_batch(rid, metrics=pts)
        hist = store.get_metric_history(rid, "m")
        assert [(m.step, m.timestamp) for m in hist] == sorted((m.step, m.timestamp) for m in pts)
        page = store.get_metric_history(rid, "m", max_results=2)
        assert len(page) == 2 and page.next_page_token
        rest = store.get_metric_history(rid, "m", max_results=10, page_token=page.next_page_token)
        assert [m.value for m in page] + [m.value for m in rest] == [m.value for m in hist]
        assert store.get_metric_history(rid, "absent").items == []

    def test_latest_metric_is_max_step(self, store: TrackingStore) -> None:
        rid = store.create_run(store.create_experiment(_name())).info.run_id
        store.log_metric(rid, Metric("m", 5.0, 100, 5))
        store.log_metric(rid, Metric("m", 1.0, 200, 1))  # older step logged later
        assert store.get_run(rid).data.metrics["m"].value == 5.0
        store.log_metric(rid, Metric("m", 7.0, 300, 5))  # same step, newer timestamp
        assert store.get_run(rid).data.metrics["m"].value == 7.0

    def test_bulk_interval(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        r1 = store.create_run(eid).info.run_id
        r2 = store.create_run(eid).info.run_id
        for rid in (r1, r2):
            store.log_batch(rid, metrics=[Metric("m", float(i), i, i) for i in range(100)])
        pts = store.get_metric_history_bulk_interval([r1, r2], "m", max_results=10)
        by_run: dict[str | None, list[int]] = {}
        for p in pts:
            by_run.setdefault(p.run_id, []).append(p.step)
        assert set(by_run) == {r1, r2}
        for steps in by_run.values():
            assert len(steps) <= 10 and steps[0] == 0 and steps[-1] == 99
        limited = store.get_metric_history_bulk_interval(
            [r1], "m", max_results=100, start_step=10, end_step=20
        )
        assert [p.step for p in limited] == list(range(10, 21))

    def test_search_runs(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        ids = []
        for i in range(6):
            rid = store.create_run(eid, start_time=1000 + i, run_name=f"run-{i}").info.run_id
            store.log_batch(
                rid, metrics=[Metric("acc", i / 10, 1, 0)],
                params=[Param("model", "rf" if i % 2 else "lr")],
                tags=[RunTag("team", "Alpha" if i < 3 else "beta")],
            )
            ids.append(rid)
        res = store.search_runs([eid], "metrics.acc > 0.25 AND params.model = 'rf'")
        assert {r.info.run_id for r in res} == {ids[3], ids[5]}
        res = store.search_runs([eid], "tags.team ILIKE 'alpha' OR metrics.acc >= 0.5")
        assert {r.info.run_id for r in res} == {ids[0], ids[1], ids[2], ids[5]}
        res = store.search_runs([eid], "tags.team LIKE 'alpha'")
        assert res.items == []  # LIKE is case-sensitive
        res = store.search_runs([eid], order_by=["metrics.acc DESC"])
        assert [r.info.run_id for r in res] == ids[::-1]
        res = store.search_runs([eid])  # default: start_time DESC
        assert [r.info.run_id for r in res] == ids[::-1]
        res = store.search_runs([eid], "attributes.run_name IN ('run-1', 'run-4')")
        assert {r.info.run_id for r in res} == {ids[1], ids[4]}
        seen = []
        token = None
        while True:
            page = store.search_runs([eid], max_results=4, order_by=["attributes.start_time ASC"],
                                     page_token=token)
            seen += [r.info.run_id for r in page]
            token = page.next_page_token
            if not token:
                break
        assert seen == ids

    def test_search_runs_large_page_and_repeats(self, store: TrackingStore) -> None:
        # Over 500 runs in one page (once the SQLite bound-parameter chunk size) across two
        # experiments, each run loaded whole; then the same search again (its statement is
        # cached) must see a run created in between.
        e1, e2 = store.create_experiment(_name()), store.create_experiment(_name())
        want = {}
        for i in range(520):
            rid = store.create_run(e1 if i % 2 else e2, start_time=i).info.run_id
            store.log_batch(rid, metrics=[Metric("m", float(i), 1, 0)],
                            params=[Param("i", str(i))], tags=[RunTag("t", str(i))])
            want[rid] = i
        q = ([e1, e2], "metrics.m >= 0", ViewType.ACTIVE_ONLY, 1000, ["metrics.m ASC"])
        page = store.search_runs(*q)
        assert [r.info.run_id for r in page] == sorted(want, key=want.__getitem__)
        for r in page:
            i = want[r.info.run_id]
            assert (r.data.metrics["m"].value, r.data.params, r.data.tags["t"]) == (
                float(i), {"i": str(i)}, str(i))
        late = store.create_run(e1, start_time=10**6).info.run_id
        store.log_batch(late, metrics=[Metric("m", 1e9, 1, 0)])
        assert store.search_runs(*q).items[-1].info.run_id == late

    def test_search_runs_bad_filter(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        for bad in ["metrics.acc >", "foo.bar = 1", "metrics.acc = 'x'", "params.p > 1",
                    "(metrics.a > 1", "metrics.a > 1 garbage"]:
            with pytest.raises(InvalidParameterValue):
                store.search_runs([eid], bad)
        with pytest.raises(InvalidParameterValue):
            store.search_runs([eid], max_results=0)
        with pytest.raises(InvalidParameterValue):
            store.search_runs([eid], page_token="not-a-token")

    def test_log_inputs_and_outputs(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        rid = store.create_run(eid).info.run_id
        ds = Dataset("iris", "abc123", "local", '{"uri": "/data/iris.csv"}', "{}", "{}")
        store.log_inputs(rid, [DatasetInput(ds, (InputTag("mlflow.data.context", "train"),))])
        store.log_inputs(rid, [DatasetInput(ds, (InputTag("mlflow.data.context", "train"),))])
        run = store.get_run(rid)
        assert len(run.inputs.dataset_inputs) == 1
        assert run.inputs.dataset_inputs[0].dataset.digest == "abc123"
        assert store.search_runs([eid], "datasets.name = 'iris'").items[0].info.run_id == rid
        assert store.search_runs([eid], "datasets.context = 'train'").items
        model = store.create_logged_model(eid, name="m", source_run_id=rid)
        store.log_outputs(rid, [LoggedModelOutput(model.model_id, 3)])
        assert store.get_run(rid).outputs.model_outputs == (LoggedModelOutput(model.model_id, 3),)

    # ---- logged models -----------------------------------------------------------------
    def test_logged_models(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        m = store.create_logged_model(eid, name="clf", tags={"a": "1"}, params={"C": "0.5"},
                                      model_type="sklearn")
        assert m.model_id and m.status == "LOGGED_MODEL_PENDING" and m.params == {"C": "0.5"}
        assert m.model_id in m.artifact_location
        f = store.finalize_logged_model(m.model_id, "LOGGED_MODEL_READY")
        assert f.status == "LOGGED_MODEL_READY"
        store.set_logged_model_tags(m.model_id, {"b": "2"})
        store.delete_logged_model_tag(m.model_id, "a")
        assert store.get_logged_model(m.model_id).tags == {"b": "2"}
        m2 = store.create_logged_model(eid, name="other")
        found = store.search_logged_models([eid], filter_string="name = 'clf'")
        assert [x.model_id for x in found] == [m.model_id]
        assert len(store.search_logged_models([eid])) == 2
        store.delete_logged_model(m2.model_id)
        with pytest.raises(ResourceDoesNotExist):
            store.get_logged_model(m2.model_id)

    def test_logged_model_metrics(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        rid = store.create_run(eid).info.run_id
        m = store.create_logged_model(eid, name="clf", source_run_id=rid)
        points = [Metric("acc", 0.9, 1000, 0), Metric("acc", 0.95, 2000, 1),
                  Metric("loss", float("nan"), 1000, 0)]
        store.log_batch(rid, metrics=points)
        store.log_logged_model_metrics(m.model_id, rid, points, "eval", "d1")
        store.log_logged_model_metrics(m.model_id, rid, points[:1])  # a repeat: no-op
        got = store.get_logged_model(m.model_id).metrics
        assert [(x.key, x.step, x.run_id) for x in got] == [("acc", 0, rid), ("acc", 1, rid),
                                                             ("loss", 0, rid)]
        assert got[1].value == 0.95 and math.isnan(got[2].value)
        assert store.get_run(rid).data.metrics["acc"].value == 0.95
        with pytest.raises(ResourceDoesNotExist):
            store.log_logged_model_metrics("m-missing", rid, points[:1])

    # ---- events and gc -------------------------------------------------------------------
    def test_events(self, store: TrackingStore) -> None:
        start = max([e.seq for e in store.read_events(limit=100000)], default=0)
        s1 = store.append_event("alert.firing", "monitor/1", {"metric": "drift"})
        s2 = store.append_event("alert.resolved", "monitor/1")
        assert s2 > s1 > start
        evs = store.read_events(after_seq=start, types=["alert.firing", "alert.resolved"])
        assert [(e.seq, e.type, e.payload) for e in evs] == [
            (s1, "alert.firing", {"metric": "drift"}), (s2, "alert.resolved", {})
        ]
        assert store.read_events(after_seq=s1, types=["alert.firing"]) == []

    def test_permanent_delete(self, store: TrackingStore) -> None:
        eid = store.create_experiment(_name())
        keep = store.create_run(eid).info.run_id
        rid = store.create_run(eid).info.run_id
        store.log_metric(rid, Metric("m", 1.0, 1, 0))
        with pytest.raises(InvalidState):
            store.permanently_delete_run(rid)
        store.delete_run(rid)
        assert rid in store.list_deleted_run_ids()
        uri = store.permanently_delete_run(rid)
        assert rid in uri
        with pytest.raises(ResourceDoesNotExist):
            store.get_run(rid)
        assert rid not in store.list_deleted_run_ids()
        assert store.get_run(keep).info.lifecycle_stage == "active"
