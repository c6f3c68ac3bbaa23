"""``loopml label queue|export|import|stats`` on a local store: the queue with a re-scoring
model, a Label Studio round trip through files, and exit 2 on bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app
from tests.labeling.conftest import write_log


@pytest.fixture
def env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    for var in ("LOOPML_TRACKING_URI", "LOOPML_CONFIG", "LOOPML_BACKEND_STORE_URI"):
        monkeypatch.setenv(var, "x")
        monkeypatch.delenv(var)
    write_log(tmp_path / "log", "dep")
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, ["label", *args, "--tracking-uri", uri])
    return run, tmp_path


def test_queue_export_import_stats(env) -> None:  # type: ignore[no-untyped-def]
    run, tmp = env
    r = run("queue", "dep", "--log-dir", str(tmp / "log"), "--limit", "3", "--strategy", "margin")
    assert r.exit_code == 0, r.output
    assert "3 item(s), strategy margin." in r.output and "dep-r0" in r.output
    r = run("queue", "dep", "--log-dir", str(tmp / "log"), "--limit", "2", "--json")
    items = [json.loads(x) for x in r.output.splitlines()]
    assert len(items) == 2 and items[0]["score"] >= items[1]["score"]
    out = tmp / "tasks.json"
    r = run("export", "dep", "--log-dir", str(tmp / "log"), "-o", str(out), "--limit", "3",
            "--config", str(tmp / "config.xml"))
    assert r.exit_code == 0 and "Wrote 3 task(s)" in r.output, r.output
    assert '<Choice value="2"/>' in (tmp / "config.xml").read_text()
    tasks = json.loads(out.read_text())
    for t in tasks:  # the annotator corrects every pre-label
        pre = int(t["predictions"][0]["result"][0]["value"]["choices"][0])
        t["annotations"] = [{"completed_by": "ann", "result": [{
            "from_name": "label", "to_name": "item", "type": "choices",
            "value": {"choices": [str((pre + 1) % 3)]}}]}]
    out.write_text(json.dumps(tasks))
    r = run("import", str(out), "--classes", "0,1,2")
    assert r.exit_code == 0 and "Stored 3 label(s)" in r.output, r.output
    r = run("stats", "dep")
    st = json.loads(r.output)
    assert st["labeled"] == 3 and st["corrected"] == 3 and st["correction_rate"] == 1.0
    assert st["by_labeler"] == {"ann": 3}


def test_bad_input_exits_2(env) -> None:  # type: ignore[no-untyped-def]
    run, tmp = env
    r = run("queue", "dep", "--log-dir", str(tmp / "log"), "--strategy", "loud")
    assert r.exit_code == 2 and "strategy" in r.output
    r = run("queue", "dep", "--log-dir", str(tmp / "log"), "--strategy", "drift")
    assert r.exit_code == 2 and "--reference" in r.output
    bad = tmp / "bad.json"
    bad.write_text("{not json")
    r = run("import", str(bad))
    assert r.exit_code == 2 and "not JSON" in r.output
    bad.write_text('[{"data": {"text": "x"}}]')
    r = run("import", str(bad))
    assert r.exit_code == 2 and "request_id" in r.output
