"""Access logs (one line per request) and --log-level, for both servers."""

from __future__ import annotations

import logging
import logging.handlers
import time

import httpx
import pytest
from typer.testing import CliRunner

from loopml.cli.main import app as cli
from loopml.server._access_log import check_level, configure_logging
from tests.server.conftest import LiveServer


def _access(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "loopml.access"]


def test_tracking_server_logs_one_line_per_request(live_server: LiveServer, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="loopml.access"):
        httpx.get(f"{live_server.url}/health", headers={"x-request-id": "abc123"})
        httpx.get(f"{live_server.url}/api/2.0/mlflow/experiments/get?experiment_id=nope")
        httpx.get(f"{live_server.url}/api/2.0/mlflow/experiments/search",
                  headers={"host": "evil.example"})
        # The line is written once the server's handler returns, which can be just after
        # the client has the whole response: wait for it (bounded).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(_access(caplog)) < 3:
            time.sleep(0.01)
    lines = _access(caplog)
    assert len(lines) == 3
    method, path, status, ms, rid = lines[0].split()
    assert (method, path, status, rid) == ("GET", "/health", "200", "request_id=abc123")
    assert ms.endswith("ms") and float(ms[:-2]) >= 0
    assert lines[1].split()[1] == "/api/2.0/mlflow/experiments/get"  # no query string
    assert lines[1].split()[2] in ("400", "404") and lines[2].split()[2] == "403"


def test_serving_access_log_carries_the_request_id(caplog) -> None:
    from starlette.testclient import TestClient

    from loopml.serving.repository import ServingSettings
    from loopml.serving.server import ServeOptions, build_app

    app = build_app({}, ServingSettings(), ServeOptions(grpc_port=None))
    with caplog.at_level(logging.INFO, logger="loopml.access"), \
            TestClient(app, base_url="http://localhost") as c:
        r = c.post("/v2/models/nope/infer", json={})
        assert r.status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "loopml.access"]
    assert len(lines) == 1 and lines[0].startswith("POST /v2/models/nope/infer 404 ")


def test_access_log_off_and_levels(caplog) -> None:
    try:
        configure_logging("warning", access=False)
        assert not logging.getLogger("loopml.access").isEnabledFor(logging.INFO)
        assert not logging.getLogger("loopml.serving").isEnabledFor(logging.INFO)
        configure_logging("DEBUG", access=True)
        assert logging.getLogger("loopml.serving").isEnabledFor(logging.DEBUG)
    finally:  # leave the test process as it was
        root = logging.getLogger("loopml")
        root.setLevel(logging.NOTSET)
        root.propagate = True
        for h in list(root.handlers):
            if isinstance(h, logging.handlers.QueueHandler):
                root.removeHandler(h)
        logging.getLogger("loopml.access").setLevel(logging.NOTSET)
    with pytest.raises(ValueError, match="debug"):
        check_level("loud")


@pytest.mark.parametrize("command", ["server", "serve"])
def test_bad_log_level_is_a_usage_error(command: str) -> None:
    r = CliRunner().invoke(cli, [command, "--log-level", "loud"])
    assert r.exit_code == 2
    assert "critical, error, warning, info, debug" in r.output
