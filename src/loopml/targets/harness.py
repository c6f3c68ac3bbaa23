"""The measurement harness (research ``target-aware.md`` §3.3).

Invariants, each checked by tests:

- **process isolation**: every candidate, every round, runs in a fresh worker process
  (``loopml.targets._worker``);
- **placement**: the worker pins itself to ``profile.cores`` CPUs with
  ``os.sched_setaffinity`` (taskset semantics) and every runtime gets that many threads
  (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``OPENBLAS_NUM_THREADS``, ONNX Runtime
  ``intra_op_num_threads``, ``torch.set_num_threads``). CPU quotas are never used: their
  throttling periods fake tail latency (measured p99 47 ms for a 0.85 ms model);
- **warm-up** calls are discarded; **cold start** (session create + first call) is kept
  apart;
- **interleaving**: ``rounds`` rounds, candidates in the same order each round, statistics
  are the median of the per-round values; bootstrap 95 % CIs for p50 and p99 on the pooled
  samples;
- **noise guard**: the 1-minute load average is read before and after each round; a round
  with load > 0.3 x host cores is "noisy" and repeated (``retries`` times at most), and the
  report keeps the loads and the flag;
- **memory and size**: peak RSS of the worker (runtime import included, it matters on small
  devices) and the artifact size;
- **accuracy and fidelity** against the fp32 original (the native candidate) on the same
  holdout rows: metric, drop in points, max |delta p|, label agreement.

Every latency carries a badge: ``measured on target`` / ``emulated on host`` / ``estimated``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loopml.targets.candidates import Candidate
from loopml.targets.profile import TargetProfile, host_isa, is_this_host, usable_cores

HARNESS_VERSION = "1"
ON_TARGET, EMULATED, ESTIMATED = "measured on target", "emulated on host", "estimated"


@dataclass
class Measurement:
    """What the harness found for one candidate. Latencies in ms at ``at_batch``;
    ``by_batch``: {batch: {p50, p99}}; accuracy in [0, 1] (R^2 for regression)."""

    candidate: Candidate
    ok: bool = True
    error: str = ""
    badge: str = EMULATED
    p50_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    mean_ms: float = float("nan")
    p50_ci: tuple[float, float] = (float("nan"), float("nan"))
    p99_ci: tuple[float, float] = (float("nan"), float("nan"))
    by_batch: dict[str, dict[str, float]] = field(default_factory=dict)
    cold_start_ms: float = float("nan")
    peak_rss_mb: float = float("nan")
    size_mb: float = 0.0
    metric: str = ""
    accuracy: float | None = None
    drop_points: float | None = None
    max_abs_dp: float | None = None
    label_agreement: float | None = None
    calls: int = 0
    rounds: int = 0
    noisy: bool = False
    loadavg: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["candidate"] = self.candidate.to_dict()
        return d


def badge_for(profile: TargetProfile) -> str:
    """How a latency measured here relates to the target (research §3.5)."""
    if profile.measurement.where == "estimate":
        return ESTIMATED
    if is_this_host(profile):
        return ON_TARGET
    cpu = profile.hardware.cpu
    if cpu.arch != (platform.machine() or "x86_64") or profile.cores > usable_cores() or \
            not set(cpu.isa) <= set(host_isa()):
        return ESTIMATED  # no host-side trick emulates another ISA or more cores
    return EMULATED


def pinned_cpus(cores: int) -> list[int]:
    """The CPUs a worker pins to: ``cores`` of this process's affinity mask (the last
    ones, leaving CPU 0, where interrupts tend to land, for last)."""
    mine = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    return mine[-cores:] if cores <= len(mine) else mine


def _loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def _bootstrap(samples: np.ndarray, q: float, n: int = 400, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    take = min(len(samples), 2000)  # resample a fixed-size subset: bounded cost, same CI shape
    idx = rng.integers(0, len(samples), size=(n, take))
    stats = np.percentile(samples[idx], q, axis=1)
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def _worker(job: dict[str, Any], threads: int, timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="loopml-bench-") as tmp:
        jp, op = Path(tmp) / "job.json", Path(tmp) / "out.json"
        jp.write_text(json.dumps(job))
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE")
        proc = subprocess.run([sys.executable, "-m", "loopml.targets._worker", str(jp), str(op)],
                              env=env, capture_output=True, text=True, timeout=timeout_s)
        if not op.is_file():
            return {"error": f"worker exited {proc.returncode}: {proc.stderr.strip()[-500:]}"}
        out: dict[str, Any] = json.loads(op.read_text())
        return out


def _softmax_if_logits(s: np.ndarray) -> np.ndarray:
    if s.ndim == 2 and s.shape[1] > 1 and (s.min() < 0 or not np.allclose(s.sum(1), 1, atol=1e-3)):
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True))
    return s


def _quality(scores: np.ndarray, y: np.ndarray | None, classes: np.ndarray | None
             ) -> tuple[str, float | None]:
    if y is None:
        return "", None
    if scores.ndim == 2 and scores.shape[1] > 1:
        pred = np.argmax(scores, axis=1)
        labels = classes[pred] if classes is not None else pred
        return "accuracy", float(np.mean(labels == y))
    s = scores.reshape(len(y), -1)[:, 0]
    if classes is not None:  # binary classifier with one score column
        return "accuracy", float(np.mean(classes[(s > 0.5).astype(int)] == y))
    ss = float(np.sum((y - np.mean(y)) ** 2)) or 1.0
    return "r2", 1.0 - float(np.sum((y - s) ** 2)) / ss


def measure(candidates: list[Candidate], profile: TargetProfile, x: np.ndarray,
            y: np.ndarray | None = None, *, calls: int = 1000, rounds: int = 3,
            warmup_calls: int = 20, warmup_s: float = 0.0, retries: int = 1,
            trust: bool = False, flavor: str = "", classes: np.ndarray | None = None,
            timeout_s: float = 600.0) -> list[Measurement]:
    """Measure every ``ok`` candidate (pruned ones come back with ``ok=False``) on rows
    ``x`` (float32, the model's input layout), labels ``y`` for accuracy.

    The native candidate is the fp32 reference for drop and fidelity; it is always
    measured, even when the profile does not allow it as a choice."""
    cores = profile.cores
    cpus, threads = pinned_cpus(cores), min(cores, usable_cores())
    badge = badge_for(profile)
    slow = profile.measurement.slowdown if badge == ESTIMATED else 1.0
    at = profile.slo.latency.at_batch if profile.slo.latency else profile.workload.batch_sizes[0]
    batches = sorted({at, *profile.workload.batch_sizes})
    results = [Measurement(c, ok=False, error=c.reason, badge="") for c in candidates]
    live = [(i, c) for i, c in enumerate(candidates) if c.status == "ok" or c.name == "native"]
    pooled: dict[int, dict[str, list[int]]] = {i: {} for i, _ in live}
    per_round: dict[int, list[dict[str, float]]] = {i: [] for i, _ in live}
    extras: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="loopml-rows-") as tmp:
        rows = Path(tmp) / "rows.npy"
        np.save(rows, x)
        loads: list[float] = []
        noisy_any = False
        for r in range(rounds):
            for attempt in range(retries + 1):
                before = _loadavg()
                outs = {}
                for i, c in live:  # same order every round: A B C A B C ...
                    job = {"runtime": c.runtime, "path": c.path, "cpus": cpus,
                           "threads": threads, "rows": str(rows), "batch_sizes": batches,
                           "calls": calls, "warmup_calls": warmup_calls, "warmup_s": warmup_s,
                           "trust": trust, "flavor": flavor,
                           "scores": str(Path(tmp) / f"scores-{i}.npy")}
                    outs[i] = _worker(job, threads, timeout_s)
                after = _loadavg()
                loads += [before, after]
                noisy = max(before, after) > 0.3 * usable_cores()
                if not noisy or attempt == retries:
                    noisy_any |= noisy
                    break
                time.sleep(1.0)
            for i, out in outs.items():
                if "error" in out:
                    results[i].error = out["error"]
                    continue
                ms = {b: np.asarray(v, dtype=np.float64) / 1e6 for b, v in out["latency_ns"].items()}
                for b, v in out["latency_ns"].items():
                    pooled[i].setdefault(b, []).extend(v)
                per_round[i].append({"p50": float(np.percentile(ms[str(at)], 50)),
                                     "p90": float(np.percentile(ms[str(at)], 90)),
                                     "p99": float(np.percentile(ms[str(at)], 99)),
                                     "max": float(ms[str(at)].max()),
                                     "mean": float(ms[str(at)].mean())})
                e = extras.setdefault(i, {"cold": [], "rss": []})
                e["cold"].append(out["cold_start_ms"])
                e["rss"].append(out["peak_rss_mb"])
                if r == 0:
                    e["scores"] = np.load(Path(tmp) / f"scores-{i}.npy")
    ref = next((extras[i].get("scores") for i, c in live if c.name == "native" and i in extras),
               None)
    for i, c in live:
        m = results[i]
        if not per_round[i]:
            m.ok = False
            continue
        m.ok, m.error, m.badge, m.calls, m.rounds = c.status == "ok", c.reason, badge, calls, \
            len(per_round[i])
        m.noisy, m.loadavg = noisy_any, [round(v, 2) for v in loads]
        med = {k: float(np.median([pr[k] for pr in per_round[i]])) * slow
               for k in ("p50", "p90", "p99", "max", "mean")}
        m.p50_ms, m.p90_ms, m.p99_ms, m.max_ms, m.mean_ms = (med["p50"], med["p90"], med["p99"],
                                                            med["max"], med["mean"])
        pool = np.asarray(pooled[i][str(at)], dtype=np.float64) / 1e6 * slow
        m.p50_ci, m.p99_ci = _bootstrap(pool, 50), _bootstrap(pool, 99)
        m.by_batch = {b: {"p50": float(np.percentile(np.asarray(v) / 1e6 * slow, 50)),
                          "p99": float(np.percentile(np.asarray(v) / 1e6 * slow, 99))}
                      for b, v in pooled[i].items()}
        m.cold_start_ms = float(np.median(extras[i]["cold"]))
        m.peak_rss_mb = float(max(extras[i]["rss"]))
        m.size_mb = c.size_bytes / 2**20
        _judge(m, extras[i].get("scores"), ref, y, classes)
    base = next((m.accuracy for m in results if m.candidate.name == "native"), None)
    for m in results:
        if m.accuracy is not None and base is not None:
            m.drop_points = (base - m.accuracy) * 100
    return results


def _judge(m: Measurement, scores: np.ndarray | None, ref: np.ndarray | None,
           y: np.ndarray | None, classes: np.ndarray | None) -> None:
    if scores is None:
        return
    s = _softmax_if_logits(scores)
    m.metric, m.accuracy = _quality(s, y, classes)
    if ref is not None:
        r = _softmax_if_logits(ref)
        if r.shape == s.shape:
            m.max_abs_dp = float(np.max(np.abs(r - s))) if s.size else 0.0
            if s.ndim == 2 and s.shape[1] > 1:
                m.label_agreement = float(np.mean(np.argmax(r, 1) == np.argmax(s, 1)))


__all__ = ["EMULATED", "ESTIMATED", "HARNESS_VERSION", "ON_TARGET", "Measurement", "badge_for", "measure", "pinned_cpus"]
