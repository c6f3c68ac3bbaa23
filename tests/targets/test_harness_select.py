"""The harness (pinned fresh workers, badges, accuracy, fidelity) and the selection rule."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from loopml.models._load import load_folder
from loopml.targets import probe, profile_from_dict
from loopml.targets.candidates import Candidate, build_candidates
from loopml.targets.harness import EMULATED, ESTIMATED, ON_TARGET, Measurement, badge_for, measure
from loopml.targets.select import pareto_svg, select


@pytest.fixture(scope="module")
def measured(logreg_folder: Path, tabular, tmp_path_factory):  # type: ignore[no-untyped-def]
    x, y = tabular
    model = load_folder(logreg_folder)
    prof = probe(budget_ms=50)
    cands = build_candidates(model, prof, x[300:], tmp_path_factory.mktemp("c"))
    ms = measure(cands, prof, x[300:], y[300:], calls=50, rounds=1, retries=0,
                 classes=model.native.classes_)
    return prof, ms


def test_measures_every_built_candidate(measured) -> None:  # type: ignore[no-untyped-def]
    _, ms = measured
    by = {m.candidate.name: m for m in ms}
    for name in ("native", "onnx-fp32", "onnx-opt"):
        m = by[name]
        assert m.ok and m.calls == 50 and m.p99_ms >= m.p50_ms > 0
        assert m.p50_ci[0] <= m.p50_ms <= m.p50_ci[1] * 1.001
        assert m.peak_rss_mb > 0 and not math.isnan(m.cold_start_ms)
        assert m.metric == "accuracy" and m.accuracy and m.accuracy > 0.7
        assert m.badge == ON_TARGET  # probed here, all cores
    assert by["onnx-fp32"].max_abs_dp is not None and by["onnx-fp32"].max_abs_dp <= 1e-5
    assert by["native"].drop_points == 0
    assert not by["int8-static"].ok and "quantise" in by["int8-static"].error


def test_worker_is_pinned_to_the_profile_cores(logreg_folder: Path, tabular) -> None:  # type: ignore[no-untyped-def]
    from loopml.targets.harness import _worker, pinned_cpus

    x, _ = tabular
    import tempfile

    import numpy as np
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/rows.npy", x[:20])
        out = _worker({"runtime": "native", "path": str(logreg_folder), "cpus": pinned_cpus(1),
                       "threads": 1, "rows": f"{tmp}/rows.npy", "batch_sizes": [1],
                       "calls": 5, "scores": f"{tmp}/s.npy", "flavor": "sklearn"}, 1, 120)
    assert len(out["affinity"]) == 1 and out["affinity"] == pinned_cpus(1)


def test_badges() -> None:
    assert badge_for(probe()) == ON_TARGET
    if len(os.sched_getaffinity(0)) > 1:
        d = probe().to_dict()
        d["hardware"]["cpu"]["cores"] = 1
        assert badge_for(profile_from_dict(d)) == EMULATED
    assert badge_for(profile_from_dict({"name": "a", "hardware": {"cpu": {"arch": "aarch64"}}})) \
        == ESTIMATED
    assert badge_for(profile_from_dict({"name": "e", "measurement": {"where": "estimate"}})) \
        == ESTIMATED


def _m(name: str, p99: float, acc: float, rss: float = 100, badge: str = ON_TARGET,
       drop: float = 0.0, precision: str = "fp32") -> Measurement:
    return Measurement(Candidate(name, "onnxruntime", precision), p50_ms=p99 / 2, p90_ms=p99,
                       p99_ms=p99, peak_rss_mb=rss, accuracy=acc, metric="accuracy",
                       badge=badge, drop_points=drop)


def test_select_most_accurate_within_budget_with_margin() -> None:
    prof = profile_from_dict({"name": "t", "slo": {"latency": {"budget_ms": 10},
                                                   "peak_memory_mb": 200,
                                                   "accuracy": {"max_drop_vs_fp32": 1.0}}})
    ms = [_m("slow-accurate", 12, 0.99), _m("int8-bad", 2, 0.97, drop=2.0, precision="int8"),
          _m("ok", 5, 0.985), _m("ok-faster-tie", 3, 0.984), _m("fat", 1, 0.99, rss=500),
          _m("emulated-edge", 9.5, 0.99, badge=EMULATED)]  # 9.5 > 10 x (1 - 10 %)
    sel = select(ms, prof)
    assert sel.chosen is not None and sel.chosen.candidate.name == "ok-faster-tie"
    assert {m.candidate.name for m in sel.feasible} == {"ok", "ok-faster-tie"}
    svg = pareto_svg(ms, prof, sel.chosen)
    assert svg.startswith("<svg") and "budget 10.0 ms" in svg and "<script" not in svg


def test_no_feasible_candidate_gives_nearest_misses() -> None:
    prof = profile_from_dict({"name": "t", "slo": {"latency": {"budget_ms": 1}}})
    sel = select([_m("a", 6.8, 0.9), _m("b", 3.0, 0.8)], prof)
    assert sel.chosen is None
    assert sel.misses[0]["candidate"] == "b"
    assert "relax the latency budget to 3 ms" in sel.misses[0]["fix"]
    assert sel.message.startswith("no feasible candidate")


def _fake_worker(calls: list[dict]):  # type: ignore[no-untyped-def,type-arg]
    import numpy as np

    def run(job: dict, threads: int, timeout_s: float) -> dict:  # type: ignore[type-arg]
        calls.append(job)
        np.save(job["scores"], np.tile([[0.2, 0.8]], (10, 1)))
        return {"latency_ns": {"1": [1_000_000] * job["calls"]}, "cold_start_ms": 5.0,
                "peak_rss_mb": 50.0, "base_rss_mb": 40.0, "affinity": job["cpus"]}
    return run


def test_noisy_rounds_are_repeated_and_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import loopml.targets.harness as h

    calls: list[dict] = []  # type: ignore[type-arg]
    monkeypatch.setattr(h, "_worker", _fake_worker(calls))
    monkeypatch.setattr(h, "_loadavg", lambda: 99.0)
    monkeypatch.setattr(h.time, "sleep", lambda s: None)
    c = Candidate("native", "native", "fp32", path="/m")
    [m] = measure([c], probe(), np.zeros((10, 2), np.float32), calls=5, rounds=2, retries=2)
    assert len(calls) == 2 * 3  # each noisy round tried 1 + 2 times
    assert m.noisy and m.loadavg and max(m.loadavg) == 99.0
    assert m.p50_ms == pytest.approx(1.0) and m.rounds == 2


def test_estimated_latency_is_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import loopml.targets.harness as h

    monkeypatch.setattr(h, "_worker", _fake_worker([]))
    monkeypatch.setattr(h, "_loadavg", lambda: 0.0)
    prof = profile_from_dict({"name": "e", "measurement": {"where": "estimate", "slowdown": 3}})
    [m] = measure([Candidate("native", "native", "fp32", path="/m")], prof,
                  np.zeros((10, 2), np.float32), calls=5, rounds=1)
    assert m.badge == ESTIMATED and m.p50_ms == pytest.approx(3.0) and not m.noisy
