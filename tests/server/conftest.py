from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from loopml.server._factory import build_services
from loopml.server.app import create_app
from tests.conftest import free_port


@dataclass
class LiveServer:
    url: str
    root: Path
    artifacts: Path
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_server(root: Path, token: str | None = None,
                 basic: tuple[str, str] | None = None, **service_kw: object) -> LiveServer:
    root.mkdir(parents=True, exist_ok=True)
    services = build_services(f"sqlite:///{root / 'db.sqlite'}", str(root / "artifacts"), token, basic)
    for k, v in service_kw.items():
        setattr(services, k, v)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", root, root / "artifacts", server, thread)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture
def mlflow_client_env(live_server: LiveServer, monkeypatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", live_server.url)
    import mlflow
    import mlflow.tracking.fluent as fluent

    mlflow.set_tracking_uri(live_server.url)
    # The client remembers the experiment an earlier test set (a module global): a fresh
    # server has no such experiment, so start each test from the default one.
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    return live_server.url
