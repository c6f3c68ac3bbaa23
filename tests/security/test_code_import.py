"""Threat: a caller makes the server import code it names (MLflow's recipe/pipeline
code-execution class). A writer uploads ``pwn.py`` through the artifact proxy, or it lies
in the server's working folder, then names it as a pipeline (start, resume, trigger, loop
policy). The server runs only pipelines its operator registered at start-up: everything
else is a 403 that imports nothing: no canary file, no new ``sys.modules`` entry, and
neither the working folder nor the artifact root on ``sys.path``."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.errors import PermissionDenied
from loopml.pipelines import PipelineRegistry
from tests.server.conftest import LiveServer, start_server

API = "/api/loopml/v1/pipelines"
FLOWS = "tests.pipelines.flows:training"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def _payload(canary: Path) -> bytes:
    """A module whose top-level code writes ``canary``, with a pipeline-looking ``p``."""
    return (f"from pathlib import Path\nPath({str(canary)!r}).write_text('ran')\n"
            "p = None\n").encode()


@pytest.fixture
def attack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LiveServer, Path]]:
    """A server started in ``tmp_path`` whose artifact root is ``tmp_path/arts`` (so the old
    code, which put the working folder on sys.path, imported ``arts.pwn``), with
    ``tests.pipelines.flows:training`` registered; and ``pwn_cwd.py`` in the working folder."""
    monkeypatch.chdir(tmp_path)
    srv = start_server(tmp_path / "srv", runnable=PipelineRegistry.load(FLOWS))
    srv.artifacts.mkdir(parents=True, exist_ok=True)
    arts = tmp_path / "arts"
    arts.symlink_to(srv.artifacts, target_is_directory=True)
    canary = tmp_path / "canary"
    r = httpx.put(f"{srv.url}{PROXY}/pwn.py", content=_payload(canary))
    assert r.status_code == 200, r.text
    assert (arts / "pwn.py").exists()
    (tmp_path / "pwn_cwd.py").write_bytes(_payload(canary))
    try:
        yield srv, canary
    finally:
        srv.stop()
        for name in [m for m in sys.modules if m.startswith(("arts", "pwn"))]:
            del sys.modules[name]


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert "is not registered" in body["message"]
    assert "loopml server --pipelines" in body["message"]  # says how to register it
    assert FLOWS in body["message"]  # and what is registered


HOSTILE = ["arts.pwn:p", "pwn_cwd:p", "arts.pwn:nothing", "os:system", "builtins:exec",
           "tests.pipelines.flows:make"]


def test_start_names_only_registered_pipelines(attack: tuple[LiveServer, Path]) -> None:
    srv, canary = attack
    # Warm up the route's own lazy imports with a refused call first, so that what follows
    # can be checked against an exact sys.modules snapshot.
    httpx.post(f"{srv.url}{API}/runs/start", json={"pipeline": "warm.up:p"})
    before = set(sys.modules)
    for ref in HOSTILE:
        _refused(httpx.post(f"{srv.url}{API}/runs/start", json={"pipeline": ref}))
    assert not canary.exists()
    assert set(sys.modules) - before == set()
    # Neither the working folder (here canary.parent) nor the artifact root went on sys.path.
    assert not {"", str(canary.parent), str(srv.artifacts), str(canary.parent / "arts")} \
        & set(sys.path)


def test_resume_of_a_forged_record_is_refused(attack: tuple[LiveServer, Path]) -> None:
    srv, canary = attack
    # Any WRITE caller may record a run naming any ref; resuming it (ADMIN) must not import.
    rid = "f" * 32
    r = httpx.post(f"{srv.url}{API}/runs/create", json={
        "run_id": rid, "pipeline": "p", "ref": "arts.pwn:p", "params": {}, "status": "FAILED",
        "executor": "inprocess", "trigger": {"kind": "manual"}})
    assert r.status_code == 200, r.text
    r = httpx.post(f"{srv.url}{API}/runs/{rid}/resume", json={})
    assert r.status_code == 403, r.text
    assert r.json()["error_code"] == "PERMISSION_DENIED"
    time.sleep(0.3)  # a background resume, if one had started, would have imported by now
    assert not canary.exists() and "arts.pwn" not in sys.modules


def test_triggers_name_only_registered_pipelines(attack: tuple[LiveServer, Path]) -> None:
    srv, canary = attack
    for kind, spec in (("cron", {"cron": "* * * * *"}), ("event", {"types": ["x.y"]})):
        _refused(httpx.post(f"{srv.url}{API}/triggers", json={
            "name": f"evil-{kind}", "ref": "arts.pwn:p", "kind": kind, "spec": spec}))
    assert httpx.get(f"{srv.url}{API}/triggers").json()["triggers"] == []
    # A registered pipeline is accepted, by short name too (stored as its reference).
    r = httpx.post(f"{srv.url}{API}/triggers", json={
        "name": "ok", "ref": "training", "kind": "cron", "spec": {"cron": "0 3 * * *"}})
    assert r.status_code == 200, r.text
    assert r.json()["trigger"]["ref"] == FLOWS
    assert not canary.exists()


def test_trigger_written_to_the_database_is_not_imported_at_fire_time(
        attack: tuple[LiveServer, Path]) -> None:
    from loopml.pipelines.triggers import TriggerRunner, validate_trigger
    from loopml.store import get_pipeline_store, get_store
    from loopml.store.pipelines_base import Trigger

    srv, canary = attack
    tracking = get_store(f"sqlite:///{srv.root / 'db.sqlite'}", str(srv.artifacts))
    store = get_pipeline_store(tracking)
    store.create_trigger(validate_trigger(Trigger("evil", "arts.pwn:p", "event",
                                                  {"types": ["x.y"]})))
    tracking.append_event("x.y", "s", {})
    runner = TriggerRunner(tracking, store, PipelineRegistry.load(FLOWS))
    assert len(runner.run_once()) == 1
    run = store.list_runs()[0]
    assert run.status == "FAILED" and "is not registered" in str(run.error)
    assert not canary.exists() and "arts.pwn" not in sys.modules
    tracking.close()


def test_registry_lookup_never_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = tmp_path / "canary"
    (tmp_path / "pwn_unit.py").write_bytes(_payload(canary))
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, to prove it is not imported
    reg = PipelineRegistry.load(FLOWS)
    for name in ("pwn_unit:p", "pwn_unit", "training.x", ""):
        with pytest.raises(PermissionDenied, match="not registered"):
            reg.resolve(name)
    assert "pwn_unit" not in sys.modules and not canary.exists()
    assert reg.resolve("training") is reg.resolve(FLOWS)
    assert PipelineRegistry().refs == []
    with pytest.raises(PermissionDenied, match="registered: none"):
        PipelineRegistry().resolve(FLOWS)


def test_loop_policies_run_only_registered_pipelines(tmp_path: Path) -> None:
    from loopml.automation import Controller, Policy
    from loopml.store.sql import SqlStore

    tracking = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    policy = Policy.from_dict({"model": "m", "deployment": "d", "log_dir": str(tmp_path),
                               "retrain": {"pipeline": "arts.pwn:p"}})
    with pytest.raises(PermissionDenied, match="Policy 'm': pipeline 'arts.pwn:p'"):
        Controller(tracking, [policy], runnable=PipelineRegistry.load(FLOWS))
    tracking.close()


def test_server_refuses_a_policy_with_an_unregistered_pipeline(tmp_path: Path) -> None:
    import os
    import subprocess

    import yaml

    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump({"model": "m", "deployment": "d", "log_dir": str(tmp_path),
                                    "retrain": {"pipeline": "tests.automation.flows:retrain"}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(tmp_path / "home")
    res = subprocess.run([sys.executable, "-m", "loopml", "server", "--policies", str(path),
                          "--no-triggers", "--pipelines", FLOWS, "--port", "1"],
                         capture_output=True, text=True, env=env, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 2, res.stderr
    assert "is not registered" in res.stderr and "--pipelines" in res.stderr


def test_server_pipelines_come_from_the_settings_file_too(tmp_path: Path) -> None:
    """``server_pipelines`` in a settings file (or LOOPML_SERVER_PIPELINES) registers like
    --pipelines: the policy's pipeline is then registered and the start gets past that check
    (here it stops at the port, which proves the registry was built from the file)."""
    import os
    import subprocess

    import yaml

    policies = tmp_path / "policies.yaml"
    policies.write_text(yaml.safe_dump({"model": "m", "deployment": "d", "log_dir": str(tmp_path),
                                        "retrain": {"pipeline": FLOWS}}))
    settings = tmp_path / "loopml.yaml"
    settings.write_text(yaml.safe_dump({"server_pipelines": "tests.nosuch_module_xyz:p"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(tmp_path / "home")
    res = subprocess.run([sys.executable, "-m", "loopml", "--config", str(settings), "server",
                          "--policies", str(policies), "--no-triggers", "--port", "1"],
                         capture_output=True, text=True, env=env, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 2, res.stderr
    assert "nosuch_module_xyz" in res.stderr, res.stderr  # the file's pipeline was loaded


def test_artifact_root_on_sys_path_is_refused(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.errors import InvalidParameterValue
    from loopml.server._factory import build_services

    monkeypatch.syspath_prepend(str(tmp_path / "arts"))
    with pytest.raises(InvalidParameterValue, match="import path"):
        build_services(f"sqlite:///{tmp_path / 'db'}", str(tmp_path / "arts"))


def test_only_the_local_cli_touches_sys_path() -> None:
    """Source check: the one sys.path change left is ``allow_cwd_imports`` (the user's own
    ``loopml pipeline``/``loopml loop`` commands); server code never calls it."""
    src = Path(__file__).resolve().parents[2] / "src" / "loopml"
    hits = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                  if "sys.path.insert" in p.read_text() or "sys.path.append" in p.read_text())
    assert hits == ["pipelines/_refs.py"]
    call = re.compile(r"^\s+allow_cwd_imports\(\)", re.M)
    callers = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                     if call.search(p.read_text()))
    assert callers == ["cli/loop.py", "cli/pipeline.py"]
