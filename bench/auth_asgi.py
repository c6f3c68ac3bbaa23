"""Authentication's cost per request on the hot paths, measured where a shared machine
cannot blur it: requests driven straight into the ASGI apps (no sockets, no uvicorn, one
app active at a time), CPU time of this process per request, interleaved rounds.

- tracking: ``POST /api/2.0/mlflow/runs/log-metric`` on ``loopml server``'s app (SQLite,
  audit trail off so that authentication is what differs);
- serving: ``POST /invocations`` (1 row) on ``loopml serve``'s app.

Set-ups: auth ``off``; the shared bearer ``token``; a provider-issued ``jwt``
(oidc-provider-mock started here; verified once, then from the verifier's cache).

    .venv/bin/python bench/auth_asgi.py [--requests 2000] [--rounds 3]

Prints the median CPU µs per request per set-up and the throughput ratio it implies at
equal CPU (cpu_off / cpu_x); the issue's bound is >= 0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from auth_overhead import model_folder  # noqa: E402
from tests.security._oidc import CLIENT_ID, start_provider  # noqa: E402

from loopml.security import Authenticator  # noqa: E402
from loopml.security.oidc import ClaimMapping, ClaimRule, JWTVerifier, OidcConfig  # noqa: E402


async def _drive(app: Any, headers: dict[str, str], n: int, path: str,
                 body: Any) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                 headers=headers) as c:
        for _ in range(20):  # warm-up: caches, first-request paths
            (await c.post(path, json=body(0))).raise_for_status()
        cpu = time.process_time()
        for i in range(n):
            r = await c.post(path, json=body(i))
            if r.status_code != 200:
                raise RuntimeError(r.text)
        return (time.process_time() - cpu) / n * 1e6


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
    auths = {"off": (Authenticator(), {}),
             "token": (Authenticator("bench-token"), {"Authorization": "Bearer bench-token"}),
             "jwt": (Authenticator(None, None, [verifier]), {"Authorization": f"Bearer {jwt}"})}
    from loopml.server._factory import build_services
    from loopml.server.app import create_app
    from loopml.serving.repository import ServingSettings
    from loopml.serving.server import ServeOptions, build_app

    results: dict[str, dict[str, list[float]]] = {"tracking": {}, "serving": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder, row = model_folder(Path(tmp))
        apps: dict[str, dict[str, Any]] = {"tracking": {}, "serving": {}}
        runs = {}
        for name, (auth, headers) in auths.items():
            root = Path(tmp) / name
            root.mkdir()
            services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "a"))
            services.auth, services.audit = auth, None
            services.inline_store_calls = True
            apps["tracking"][name] = create_app(services)
            exp = services.store.create_experiment("bench")
            runs[name] = services.store.create_run(exp, run_name="r").info.run_id
            opts = ServeOptions(grpc_port=None, access_log=False, log_level="warning")
            apps["serving"][name] = build_app({"m": str(folder)},
                                              ServingSettings(max_batch_delay_s=0.0), opts, auth)
        cols = [f"f{i}" for i in range(len(row))]
        for _ in range(args.rounds):
            for name, (_, headers) in auths.items():
                rid = runs[name]
                results["tracking"].setdefault(name, []).append(asyncio.run(_drive(
                    apps["tracking"][name], headers, args.requests,
                    "/api/2.0/mlflow/runs/log-metric",
                    lambda i, rid=rid: {"run_id": rid, "key": "loss", "value": 0.5,
                                        "timestamp": 1, "step": i})))
                results["serving"].setdefault(name, []).append(asyncio.run(_drive(
                    apps["serving"][name], headers, args.requests, "/invocations",
                    lambda i: {"dataframe_split": {"columns": cols, "data": [row]}})))
    provider.stop()
    for path, per in results.items():
        base = statistics.median(per["off"])
        print(f"{path}: CPU µs per request, {args.requests} requests x {args.rounds} rounds "
              "(median; ratio = throughput at equal CPU vs off)")
        for name, vals in per.items():
            med = statistics.median(vals)
            print(f"  {name:<6} {med:8.1f} µs   ratio {base / med:5.3f}   "
                  f"(rounds: {', '.join(f'{v:.0f}' for v in vals)})")


if __name__ == "__main__":
    main()
