"""What the entity-workspace check (security/entity_scope.py) costs the tracking hot path:
sequential ``log-metric`` requests to an in-process control plane (SQLite, auth required, a
team-a editor token, ``X-MLFLOW-WORKSPACE: team-a``), with the check on and off, interleaved
over rounds so that machine load hits both alike; plus the check itself on a cached run.

    .venv/bin/python bench/entity_scope.py [--requests 1000] [--rounds 3]

Prints requests/s with and without the check, their ratio, and microseconds per check.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from starlette.testclient import TestClient  # noqa: E402

from loopml.security import IdentityService, Permission, Role  # noqa: E402
from loopml.security._workspaces_sql import SqlWorkspaceStore  # noqa: E402
from loopml.security.entity_scope import RUN, Addresses  # noqa: E402
from loopml.security.workspaces import use_workspace  # noqa: E402
from loopml.server._factory import build_services  # noqa: E402
from loopml.server.app import create_app  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp())
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"))
    assert services.identities is not None and services.entity_scope is not None
    SqlWorkspaceStore(services.store.engine).create("team-a")  # type: ignore[attr-defined]
    with use_workspace("team-a"):
        run_id = services.store.create_run(
            services.store.create_experiment("bench")).info.run_id
    ids = IdentityService(services.identities)
    ids.create_service_account("trainer")
    ids.grant("trainer", "team-a", Role.EDITOR)
    token = ids.issue_token("trainer", "team-a").token
    services.auth.required = True
    scope = services.entity_scope
    headers = {"Authorization": f"Bearer {token}", "X-MLFLOW-WORKSPACE": "team-a"}
    rates: dict[str, list[float]] = {"on": [], "off": []}
    with TestClient(create_app(services), base_url="http://127.0.0.1") as c:
        step = 0
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                services.entity_scope = scope if mode == "on" else None
                t0 = time.perf_counter()
                for _ in range(args.requests):
                    step += 1
                    r = c.post("/api/2.0/mlflow/runs/log-metric", headers=headers, json={
                        "run_id": run_id, "key": "loss", "value": 0.5, "timestamp": step,
                        "step": step})
                    assert r.status_code == 200, r.text
                rates[mode].append(args.requests / (time.perf_counter() - t0))
        principal = services.auth.authenticate({"authorization": f"Bearer {token}"})
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    addr, data, n = (Addresses(RUN, "run_id"),), {"run_id": run_id}, 100_000
    t0 = time.perf_counter()
    for _ in range(n):
        scope.check(addr, data, principal, Permission.WRITE, "team-a")
    per_check_us = (time.perf_counter() - t0) / n * 1e6
    print(f"log-metric, check off: {off:,.0f} req/s; check on: {on:,.0f} req/s; "
          f"on/off = {on / off:.3f}")
    print(f"one check of a cached run: {per_check_us:.2f} us")


if __name__ == "__main__":
    main()
