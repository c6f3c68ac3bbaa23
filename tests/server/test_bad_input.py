"""Bad input gets a clear 4xx with MLflow's error body, never a 500, and touches no file."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server.conftest import LiveServer, start_server

API = "/api/2.0/mlflow"


def raw_request(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Send ``path`` byte for byte (no client-side normalisation of '..' or escapes)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path,body,needle",
    [
        ("/runs/create", b"{not json", "not valid JSON"),
        ("/runs/create", b"[1, 2]", "JSON object"),
        ("/runs/create", b'{"experiment_id": 5.5}', "experiment_id"),
        ("/runs/log-metric", b'{"run_id": "x", "key": "k"}', "value"),
        ("/runs/log-metric", b'{"run_id": "0123", "key": "k", "value": "abc", "timestamp": 1}', "value"),
        ("/runs/log-batch", b'{"run_id": "abc", "metrics": "nope"}', "metrics"),
        ("/runs/log-batch", b'{"run_id": "abc", "metrics": [{"key": "k", "value": 1, "timestamp": "x"}]}', "timestamp"),
        ("/experiments/create", b'{"name": ""}', "name"),
        ("/experiments/create", b'{"name": 7}', "name"),
        ("/experiments/create", b'{"name": "x", "artifact_location": "/etc"}', "outside"),
        ("/experiments/create", b'{"name": "y", "artifact_location": "s3://b/../x"}', ".."),
        ("/runs/search", b'{"experiment_ids": ["0"], "max_results": 0}', "max_results"),
        ("/runs/search", b'{"experiment_ids": ["0"], "filter": "metrics.a >"}', "filter"),
        ("/runs/search", b'{"experiment_ids": ["0"], "run_view_type": "SOMETIMES"}', "run_view_type"),
        ("/runs/search", b'{"experiment_ids": "zero"}', "experiment_id"),
    ],
)
def test_bad_json_gets_400(live_server: LiveServer, path: str, body: bytes, needle: str) -> None:
    r = httpx.post(live_server.url + API + path, content=body,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()
    assert err["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    assert needle.lower() in err["message"].lower(), err["message"]


def test_missing_resources_are_404(live_server: LiveServer) -> None:
    r = httpx.get(live_server.url + API + "/runs/get", params={"run_id": "0" * 32})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = httpx.get(live_server.url + API + "/nope")
    assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_oversize_body_413(tmp_path) -> None:
    srv = start_server(tmp_path / "small", max_body_bytes=1024)
    try:
        r = httpx.post(srv.url + API + "/runs/log-batch", content=b"{" + b" " * 4096 + b"}",
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "limit" in r.json()["message"]
    finally:
        srv.stop()


TRAVERSAL = [
    "..", "../x", "a/../../b", "%2e%2e/x", "%2e%2e%2fx", "..%2fx", "%252e%252e%252fx",
    "..%5cx", "..\\x", "a;b", "a%23b", "a%00b", "%EF%BC%8E%EF%BC%8E/x", "..%E2%88%95x",
    "%2F%2Fetc/passwd", "C:%5Cx",
]


@pytest.mark.parametrize("bad", TRAVERSAL)
def test_traversal_is_rejected(live_server: LiveServer, bad: str) -> None:
    sentinel = live_server.root / "sentinel.txt"
    sentinel.write_text("secret")
    base = "/api/2.0/mlflow-artifacts/artifacts"
    for method, path, body in [
        ("PUT", f"{base}/{bad}", b"pwned"),
        ("GET", f"{base}/{bad}", None),
        ("DELETE", f"{base}/{bad}", None),
        ("GET", f"{base}?path={bad}", None),
        ("GET", f"{API}/artifacts/list?run_id={'0' * 32}&path={bad}", None),
    ]:
        status, payload = raw_request(live_server.url, method, path, body)
        assert 400 <= status < 500, (method, path, status, payload)
    assert sentinel.read_text() == "secret"
    assert not (live_server.root / "x").exists()


def test_run_artifact_listing_rejects_traversal_in_existing_run(live_server: LiveServer) -> None:
    from loopml.store.rest import RestStore

    store = RestStore(live_server.url)
    rid = store.create_run("0").info.run_id
    for bad in ["../../..", "%2e%2e", "/etc"]:
        r = httpx.get(live_server.url + API + "/artifacts/list", params={"run_id": rid, "path": bad})
        assert r.status_code == 400, (bad, r.text)
    store.close()


def test_artifact_download_headers(live_server: LiveServer) -> None:
    base = live_server.url + "/api/2.0/mlflow-artifacts/artifacts"
    assert httpx.put(f"{base}/x/page.html", content=b"<script>alert(1)</script>").status_code == 200
    r = httpx.get(f"{base}/x/page.html")
    assert r.status_code == 200 and r.content.startswith(b"<script>")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("name", ["報告.txt", 'we"ird name é.csv', "plain.txt"])
def test_artifact_download_of_any_name(live_server: LiveServer, name: str) -> None:
    """RFC 6266: a name outside Latin-1 is a filename*=UTF-8'' header, not a 500 (after
    which the mlflow client retries for minutes)."""
    from urllib.parse import quote, unquote

    base = live_server.url + "/api/2.0/mlflow-artifacts/artifacts/u"
    assert httpx.put(f"{base}/{quote(name)}", content=b"data").status_code == 200
    r = httpx.get(f"{base}/{quote(name)}")
    assert r.status_code == 200 and r.content == b"data"
    cd = r.headers["content-disposition"]
    assert cd.startswith("attachment; filename=")
    assert unquote(cd.split("filename*=UTF-8''", 1)[1]) == name


BIG = 9223372036854775808  # 2**63: one past int64


@pytest.mark.parametrize(("method", "path", "body", "needle"), [
    ("POST", API + "/runs/log-metric",
     {"key": "k", "value": 1.0, "timestamp": 1, "step": BIG}, "step"),
    ("POST", API + "/runs/log-metric", {"key": "k", "value": 1.0, "timestamp": str(-BIG - 1)},
     "timestamp"),
    ("POST", API + "/runs/log-batch",
     {"metrics": [{"key": "k", "value": 1.0, "timestamp": 1, "step": BIG}]}, "step"),
    ("POST", API + "/runs/create", {"start_time": BIG}, "start_time"),
    ("POST", API + "/runs/update", {"end_time": str(BIG)}, "end_time"),
    ("GET", "/api/loopml/v1/gc/deleted-runs?older_than_ms=" + "9" * 20, None, "older_than_ms"),
    ("GET", "/api/loopml/v1/events?after_seq=" + "1" * 30, None, "after_seq"),
    ("PATCH", "/api/loopml/v1/pipelines/runs/abc", {"fields": {}}, "fields"),
    ("PATCH", "/api/loopml/v1/pipelines/runs/abc", {"fields": {"attempt": BIG}}, "attempt"),
    ("PATCH", "/api/loopml/v1/pipelines/runs/abc", {"fields": {"status": ["x"]}}, "status"),
    ("POST", "/api/loopml/v1/pipelines/runs/start", {"pipeline": "..x:p"}, "pipeline"),
    ("POST", API + "/experiments/create", {"name": "nul\x00name"}, "name"),
    # Found by the slow property run: an id past int64 reached SQLite (OverflowError, 500).
    ("GET", API + "/experiments/get?experiment_id=" + str(2**63), None, "experiment_id"),
    ("POST", API + "/runs/search", {"experiment_ids": [str(2**63)]}, "experiment_id"),
])
def test_out_of_range_and_malformed_fields_are_400(live_server: LiveServer, method: str,
                                                    path: str, body: dict | None,
                                                    needle: str) -> None:
    from loopml.store.rest import RestStore

    store = RestStore(live_server.url)
    rid = store.create_run("0").info.run_id
    store.close()
    if body is not None and path.startswith(API + "/runs/") and not path.endswith("create"):
        body = {"run_id": rid, **body}
    r = httpx.request(method, live_server.url + path, json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    assert needle in r.json()["message"], r.json()
