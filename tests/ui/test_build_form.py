"""The no-code form in Chromium: a bad upload's error shows in the form; a good one builds
in the background, the progress page ends on the endpoint and its curl example, the
endpoint answers once served, and the build's drift monitor exists."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import free_port
from tests.server.conftest import start_server


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    srv = start_server(tmp_path / "srv")
    yield srv
    srv.stop()


def _csv(path: Path, one_class: bool = False) -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 3))
    y = np.zeros(150, dtype=int) if one_class else (x[:, 0] + x[:, 1] > 0).astype(int)
    pd.DataFrame({"u": x[:, 0], "v": x[:, 1], "w": x[:, 2], "label": y}).to_csv(path, index=False)
    return path


def _submit(page: Any, base: str, data: Path, **fields: str) -> None:
    page.goto(base + "/ui/build")
    page.set_input_files("input[name=file]", str(data))
    for k, v in fields.items():
        page.fill(f"input[name={k}]", v)
    page.click("#build-form button[type=submit]")


@pytest.mark.slow
@pytest.mark.timeout(900)  # a real build + a model server; minutes on a loaded 2-core box
def test_upload_build_endpoint_monitor(server: Any, page: Any, tmp_path: Path) -> None:
    page.set_default_timeout(120_000)  # the first upload imports pandas/scikit-learn (loaded box)
    _submit(page, server.url, _csv(tmp_path / "flat.csv", one_class=True),
            target_column="label", budget_s="3")
    assert "one class" in page.inner_text("#build-error")
    _submit(page, server.url, _csv(tmp_path / "demo.csv"), target_column="label",
            budget_s="3", name="demo-form")
    assert "/ui/build/" in page.url
    progress, deadline = page.url, time.time() + 300
    ends = ('id="stage">done<', 'id="stage">failed<', 'id="stage">no feasible model<')
    # Poll outside the browser: the page's own meta refresh would race a reload.
    while not any(e in (html := httpx.get(progress).text) for e in ends):
        assert time.time() < deadline, html
        time.sleep(1)
    page.goto(progress)
    assert page.inner_text("#stage") == "done", page.content()
    curl = page.inner_text("#curl")
    assert "/v2/models/demo-form/infer" in curl
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "loopml", "serve", "--serve-deployment",
                              "demo-form", "--tracking-uri", server.url, "--port", str(port),
                              "--grpc-port", "0"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        body = json.loads(curl.split(" -d '", 1)[1].rstrip("'"))
        url = page.inner_text("#endpoint").replace(":8080", f":{port}")
        answer, last = None, "no answer"
        while answer is None and time.time() < deadline + 120:
            try:
                r = httpx.post(url, json=body, timeout=5)
                answer = r.json() if r.status_code == 200 else None
                last = f"{r.status_code} {r.text[:300]}"
            except httpx.TransportError as e:
                last = repr(e)
            if answer is None:
                time.sleep(0.5)
        assert answer is not None, last
        assert answer["outputs"][0]["data"][0] in (0, 1)
    finally:
        serve.terminate()
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
    page.click("#monitor-link")
    assert 'value="demo-form-drift"' in page.content()
