"""Webhooks: HMAC-signed bodies, retries with backoff, and the SSRF guard (encoded IPs,
IPv6-mapped, metadata address, redirects)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from loopml.errors import InvalidParameterValue
from loopml.monitoring.ssrf import check_url
from loopml.monitoring.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Webhook,
    deliver,
    verify_signature,
)

SECRET = "s3cret"  # noqa: S105 - a test secret


class Receiver:
    """A local HTTP receiver that answers with a scripted list of status codes."""

    def __init__(self, statuses: list[int], location: str | None = None) -> None:
        self.statuses = statuses
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                code = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(code)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    r = Receiver([])
    yield r
    r.close()


def test_signed_delivery(receiver: Receiver) -> None:
    hook = Webhook(receiver.url, SECRET, allow=["127.0.0.1"])
    res = deliver(hook, {"type": "alert.firing", "rule": "drift"})
    assert res.ok and res.attempts == 1
    headers, body = receiver.got[0]
    assert json.loads(body) == {"type": "alert.firing", "rule": "drift"}
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature("other", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(SECRET, headers[TIMESTAMP_HEADER], body + b" ", headers[SIGNATURE_HEADER])
    assert not verify_signature(SECRET, "1000", body, headers[SIGNATURE_HEADER])  # stale


def test_retries_with_backoff() -> None:
    r = Receiver([503, 500, 200])
    try:
        slept: list[float] = []
        res = deliver(Webhook(r.url, SECRET, allow=["127.0.0.1"], base_delay_s=0.1), {"a": 1},
                      sleep=slept.append)
        assert res.ok and res.attempts == 3 and len(r.got) == 3
        assert len(slept) == 2 and slept[1] > slept[0] * 1.0 and 0.05 <= slept[0] <= 0.1
    finally:
        r.close()


def test_client_errors_are_not_retried_and_redirects_not_followed() -> None:
    r = Receiver([400])
    try:
        res = deliver(Webhook(r.url, SECRET, allow=["127.0.0.1"]), {}, sleep=lambda s: None)
        assert not res.ok and res.attempts == 1 and res.status == 400
    finally:
        r.close()
    bounce = Receiver([302], location="http://169.254.169.254/latest/meta-data")
    try:
        res = deliver(Webhook(bounce.url, SECRET, allow=["127.0.0.1"]), {}, sleep=lambda s: None)
        assert not res.ok and "redirects are not followed" in res.error and len(bounce.got) == 1
    finally:
        bounce.close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost/x", "http://2130706433/x", "http://0x7f000001/x",
    "http://0177.0.0.1/x", "http://127.1/x", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/x", "http://192.168.0.1/x",
    "http://172.16.5.4/x", "http://100.64.0.1/x", "http://0.0.0.0/x", "http://[fd00::1]/x",
    "http://[fe80::1]/x", "ftp://example.com/x", "http://user:pw@example.com/x",
])
def test_ssrf_guard_refuses(url: str) -> None:
    with pytest.raises(InvalidParameterValue):
        check_url(url)


def test_ssrf_allow_list() -> None:
    check_url("http://127.0.0.1:9/x", allow=["127.0.0.1"])
    check_url("http://10.1.2.3/x", allow=["10.0.0.0/8"])
    with pytest.raises(InvalidParameterValue, match="LOOPML_WEBHOOK_ALLOW"):
        check_url("http://10.1.2.3/x", allow=["192.168.0.0/16"])
    with pytest.raises(InvalidParameterValue, match="secret"):
        Webhook("http://127.0.0.1/x", "", allow=["127.0.0.1"])
