"""What authentication and the audit trail cost the tracking hot path: sequential
``log-metric`` requests (keep-alive) against ``loopml server`` (SQLite) in four set-ups, in
one run, interleaved over rounds so that machine load hits each alike:

- ``off``: no auth, no audit trail (the server before issue 16);
- ``audit``: no auth, every POST recorded in the audit trail;
- ``token+audit``: the shared bearer token, audited;
- ``jwt+audit``: a provider-issued JWT (oidc-provider-mock started here) checked by the
  OIDC verifier (cached after the first request), audited.

and the serving hot path: sequential 1-row ``/invocations`` requests against ``loopml
serve``'s app (a logistic regression on scikit-learn's breast-cancer data, no batching
delay, no inference log) with auth ``off``, the shared ``token`` and a ``jwt``.

    .venv/bin/python bench/auth_overhead.py [--requests 2000] [--rounds 3]

Prints requests/s per set-up (median of the rounds) and each one's ratio to ``off``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import free_port  # noqa: E402
from tests.security._oidc import CLIENT_ID, start_provider  # noqa: E402

from loopml.security import Authenticator  # noqa: E402
from loopml.security.oidc import ClaimMapping, ClaimRule, JWTVerifier, OidcConfig  # noqa: E402
from loopml.server._factory import build_services  # noqa: E402
from loopml.server.app import create_app  # noqa: E402


def serve(root: Path, auth: Authenticator, audit: bool) -> tuple[str, uvicorn.Server]:
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    services.auth = auth
    if not audit:
        services.audit = None
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def rate(url: str, headers: dict[str, str], n: int) -> tuple[float, float]:
    """(requests/s, CPU µs per request). The servers run in this process, so the CPU time
    is client + server work: unlike wall time it hardly moves with other jobs' load."""
    with httpx.Client(base_url=url, headers=headers) as c:
        rid = c.post("/api/2.0/mlflow/runs/create", json={}).json()["run"]["info"]["run_id"]
        body: dict[str, Any] = {"run_id": rid, "key": "loss", "value": 0.5, "timestamp": 1}
        t, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            body["step"] = i
            r = c.post("/api/2.0/mlflow/runs/log-metric", json=body)
            assert r.status_code == 200, r.text
        return n / (time.perf_counter() - t), (time.process_time() - cpu) / n * 1e6


def serve_models(folder: Path, auth: Authenticator) -> tuple[str, uvicorn.Server]:
    from loopml.serving.repository import ServingSettings
    from loopml.serving.server import ServeOptions, build_app

    port = free_port()
    opts = ServeOptions(port=port, grpc_port=None, access_log=False, log_level="warning")
    app = build_app({"m": str(folder)}, ServingSettings(max_batch_delay_s=0.0), opts, auth)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def predict_rate(url: str, headers: dict[str, str], n: int,
                 row: list[float]) -> tuple[float, float]:
    body = {"dataframe_split": {"columns": [f"f{i}" for i in range(len(row))],
                                "data": [row]}}
    with httpx.Client(base_url=url, headers=headers) as c:
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            r = c.post("/invocations", json=body)
            assert r.status_code == 200, r.text
        return n / (time.perf_counter() - t), (time.process_time() - cpu) / n * 1e6


def model_folder(root: Path) -> tuple[Path, list[float]]:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from loopml import models

    data = load_breast_cancer()
    x = pd.DataFrame(data.data, columns=[f"f{i}" for i in range(data.data.shape[1])])
    clf = LogisticRegression(max_iter=5000).fit(x, data.target)
    models.save_model(clf, root / "model", input_example=x.head(5),
                      serialization_format="skops")
    return root / "model", [float(v) for v in x.iloc[0]]


def report(title: str, results: dict[str, list[tuple[float, float]]]) -> None:
    """Per set-up: median req/s and its ratio to off (wall time: moves with the machine's
    load), and median CPU µs per request and the throughput ratio it implies at equal CPU
    (cpu_off / cpu_x: the figure that holds on a shared machine)."""
    base = statistics.median(r for r, _ in results["off"])
    base_cpu = statistics.median(c for _, c in results["off"])
    print(title)
    for name, rs in results.items():
        med = statistics.median(r for r, _ in rs)
        cpu = statistics.median(c for _, c in rs)
        print(f"  {name:<12} {med:8.0f} req/s  ratio {med / base:5.3f} | {cpu:7.0f} CPU µs/req"
              f"  CPU ratio {base_cpu / cpu:5.3f}   (req/s by round: "
              f"{', '.join(f'{r:.0f}' for r, _ in rs)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    provider = start_provider()
    provider.set_user("bench", groups=["ml"])
    jwt = provider.id_token("bench")
    verifier = JWTVerifier(OidcConfig(provider.issuer, CLIENT_ID, mapping=ClaimMapping(
        rules=(ClaimRule("ml", "admin"),))))
    setups = {
        "off": (Authenticator(), False, {}),
        "audit": (Authenticator(), True, {}),
        "token+audit": (Authenticator("bench-token"), True,
                        {"Authorization": "Bearer bench-token"}),
        "jwt+audit": (Authenticator(None, None, [verifier]), True,
                      {"Authorization": f"Bearer {jwt}"}),
    }
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in setups}
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        urls = {}
        for name, (auth, audit, _) in setups.items():
            (Path(tmp) / name).mkdir()
            urls[name], srv = serve(Path(tmp) / name, auth, audit)
            servers.append(srv)
        folder, row = model_folder(Path(tmp))
        serving = {"off": (Authenticator(), {}),
                   "token": (Authenticator("bench-token"),
                             {"Authorization": "Bearer bench-token"}),
                   "jwt": (Authenticator(None, None, [verifier]),
                           {"Authorization": f"Bearer {jwt}"})}
        s_urls = {}
        for name, (auth, _) in serving.items():
            s_urls[name], srv = serve_models(folder, auth)
            servers.append(srv)
        s_results: dict[str, list[tuple[float, float]]] = {k: [] for k in serving}
        for _ in range(args.rounds):
            for name, (_, _, headers) in setups.items():
                results[name].append(rate(urls[name], headers, args.requests))
            for name, (_, headers) in serving.items():
                s_results[name].append(predict_rate(s_urls[name], headers, args.requests, row))
        for srv in servers:
            srv.should_exit = True
    provider.stop()
    report(f"tracking log-metric, sequential, {args.requests} requests x {args.rounds} "
           "rounds (median):", results)
    report(f"serving /invocations 1 row, sequential, {args.requests} requests x "
           f"{args.rounds} rounds (median):", s_results)


if __name__ == "__main__":
    main()
