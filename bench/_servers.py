"""Start and stop the servers the benchmarks compare, as subprocesses on loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def start(cmd: list[str], port: int, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return url, proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


NULL_APP = '''
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def ok(request):
    await request.body()
    return Response(b"{}", media_type="application/json")
app = Starlette(routes=[Route("/{p:path}", ok, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
'''


CANNED_APP = '''
import json, os
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
CANNED = {k: v.encode() for k, v in json.load(open(os.environ["CANNED_FILE"])).items()}
async def ok(request):
    body = await request.body()
    key = request.url.path
    if key.endswith("/runs/search"):
        key += "?filtered" if b"metrics.acc" in body else "?all"
    return Response(CANNED.get(key, b"{}"), media_type="application/json")
app = Starlette(routes=[Route("/{p:path}", ok, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
'''


def start_canned(workdir: Path, canned: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    """A server that answers each route with a response recorded from loopml, instantly:
    what the mlflow client achieves against it is the client's own ceiling per phase."""
    import json

    (workdir / "canned_app.py").write_text(CANNED_APP)
    (workdir / "canned.json").write_text(json.dumps(canned))
    port = free_port()
    return start([sys.executable, "-m", "uvicorn", "--app-dir", str(workdir), "canned_app:app",
                  "--port", str(port), "--log-level", "warning", "--no-access-log"], port,
                 env={"CANNED_FILE": str(workdir / "canned.json")})


def start_null(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    (workdir / "null_app.py").write_text(NULL_APP)
    port = free_port()
    return start([sys.executable, "-m", "uvicorn", "--app-dir", str(workdir), "null_app:app",
                  "--port", str(port), "--log-level", "warning", "--no-access-log"], port)


def start_mlflow(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    return start([str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                  "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
                  "--artifacts-destination", str(workdir / "mlflow-artifacts")], port)


def start_loopml(workdir: Path, workers: int = 1) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    return start([sys.executable, "-m", "loopml", "server", "--port", str(port), "--workers",
                  str(workers), "--backend-store-uri", f"sqlite:///{workdir / 'loopml.db'}",
                  "--artifacts-destination", str(workdir / "loopml-artifacts")], port)
