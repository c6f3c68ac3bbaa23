"""SIGTERM: readiness flips to 503, every accepted request completes, the process exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.conftest import free_port


def _wait_ready(url: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"server at {url} did not become ready")


def test_sigterm_drains(model_dirs, cancer, tmp_path) -> None:
    x, _, _ = cancer
    port, gport = free_port(), free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", f"m={model_dirs['hgb']}", "--port", str(port),
         "--grpc-port", str(gport), "--grace-seconds", "20"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        body = {"inputs": [{"name": "input-0", "shape": [200, 30], "datatype": "FP64",
                            "data": x[:200].ravel().tolist()}]}
        results: list[int] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                while not stop.is_set():
                    try:
                        results.append(c.post("/v2/models/m/infer", json=body).status_code)
                    except httpx.HTTPError:
                        return  # connection refused after shutdown: never accepted

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"{url}/v2/health/ready")
        assert ready.status_code == 503 and ready.json() == {"ready": False}
        stop.set()
        for t in threads:
            t.join(30)
        # uvicorn re-raises the signal after its graceful stop, so -SIGTERM is a clean exit.
        assert proc.wait(30) in (0, -signal.SIGTERM)
        # Accepted requests all succeeded; after the flip, new ones got 503 (never a 5xx crash).
        assert results and set(results) <= {200, 503} and results.count(200) > 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_two_workers_serve_rest_and_grpc(model_dirs, cancer) -> None:
    import tritonclient.grpc as tgrpc

    x, _, _ = cancer
    port, gport = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", f"m={model_dirs['hgb_onnx']}", "--port",
         str(port), "--grpc-port", str(gport), "--workers", "2", "--grace-seconds", "5"],
        env={**os.environ, "PYTHONWARNINGS": "ignore"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url)
        body = {"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64",
                            "data": x[0].tolist()}]}
        codes = {httpx.post(f"{url}/v2/models/m/infer", json=body).status_code for _ in range(20)}
        assert codes == {200}
        time.sleep(1.0)  # both workers' gRPC servers up
        c = tgrpc.InferenceServerClient(f"127.0.0.1:{gport}")
        inp = tgrpc.InferInput("input-0", [1, 30], "FP64")
        inp.set_data_from_numpy(x[:1])
        assert c.infer("m", [inp]).as_numpy("predict").shape == (1,)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
