"""What authentication and the audit trail cost the tracking hot path: sequential
``log-metric`` requests (keep-alive) against ``loopml server`` (SQLite) in four set-ups, in
one run, interleaved over rounds so that machine load hits each alike:

- ``off``: no auth, no audit trail (the server before issue 16);
- ``audit``: no auth, every POST recorded in the audit trail;
- ``token+audit``: the shared bearer token, audited;
- ``jwt+audit``: a provider-issued JWT (oidc-provider-mock started here) checked by the
  OIDC verifier (cached after the first request), audited.

    .venv/bin/python bench/auth_overhead.py [--requests 2000] [--rounds 3]

Prints requests/s per set-up and each one's ratio to ``off``.
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


def rate(url: str, headers: dict[str, str], n: int) -> float:
    with httpx.Client(base_url=url, headers=headers) as c:
        rid = c.post("/api/2.0/mlflow/runs/create", json={}).json()["run"]["info"]["run_id"]
        body: dict[str, Any] = {"run_id": rid, "key": "loss", "value": 0.5, "timestamp": 1}
        t = time.perf_counter()
        for i in range(n):
            body["step"] = i
            r = c.post("/api/2.0/mlflow/runs/log-metric", json=body)
            assert r.status_code == 200, r.text
        return n / (time.perf_counter() - t)


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
    results: dict[str, list[float]] = {k: [] for k in setups}
    servers = []
    with tempfile.TemporaryDirectory() as tmp:
        urls = {}
        for name, (auth, audit, _) in setups.items():
            (Path(tmp) / name).mkdir()
            urls[name], srv = serve(Path(tmp) / name, auth, audit)
            servers.append(srv)
        for _ in range(args.rounds):
            for name, (_, _, headers) in setups.items():
                results[name].append(rate(urls[name], headers, args.requests))
        for srv in servers:
            srv.should_exit = True
    provider.stop()
    base = statistics.median(results["off"])
    print(f"log-metric, sequential, {args.requests} requests x {args.rounds} rounds (median):")
    for name, rs in results.items():
        med = statistics.median(rs)
        print(f"  {name:<12} {med:8.0f} req/s   ratio to off {med / base:5.3f}")


if __name__ == "__main__":
    main()
