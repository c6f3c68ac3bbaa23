"""``/api/loopml/v1/gitops`` on a live server: export, dry-run and apply (idempotent), every
problem of a bad body in one 400 with nothing changed, and a property test that the
document loader answers any mapping with problems or a document, never a 5xx/traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loopml.gitops import parse
from tests.server.conftest import LiveServer, start_server

URL = "/api/loopml/v1/gitops"


def _doc(name: str, weight: float = 100.0) -> str:
    return yaml.safe_dump({"apiVersion": "loopml/v1", "kind": "Deployment",
                           "metadata": {"name": name},
                           "spec": {"routes": [{"model_uri": "runs:/r/model",
                                                "weight": weight}]}})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = start_server(tmp_path_factory.mktemp("gitops"))
    yield srv
    srv.stop()


def test_apply_export_and_bad_bodies(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        dry = c.post(f"{URL}/apply", json={"documents": [_doc("a")], "dry_run": True}).json()
        assert dry["summary"].startswith("1 to create") and not dry["applied"]
        assert "+  - model_uri: runs:/r/model" in dry["changes"][0]["diff"]
        first = c.post(f"{URL}/apply", json={"documents": [_doc("a")]}).json()
        assert first["applied"]
        again = c.post(f"{URL}/apply", json={"documents": [_doc("a")]}).json()
        assert not again["applied"] and again["summary"].startswith("0 to create, 0 to update")
        docs = c.get(f"{URL}/export").json()["documents"]
        assert [d["path"] for d in docs] == ["deployments/a.yaml"]
        assert parse(docs[0]["text"], "x")[0] is not None
        bad = c.post(f"{URL}/apply", json={"documents": [_doc("b", 60), _doc("c", 10), "x: ["]})
        assert bad.status_code == 400
        msg = bad.json()["message"]
        assert "3 problem(s)" in msg and "documents[0]" in msg and "documents[2]" in msg
        assert [d["path"] for d in c.get(f"{URL}/export").json()["documents"]] == \
            ["deployments/a.yaml"]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=8), kids, max_size=3), max_leaves=10)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["Deployment", "Monitor", "LoopPolicy", "Schedule", "Trigger",
                             "Other"]),
       name=st.text(max_size=12), spec=st.dictionaries(st.text(max_size=10), _json,
                                                       max_size=4))
def test_loader_answers_any_document(kind: str, name: str, spec: dict) -> None:  # type: ignore[type-arg]
    text = yaml.safe_dump({"apiVersion": "loopml/v1", "kind": kind,
                           "metadata": {"name": name}, "spec": spec})
    doc, problems = parse(text, "f.yaml")
    assert (doc is None) == bool(problems)
    assert all(p.startswith("f.yaml") for p in problems)


def test_loader_on_random_text(tmp_path: Path) -> None:
    for text in ("", "- a\n- b", "apiVersion: loopml/v1", "\x00", "a: !!python/object {}"):
        doc, problems = parse(text, "f.yaml")
        assert doc is None and problems
