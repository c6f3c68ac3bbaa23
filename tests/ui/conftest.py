"""A populated loopml server for the dashboard tests, and Debian's Chromium driven by
Playwright (skipped with a reason when Chromium is absent, except under CI=true)."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.server.conftest import LiveServer, start_server

CHROMIUM = os.environ.get("LOOPML_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# XSS vectors, each placed in names, tags, descriptions, params and artifact names.
VECTORS = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=1>",
    "\"><svg onload=window.__xss=1>",
    "'><body onload=window.__xss=1>",
    "<iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "<a href=\"javascript:window.__xss=1\">x</a>",
    "</title><script>window.__xss=1</script>",
    "</textarea><script>window.__xss=1</script>",
    "<math><mtext><img src=x onerror=window.__xss=1></mtext></math>",
    "<svg><script>window.__xss=1</script></svg>",
    "<details open ontoggle=window.__xss=1>",
    "<video><source onerror=window.__xss=1></video>",
    "<input autofocus onfocus=window.__xss=1>",
    "<object data=\"javascript:window.__xss=1\"></object>",
    "<embed src=\"javascript:window.__xss=1\">",
    "<style>@import 'javascript:window.__xss=1'</style>",
    "{{7*7}}<b>bold</b>",
    "<meta http-equiv=refresh content=\"0;url=javascript:window.__xss=1\">",
    "<marquee onstart=window.__xss=1>",
    "<form><button formaction=javascript:window.__xss=1>x</button></form>",
]
WRAPS = ["{}", "a{}b", "\" {} \"", "' {} '", "]]>{}<!--"]
PAYLOADS = [w.format(v) for v in VECTORS for w in WRAPS]  # 100


@dataclass
class Populated:
    server: LiveServer
    experiment_id: str
    run_ids: list[str]
    xss_experiment_id: str
    xss_run_id: str
    pipeline_run_id: str
    model: str


def _png() -> bytes:
    """A valid 1x1 red PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def populate(srv: LiveServer, root: Path) -> Populated:
    from loopml.entities import Metric, Param, RunTag, TrafficRoute
    from loopml.models import log_model, register_model
    from loopml.store import get_deployment_store, get_loop_store, get_registry_store
    from loopml.store.loops_base import Loop
    from loopml.store.rest import RestStore
    from loopml.tracking._client import TrackingClient
    from loopml.tracking._fluent import using_client
    from tests.pipelines import flows

    client = TrackingClient(srv.url)
    store: RestStore = client.store  # type: ignore[assignment]
    exp = client.get_or_create_experiment("dash")
    run_ids = []
    for i in range(60):
        r = client.create_run(exp.experiment_id, f"run-{i:02d}", {"team": "ml-a" if i % 2 else "ml-b"})
        rid = r.info.run_id
        store.log_batch(rid, metrics=[Metric("acc", 0.5 + i / 200, 1000 + s, s) for s in range(5)]
                        + [Metric("loss", 1 / (i + 1), 1000, 0)],
                        params=[Param("lr", str(0.01 * (i + 1))), Param("model", "rf" if i % 3 else "lr")])
        client.terminate(rid)
        run_ids.append(rid)
    blobs = client.artifact_store(client.get_run(run_ids[0]).info.artifact_uri)
    blobs.put_bytes("notes/readme.txt", b"hello <b>not bold</b>")
    blobs.put_bytes("table.csv", b"a,b\n1,<script>x</script>\n")
    blobs.put_bytes("plot.png", _png())
    blobs.put_bytes("evil.html", b"<script>window.__xss=1</script>")
    blobs.put_bytes("evil.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    # XSS everywhere a user can type.
    xexp = client.get_or_create_experiment("xss " + PAYLOADS[0])
    xrun = client.create_run(xexp.experiment_id, PAYLOADS[1][:200], {"k": PAYLOADS[2]})
    xid = xrun.info.run_id
    for i in range(0, len(PAYLOADS), 50):
        store.log_batch(xid, params=[Param(f"p{j}", PAYLOADS[j][:500]) for j in range(i, min(i + 50, len(PAYLOADS)))],
                        tags=[RunTag(f"t{j}", PAYLOADS[j]) for j in range(i, min(i + 50, len(PAYLOADS)))],
                        metrics=[Metric(f"m{j}", float(j), 1, 0) for j in range(i, min(i + 50, len(PAYLOADS)))])
    xblobs = client.artifact_store(xrun.info.artifact_uri)
    for j, pl in enumerate(PAYLOADS):
        name = "".join(ch for ch in pl if ch not in "?#;%\\/\x00:") or "x"
        with contextlib.suppress(Exception):  # a name the store refuses: nothing stored
            xblobs.put_bytes(f"f{j}-{name[:80]}.txt", pl.encode())
    client.terminate(xid)
    # A model with versions and lineage, a deployment, a pipeline run, a loop.
    from sklearn.tree import DecisionTreeClassifier

    m = DecisionTreeClassifier().fit([[0.0], [1.0]], [0, 1])
    with using_client(client):
        info = log_model(m, "model", run_id=run_ids[0])
    reg = get_registry_store(store)
    register_model(info.model_uri, "dash-model", client=client)
    reg.update_registered_model("dash-model", PAYLOADS[3])
    reg.set_model_version_tag("dash-model", 1, "note", PAYLOADS[4])
    reg.set_registered_model_alias("dash-model", "champion", 1)
    get_deployment_store(store).create_deployment("dash", [TrafficRoute("models:/dash-model/1", 100)])
    res = flows.training.run({"n": 30}, client=client)
    get_loop_store(store).create_loop(Loop("a" * 32, "dash-model", "dash-model", "AWAITING_APPROVAL",
                                           {"reason": PAYLOADS[5]}, champion_version=1,
                                           challenger_version=1), "triggered " + PAYLOADS[6], {})
    return Populated(srv, exp.experiment_id, run_ids, xexp.experiment_id, xid, res.run_id,
                     "dash-model")


@pytest.fixture(scope="module")
def populated(tmp_path_factory) -> Iterator[Populated]:  # type: ignore[no-untyped-def]
    from loopml.monitoring.monitor import MonitorSpec
    from loopml.store.monitoring_base import WindowResult

    root = tmp_path_factory.mktemp("dash")
    spec = MonitorSpec("dash-live", "dash", str(root / "log"))
    srv = start_server(root, monitor_specs=[spec])
    data = populate(srv, root)
    from loopml.store import get_monitoring_store
    from loopml.store.rest import RestStore

    mon = get_monitoring_store(RestStore(srv.url))
    for i in range(5):
        mon.put_result(WindowResult("dash-live", 1000 * i, 1000 * i + 999, {
            "requests": 100.0, "latency.p50_ms": 2.0 + i, "latency.p99_ms": 9.0 + i,
            "quality.f1": 0.8 - i / 20, "drift.share_drifted": i / 5},
            {"drift": {"columns": [{"column": "temp", "statistic": 0.1 * i, "drifted": i > 2}]}}))
    yield data
    srv.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        msg = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{msg}; CI=true requires it (.ci/run installs it)")
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    yield pg
    ctx.close()

