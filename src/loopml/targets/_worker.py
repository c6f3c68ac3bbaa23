"""One measurement, in a fresh process: ``python -m loopml.targets._worker JOB.json OUT.json``.

The job names one candidate, the cores to pin to, the rows (an ``.npy`` file), the batch
sizes, warm-up and call counts. The process pins itself with ``os.sched_setaffinity``
(taskset semantics: whole cores, never a CPU quota, whose throttling periods fake tail
latency, research §3.5) before any runtime starts its thread pools, and every runtime gets
the same thread count. It writes latencies (ns per call), cold start, RSS and the scores on
every row (``scores.npy``) for the parent to judge accuracy and fidelity.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

# Runtime imports happen before the RSS baseline and the cold-start clock (research §3.3).
_FLAVOR_IMPORTS = {"sklearn": ("sklearn", "skops.io"), "lightgbm": ("lightgbm",),
                   "xgboost": ("xgboost",), "pytorch": ("torch",)}


def _pin(cpus: list[int]) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def _peak_rss_mb() -> float:
    """VmHWM: this process's own high-water mark. Not ``ru_maxrss``, which Linux carries
    over from the parent through fork + exec (a 400 MB parent would be reported)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


class _Runner:
    """predict(batch) -> scores, for one candidate; ``batches`` pre-cut in the model's
    input form so that slicing is not timed."""

    def __init__(self, job: dict[str, Any], x: Any, threads: int) -> None:
        self.kind = job["runtime"]
        if self.kind == "onnxruntime":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            # The saved graph is measured as saved (onnx-opt already holds its optimisations).
            self.sess = ort.InferenceSession(job["path"], opts, providers=["CPUExecutionProvider"])
            self.in_name = self.sess.get_inputs()[0].name
            outs = self.sess.get_outputs()
            self.out_index = 1 if len(outs) > 1 else 0  # (label, probabilities) or (output,)
            self.x = x
        else:
            from loopml.models._load import load_folder

            self.model = load_folder(Path(job["path"]), trust=bool(job.get("trust")))
            self.native = self.model.native
            self.proba = hasattr(self.native, "predict_proba")
            prepared = self.model.prepare(x if x.ndim > 2 else self._frame(x))
            self.x = prepared

    def _frame(self, x: Any) -> Any:
        sig = self.model.signature
        names = sig.inputs.names if sig and not sig.inputs.is_tensor else None
        if names and len(names) == x.shape[1]:
            import pandas as pd

            frame = pd.DataFrame(x, columns=names)
            assert sig is not None
            types = {s.name: getattr(s, "type", "") for s in sig.inputs.specs}
            return frame.astype({n: ("float64" if t == "double" else "float32" if t == "float"
                                     else frame[n].dtype) for n, t in types.items()})
        return x

    def batch(self, i: int, n: int) -> Any:
        x = self.x
        return x.iloc[i:i + n] if hasattr(x, "iloc") else x[i:i + n]

    def __call__(self, b: Any) -> Any:
        if self.kind == "onnxruntime":
            return self.sess.run(None, {self.in_name: b})[self.out_index]
        if self.proba:
            return self.native.predict_proba(b)
        return self.model.flavor.predict(self.native, b)


def run(job: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    cpus, threads = job["cpus"], int(job["threads"])
    _pin(cpus)
    if job["runtime"] == "onnxruntime":
        import onnxruntime  # noqa: F401 - imported before the RSS baseline
    else:
        import importlib

        import loopml.models._load  # noqa: F401
        for mod in _FLAVOR_IMPORTS.get(str(job.get("flavor")), ()):
            importlib.import_module(mod)  # a fixed table: not a name taken from the request
        if job.get("flavor") == "pytorch":
            import torch

            torch.set_num_threads(threads)
            torch.set_num_interop_threads(1)
    x = np.load(job["rows"]).astype(np.float32)
    base_rss = _rss_mb()
    t0 = time.perf_counter_ns()
    runner = _Runner(job, x, threads)
    first = runner(runner.batch(0, int(job["batch_sizes"][0])))
    cold_ms = (time.perf_counter_ns() - t0) / 1e6
    n = len(x)
    lat: dict[str, list[int]] = {}
    for bs in job["batch_sizes"]:
        starts = [i % max(1, n - bs + 1) for i in range(0, 64 * bs, bs)]
        batches = [runner.batch(s, bs) for s in starts]
        deadline = time.perf_counter() + float(job.get("warmup_s", 0.0))
        k = 0
        while k < int(job.get("warmup_calls", 20)) or time.perf_counter() < deadline:
            runner(batches[k % len(batches)])
            k += 1
        samples = []
        for k in range(int(job["calls"])):
            b = batches[k % len(batches)]
            s = time.perf_counter_ns()
            runner(b)
            samples.append(time.perf_counter_ns() - s)
        lat[str(bs)] = samples
    scores = [np.asarray(runner(runner.batch(i, 256))) for i in range(0, n, 256)]
    np.save(job["scores"], np.concatenate(scores).astype(np.float64))
    peak = _peak_rss_mb()
    del first
    return {"latency_ns": lat, "cold_start_ms": cold_ms, "peak_rss_mb": peak,
            "base_rss_mb": base_rss, "affinity": sorted(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity") else cpus}


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    try:
        out = run(job)
    except Exception as e:  # reported to the parent as a failed measurement, not a crash
        out = {"error": f"{type(e).__name__}: {e}"}
    Path(sys.argv[2]).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
