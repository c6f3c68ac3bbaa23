"""A live data-plane server (REST + gRPC in one uvicorn thread) over real model folders."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from loopml.serving.repository import ServingSettings
from loopml.serving.server import ServeOptions, build_app
from tests.conftest import free_port
from tests.server.conftest import live_server  # noqa: F401 - fixture re-export

warnings.filterwarnings("ignore")


@dataclass
class Served:
    url: str
    grpc: str
    app: object
    server: uvicorn.Server
    thread: threading.Thread
    log_dir: Path

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    return d.data, d.target, list(d.feature_names)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory, cancer) -> dict[str, Path]:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from loopml import models
    from loopml.models.onnx_export import to_onnx

    x, y, names = cancer
    frame = pd.DataFrame(x, columns=names)
    root = tmp_path_factory.mktemp("serving-models")
    models.save_model(HistGradientBoostingClassifier(max_iter=30).fit(frame, y), root / "hgb",
                      input_example=frame[:20])
    models.save_model(HistGradientBoostingClassifier(max_iter=30).fit(frame, y),
                      root / "hgb_onnx", input_example=frame[:20])
    assert to_onnx(str(root / "hgb_onnx")).converted
    models.save_model(LogisticRegression(max_iter=2000).fit(x, y), root / "tensor",
                      input_example=x[:5])
    return {"hgb": root / "hgb", "hgb_onnx": root / "hgb_onnx", "tensor": root / "tensor"}


def start(models: dict[str, str], tmp: Path, auth: object = None, fetch: object = None,
          deployments: tuple[str, ...] = (), **settings: object) -> Served:
    port, gport = free_port(), free_port()
    opts = ServeOptions("127.0.0.1", port, gport, log_dir=str(tmp / "ilog"), drain_delay_s=0.1,
                        deployments=deployments, poll_s=0.2)
    app = build_app(models, ServingSettings(**settings), opts, auth, fetch)  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("serving test server did not start")
        time.sleep(0.05)
    return Served(f"http://127.0.0.1:{port}", f"127.0.0.1:{gport}", app, server, thread,
                  tmp / "ilog")


@pytest.fixture(scope="module")
def served(model_dirs, tmp_path_factory) -> Iterator[Served]:
    s = start({k: str(v) for k, v in model_dirs.items()}, tmp_path_factory.mktemp("serve"))
    yield s
    s.stop()
