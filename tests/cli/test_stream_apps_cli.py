"""``loopml stream run|status APP.yaml``: bad app files exit 2 with one line naming the key;
status reads the group from Redis; run processes and stops after --seconds."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import yaml
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.streaming.io import codec
from tests.streaming.io.conftest import service
from tests.streaming.test_worker import RULES

URL = "redis://127.0.0.1:6379/0"


def _write(tmp: Path, **over: object) -> Path:
    (tmp / "rules.yaml").write_text(yaml.safe_dump(RULES))
    stream = f"lmtest:cli:{uuid.uuid4().hex[:8]}"
    spec = {"app": "cli-" + stream, "rules": "rules.yaml",
            "sources": {"sensors": {"url": URL, "stream": stream, "batch": {"max_wait": 20}}},
            "sinks": {"alerts": {"kind": "redis", "url": URL, "stream": stream + ":alerts"}}, **over}
    (tmp / "app.yaml").write_text(yaml.safe_dump(spec))
    return tmp / "app.yaml"


def test_bad_app_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    f = _write(tmp_path, sinks={"alerts": {"kind": "redsi"}})
    out = CliRunner().invoke(app, ["stream", "run", str(f)])
    assert out.exit_code == 2 and "sinks.alerts.kind" in out.output and "did you mean 'redis'" in out.output


def test_run_then_status(tmp_path: Path) -> None:
    service(6379, "Redis")
    from loopml.streaming.io.redis_streams import RedisStreamPublisher, connect

    f = _write(tmp_path)
    spec = yaml.safe_load(f.read_text())
    stream = spec["sources"]["sensors"]["stream"]
    RedisStreamPublisher(URL, stream).publish([codec.encode([{"m": "a", "temp": 99.0, "ts": i} for i in range(5)])])
    out = CliRunner().invoke(app, ["stream", "run", str(f), "--consumer", "w1", "--seconds", "1.5"])
    assert out.exit_code == 0, out.output
    assert "worker w1 in group cli-" in out.output
    out = CliRunner().invoke(app, ["stream", "status", str(f), "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert (row["length"], row["lag"], row["pending"]) == (1, 0, 0)
    assert row["consumers"][0]["name"] == "w1" and row["app"] == spec["app"]
    r = connect(URL)
    assert r.xlen(stream + ":alerts") == 5
    r.delete(stream, stream + ":alerts")
