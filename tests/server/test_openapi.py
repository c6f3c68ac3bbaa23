"""/openapi.json and /docs of both servers, and schemathesis over the live servers: no input
it generates from the description may produce a server error (5xx)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from starlette.routing import Route

from loopml.server._openapi import _walk
from tests.server.conftest import LiveServer

schemathesis = pytest.importorskip("schemathesis")

# make test: a few examples per operation; LOOPML_FUZZ_EXAMPLES raises it (slow runs).
EXAMPLES = int(os.environ.get("LOOPML_FUZZ_EXAMPLES", "3"))


def _documented(url: str) -> dict:  # type: ignore[type-arg]
    r = httpx.get(f"{url}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    return r.json()  # type: ignore[no-any-return]


def _route_table(app: object) -> set[tuple[str, str]]:
    # OpenAPI names a parameter without Starlette's converter: {p:path} and {p:int} are {p}
    return {(re.sub(r"\{(\w+):\w+\}", r"{\1}", path), m.lower())
            for path, r in _walk(app.routes)  # type: ignore[attr-defined]
            if isinstance(r, Route) for m in (r.methods or ()) if m != "HEAD"}


def test_tracking_description_covers_the_route_table(live_server: LiveServer) -> None:
    doc = _documented(live_server.url)
    described = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert described == _route_table(live_server.server.config.app)
    op = doc["paths"]["/api/2.0/mlflow/experiments/create"]["post"]
    assert op["x-loopml-permission"] == "write" and "requestBody" in op
    assert doc["paths"]["/health"]["get"]["x-loopml-permission"] == "public"
    page = httpx.get(f"{live_server.url}/docs")
    assert page.status_code == 200 and "<script" not in page.text.lower()
    assert "/api/2.0/mlflow/runs/log-batch" in page.text and "http" not in page.text.split(
        "<body>")[1].replace("openapi.json", "")  # nothing loaded from elsewhere


def _fuzz(url: str, doc: dict, skip: Callable[[str], bool]) -> list[str]:  # type: ignore[type-arg]
    """Every operation of ``doc``, EXAMPLES generated cases each; returns the 5xx seen."""
    schema = schemathesis.openapi.from_dict(doc)
    errors: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        if skip(op.path):
            continue

        @given(op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # type: ignore[no-untyped-def]
            resp = case.call(base_url=url, timeout=30)
            if resp.status_code >= 500:
                errors.append(f"{case.method} {case.formatted_path} {resp.status_code} "
                              f"{resp.text[:200]} body={case.body!r:.200}")

        run()
    return errors


@pytest.mark.timeout(300)
def test_schemathesis_tracking_server_no_5xx(live_server: LiveServer) -> None:
    doc = _documented(live_server.url)
    # /ajax-api/ repeats /api/ (same handlers): fuzz one of the two.
    errors = _fuzz(live_server.url, doc, lambda p: p.startswith("/ajax-api/"))
    assert not errors, "\n".join(errors)
