"""Serving benchmark: one model, four servers, the same load generator, in one run.

    .venv/bin/python bench/serving.py [--seconds 10]

Model: HistGradientBoostingClassifier on scikit-learn's breast-cancer data. Servers:
- ``loopml serve`` with the model's ONNX flavor (added by ``loopml models to-onnx``, parity
  checked) and with ``--no-onnx`` (native scikit-learn);
- ``mlflow models serve`` (mlflow 3.17.2, --env-manager local) on the same folder;
- MLServer 1.7.1 + mlserver-sklearn in its own venv (bench/.venv-mlserver, created on first
  use), ``parallel_workers: 0``, adaptive batching max_batch_size 32 / max_batch_time 0.002.

Requests are 1-row JSON: /invocations (dataframe_split) for loopml and MLflow, V2 for loopml
and MLServer. Concurrency 1 and 32; ``bench/loadgen.py`` (keep-alive connections, uvloop)
drives every server. Prints throughput and p50/p99 and writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

HERE = Path(__file__).parent
MLSERVER_VENV = HERE / ".venv-mlserver"
warnings.filterwarnings("ignore")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server at {url} did not become ready")


def start(cmd: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    # mlflow models serve runs `uvicorn` by name: put this venv's bin on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore",
           "PATH": path}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(p.pid, signal.SIGKILL)


def load(url: str, body: Path, c: int, seconds: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(HERE / "loadgen.py"), url, str(body),
                          "--concurrency", str(c), "--seconds", str(seconds)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def ensure_mlserver() -> Path:
    py = MLSERVER_VENV / "bin" / "python"
    if not (MLSERVER_VENV / "bin" / "mlserver").exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "mlserver==1.7.1",
                        "mlserver-sklearn==1.7.1"], check=True)
    return MLSERVER_VENV / "bin" / "mlserver"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--skip", default="", help="comma-separated: mlflow,mlserver,native")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import joblib
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.models.onnx_export import to_onnx

    work = Path(tempfile.mkdtemp(prefix="loopml-bench-serving-"))
    data = load_breast_cancer()
    x = pd.DataFrame(data.data, columns=data.feature_names)
    clf = HistGradientBoostingClassifier(max_iter=100).fit(x, data.target)
    models.save_model(clf, work / "model", input_example=x[:50])
    parity = to_onnx(str(work / "model"))
    row = x.iloc[0].tolist()
    v2 = work / "v2.json"
    v2.write_text(json.dumps({"inputs": [{"name": "input-0", "shape": [1, 30],
                                          "datatype": "FP64", "data": row}]}))
    inv = work / "invocations.json"
    inv.write_text(json.dumps({"dataframe_split": {"columns": list(x.columns), "data": [row]}}))
    loopml = [sys.executable, "-m", "loopml", "serve"]
    results: dict[str, dict[str, object]] = {"onnx_parity": parity.to_dict()}
    plans: list[tuple[str, list[str], str, list[tuple[str, str, Path]]]] = []
    p1 = free_port()
    plans.append(("loopml (ONNX)", loopml + [f"hgb={work / 'model'}", "--port", str(p1),
                                             "--grpc-port", "0"],
                  f"http://127.0.0.1:{p1}/v2/health/ready",
                  [("v2", f"http://127.0.0.1:{p1}/v2/models/hgb/infer", v2),
                   ("invocations", f"http://127.0.0.1:{p1}/invocations", inv)]))
    if "native" not in skip:
        p2 = free_port()
        plans.append(("loopml (native)", loopml + [f"hgb={work / 'model'}", "--port", str(p2),
                                                   "--grpc-port", "0", "--no-onnx"],
                      f"http://127.0.0.1:{p2}/v2/health/ready",
                      [("v2", f"http://127.0.0.1:{p2}/v2/models/hgb/infer", v2)]))
    if "mlflow" not in skip:
        p3 = free_port()
        plans.append(("mlflow models serve", [sys.executable, "-m", "mlflow", "models", "serve",
                                              "-m", str(work / "model"), "-p", str(p3),
                                              "--env-manager", "local"],
                      f"http://127.0.0.1:{p3}/ping",
                      [("invocations", f"http://127.0.0.1:{p3}/invocations", inv)]))
    if "mlserver" not in skip:
        mlserver = ensure_mlserver()
        p4, g4, m4 = free_port(), free_port(), free_port()
        ms = work / "mlserver"
        ms.mkdir()
        joblib.dump(clf, ms / "model.joblib")
        (ms / "settings.json").write_text(json.dumps({
            "parallel_workers": 0, "http_port": p4, "grpc_port": g4, "metrics_port": m4}))
        (ms / "model-settings.json").write_text(json.dumps({
            "name": "hgb", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"}, "max_batch_size": 32,
            "max_batch_time": 0.002}))
        plans.append(("MLServer 1.7.1", [str(mlserver), "start", str(ms)],
                      f"http://127.0.0.1:{p4}/v2/models/hgb/ready",
                      [("v2", f"http://127.0.0.1:{p4}/v2/models/hgb/infer", v2)]))

    lines = []
    for name, cmd, ready, targets in plans:
        proc = start(cmd, cwd=work)
        try:
            wait_ready(ready)
            for proto, url, body in targets:
                for c in (1, 32):
                    load(url, body, c, 1.0)  # warm up
                    r = load(url, body, c, args.seconds)
                    results.setdefault(name, {})[f"{proto}_c{c}"] = r
                    lines.append(f"{name:22} {proto:12} c={c:<3} {r['rps']:8.0f} req/s   "
                                 f"p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   "
                                 f"errors {r['errors']}")
                    print(lines[-1], flush=True)
        finally:
            stop(proc)
    ours = results["loopml (ONNX)"]["v2_c32"]
    if "MLServer 1.7.1" in results:
        theirs = results["MLServer 1.7.1"]["v2_c32"]
        lines.append(f"c=32 throughput, loopml / MLServer: "
                     f"{ours['rps'] / theirs['rps']:.1f}x")  # type: ignore[index]
    if "mlflow models serve" in results:
        mine, mlf = results["loopml (ONNX)"]["invocations_c32"], \
            results["mlflow models serve"]["invocations_c32"]
        lines.append(f"c=32 /invocations throughput, loopml / mlflow: "
                     f"{mine['rps'] / mlf['rps']:.0f}x")  # type: ignore[index]
    print("\n".join(lines[-2:]))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "serving.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out / 'serving.json'}")


if __name__ == "__main__":
    main()
