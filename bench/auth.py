"""Authentication overhead on the tracking hot path (issue 16): the real mlflow client
logging metrics one by one (``log_metric``, the training-loop call) and searching runs
against `loopml server` with auth off, with an API token (``MLFLOW_TRACKING_TOKEN``) and
with a password (``MLFLOW_TRACKING_USERNAME/PASSWORD``, argon2id behind a 30 s cache), in
one run. Rounds alternate between the servers so that machine load hits all alike.

    .venv/bin/python bench/auth.py [--quick]

Prints throughput per mode and its ratio to auth off; writes bench/results/auth.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _servers import free_port, start, stop  # noqa: E402


def _server(workdir: Path, required: bool) -> tuple[str, object]:
    port = free_port()
    env = {"LOOPML_AUTH_REQUIRED": "true" if required else ""}
    return start([sys.executable, "-m", "loopml", "server", "--port", str(port),
                  "--backend-store-uri", f"sqlite:///{workdir / 'loopml.db'}",
                  "--artifacts-destination", str(workdir / "artifacts")], port, env)


def _identities(workdir: Path) -> str:
    from loopml.security import IdentityService, Role
    from loopml.store import get_identity_store, get_store

    store = get_store(f"sqlite:///{workdir / 'loopml.db'}", str(workdir / "artifacts"))
    ids = IdentityService(get_identity_store(store))
    ids.create_service_account("bench")
    ids.grant("bench", "default", Role.EDITOR)
    ids.create_user("bench-user", "bench-password")
    ids.grant("bench-user", "default", Role.EDITOR)
    return str(ids.issue_token("bench", "default").token)


def _creds(mode: str, token: str) -> dict[str, str]:
    return {"off": {}, "token": {"MLFLOW_TRACKING_TOKEN": token},
            "password": {"MLFLOW_TRACKING_USERNAME": "bench-user",
                         "MLFLOW_TRACKING_PASSWORD": "bench-password"}}[mode]


def _phases(url: str, n: int) -> dict[str, Callable[[], int]]:
    from mlflow import MlflowClient

    c = MlflowClient(url)
    exp = c.create_experiment(f"auth-{time.time_ns()}")
    run = c.create_run(exp).info.run_id

    def log() -> int:
        for i in range(n):
            c.log_metric(run, "loss", 1.0 / (i + 1), step=i)
        return n

    def search() -> int:
        for _ in range(n // 10):
            c.search_runs([exp], max_results=10)
        return n // 10

    return {"log_metric": log, "search_runs": search}


def micro(workdir: Path, token: str, n: int = 50_000) -> dict[str, float]:
    """In-process cost of one authentication (µs), cache warm: what a request pays on top
    of auth off, independent of HTTP and of the machine's load on other processes."""
    import base64

    from loopml.security import Authenticator, build_verifiers
    from loopml.store import get_identity_store, get_store

    store = get_store(f"sqlite:///{workdir / 'loopml.db'}", str(workdir / "artifacts"))
    on = Authenticator(verifiers=build_verifiers(get_identity_store(store)), required=True)
    off = Authenticator()
    basic = base64.b64encode(b"bench-user:bench-password").decode()
    cases = {"off": (off, {}), "token": (on, {"authorization": f"Bearer {token}"}),
             "password": (on, {"authorization": f"Basic {basic}"})}
    out = {}
    for mode, (auth, headers) in cases.items():
        auth.authenticate(headers)  # warm the cache
        t = time.perf_counter()
        for _ in range(n):
            auth.authenticate(headers)
        out[mode] = (time.perf_counter() - t) / n * 1e6
        print(f"authenticate {mode:9s} {out[mode]:7.2f} µs per request (cache warm)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, rounds = (300, 3) if args.quick else (1500, 5)
    with tempfile.TemporaryDirectory() as d:
        off_dir, on_dir = Path(d, "off"), Path(d, "on")
        off_dir.mkdir()
        on_dir.mkdir()
        token = _identities(on_dir)
        micro_us = micro(on_dir, token)
        off_url, off_proc = _server(off_dir, False)
        on_url, on_proc = _server(on_dir, True)
        results: dict[str, dict[str, list[float]]] = {}
        try:
            for _ in range(rounds):
                for mode, url in (("off", off_url), ("token", on_url), ("password", on_url)):
                    saved = {k: os.environ.pop(k, None) for k in
                             ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
                              "MLFLOW_TRACKING_PASSWORD")}
                    os.environ.update(_creds(mode, token))
                    for phase, fn in _phases(url, n).items():
                        t = time.perf_counter()
                        ops = fn()
                        results.setdefault(phase, {}).setdefault(mode, []).append(
                            ops / (time.perf_counter() - t))
                    for k, v in saved.items():
                        os.environ.pop(k, None)
                        if v is not None:
                            os.environ[k] = v
        finally:
            stop(off_proc)  # type: ignore[arg-type]
            stop(on_proc)  # type: ignore[arg-type]
    out: dict[str, dict[str, float]] = {"authenticate_us": micro_us}
    for phase, modes in results.items():
        base = statistics.median(modes["off"])
        out[phase] = {}
        for mode, vals in modes.items():
            med = statistics.median(vals)
            out[phase][mode] = round(med, 1)
            print(f"{phase:12s} {mode:9s} {med:9.1f} ops/s  ratio to off {med / base:5.3f}")
    dest = Path(__file__).parent / "results"
    dest.mkdir(exist_ok=True)
    (dest / "auth.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
