"""``loopml export`` / ``apply`` against a real git repository: export and commit, apply
twice changes nothing, a change made by hand in the store shows as drift, an invalid folder
changes nothing and lists every problem, ``--prune`` deletes, and a protected environment
takes changes only as approved, audited change requests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.entities import TrafficRoute
from loopml.gitops import State, load_dir, parse, plan
from loopml.pipelines.triggers import validate_trigger
from loopml.security.audit import AuditLog
from loopml.store import get_deployment_store, get_pipeline_store, get_store
from loopml.store.pipelines_base import Trigger

GIT = shutil.which("git")
POLICY = {"model": "pm", "deployment": "pm", "log_dir": "/srv/inference",
          "retrain": {"pipeline": "tests.ha.flows:retrain"}}
MONITOR = {"deployment": "pm", "log_dir": "/srv/inference", "window_seconds": 60,
           "webhooks": [{"url": "${secret:hook_url}", "secret": "${secret:hook_key}"}]}


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.output + (r.stderr if r.stderr_bytes else "")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run([GIT or "git", "-C", str(repo), *args], check=True,
                          capture_output=True, text=True).stdout


def _doc(kind: str, name: str, spec: dict) -> str:  # type: ignore[type-arg]
    return yaml.safe_dump({"apiVersion": "loopml/v1", "kind": kind,
                           "metadata": {"name": name}, "spec": spec})


@pytest.fixture
def staging(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'staging.db'}"
    store = get_store(uri, str(tmp_path / "art"))
    get_deployment_store(store).create_deployment(
        "pm", [TrafficRoute("runs:/a1/model", 90.0), TrafficRoute("runs:/b2/model", 10.0)])
    pipes = get_pipeline_store(store)
    pipes.create_trigger(validate_trigger(Trigger(
        "nightly", "tests.ha.flows:on_event", "cron", {"cron": "0 3 * * *"},
        {"token": "${secret:api_token}"})))
    pipes.create_trigger(validate_trigger(Trigger(
        "on-data", "tests.ha.flows:on_event", "event",
        {"types": ["dataset.version_created"], "subject": "sensors*"})))
    state = State(store)
    state.config.put("Monitor", "pm-drift", MONITOR)
    state.config.put("LoopPolicy", "pm", POLICY)
    store.close()
    return uri


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_export_commit_apply_drift(staging: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    code, out = _cli("export", str(repo), "--tracking-uri", staging)
    assert code == 0 and "Exported 5 object(s)" in out
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*.yaml"))
    assert files == ["deployments/pm.yaml", "monitors/pm-drift.yaml", "policies/pm.yaml",
                     "schedules/nightly.yaml", "triggers/on-data.yaml"]
    text = (repo / "schedules" / "nightly.yaml").read_text()
    assert "${secret:api_token}" in text  # references stay references
    assert text.index("apiVersion") < text.index("kind") < text.index("metadata")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "export")

    # A fresh environment: the first apply creates everything, the second changes nothing.
    prod = f"sqlite:///{tmp_path / 'prod.db'}"
    code, out = _cli("apply", "-f", str(repo), "--tracking-uri", prod)
    assert code == 0 and "5 to create" in out, out
    code, out = _cli("apply", "-f", str(repo), "--tracking-uri", prod, "--exit-code")
    assert code == 0 and "0 to create, 0 to update, 0 to delete, 5 unchanged" in out, out
    # The environment exports byte for byte what the repository holds.
    code, _ = _cli("export", str(repo), "--tracking-uri", prod)
    assert code == 0 and _git(repo, "status", "--porcelain") == ""

    # A change by hand in the store is drift: reported by a dry run, undone by apply.
    store = get_store(prod, str(tmp_path / "art"))
    get_deployment_store(store).update_deployment(
        "pm", [TrafficRoute("runs:/a1/model", 50.0), TrafficRoute("runs:/b2/model", 50.0)])
    code, out = _cli("apply", "-f", str(repo), "--tracking-uri", prod, "--dry-run",
                     "--exit-code")
    assert code == 3 and "update Deployment/pm" in out, out
    assert "-    weight: 50.0" in out
    assert "+    weight: 90.0" in out
    code, out = _cli("apply", "-f", str(repo), "--tracking-uri", prod)
    assert code == 0 and "1 to update" in out
    assert get_deployment_store(store).get_deployment("pm").routes[0].weight == 90.0

    # --prune: an object removed from the repository is deleted from the store.
    _git(repo, "rm", "-q", "triggers/on-data.yaml")
    code, out = _cli("apply", "-f", str(repo), "--tracking-uri", prod, "--dry-run")
    assert "unmanaged Trigger/on-data" in out and "0 to delete" in out
    code, out = _cli("apply", "-f", str(repo), "--tracking-uri", prod, "--prune")
    assert code == 0 and "delete Trigger/on-data" in out
    assert [t.name for t in get_pipeline_store(store).list_triggers()] == ["nightly"]
    store.close()


def test_invalid_folder_changes_nothing_and_lists_every_problem(staging: str,
                                                                 tmp_path: Path) -> None:
    d = tmp_path / "bad"
    (d / "deployments").mkdir(parents=True)
    (d / "deployments" / "ok.yaml").write_text(_doc("Deployment", "ok", {
        "routes": [{"model_uri": "runs:/x/model", "weight": 100}]}))
    (d / "deployments" / "sum.yaml").write_text(_doc("Deployment", "sum", {
        "routes": [{"model_uri": "runs:/x/model", "weight": 60}]}))
    (d / "schedules.yaml").write_text(_doc("Schedule", "s", {
        "pipeline": "a.b:c", "cron": "every day", "params": {"password": "hunter2"}}))
    (d / "typo.yaml").write_text(_doc("Deploymnet", "x", {}))
    (d / "broken.yaml").write_text("kind: [")
    code, out = _cli("apply", "-f", str(d), "--tracking-uri", staging)
    assert code == 2, out
    assert "problem(s)" in out and "nothing was changed" in out
    assert "sum.yaml" in out and "must sum to 100" in out
    assert "spec.params.password: holds a plaintext secret" in out
    assert "typo.yaml: kind" in out and "broken.yaml: not YAML" in out
    docs, _ = load_dir(staging.replace("sqlite:///", "") + ".none")
    assert docs == []
    store = get_store(staging, str(tmp_path / "art"))
    assert [x.name for x in get_deployment_store(store).list_deployments()] == ["pm"]
    store.close()


def test_promotion_needs_an_approver(staging: str, tmp_path: Path) -> None:
    repo = tmp_path / "staging-export"
    assert _cli("export", str(repo), "--tracking-uri", staging)[0] == 0
    prod = f"sqlite:///{tmp_path / 'prod.db'}"
    assert _cli("promote", "protect", "production", "--tracking-uri", prod, "--by", "ops")[0] == 0
    code, out = _cli("apply", "-f", str(repo), "--tracking-uri", prod)
    assert code == 2 and "approved change requests" in out
    store = get_store(prod, str(tmp_path / "art"))
    from loopml.security import Role
    from loopml.security._identities import IdentityService
    from loopml.store import get_identity_store

    ids = IdentityService(get_identity_store(store))
    for name, role in (("alice", Role.DEPLOYER), ("bob", Role.APPROVER), ("carol", Role.EDITOR)):
        ids.create_user(name)
        ids.grant(name, "default", role)
    code, out = _cli("promote", "propose", "-f", str(repo), "--tracking-uri", prod,
                     "--by", "alice", "--note", "staging@abc123")
    assert code == 0 and "5 to create" in out, out
    rid = out.rsplit("Change request ", 1)[1].split(":")[0]
    code, out = _cli("promote", "approve", rid, "--tracking-uri", prod, "--by", "alice")
    assert code == 2 and "cannot approve it too" in out
    code, out = _cli("promote", "approve", rid, "--tracking-uri", prod, "--by", "carol")
    assert code == 2 and "approver role" in out
    code, out = _cli("promote", "approve", rid, "--tracking-uri", prod, "--by", "bob")
    assert code == 0 and "Applied change request" in out, out
    assert get_deployment_store(store).get_deployment("pm").routes[0].weight == 90.0
    code, out = _cli("promote", "list", "--tracking-uri", prod)
    assert "applied" in out and "approved by bob" in out
    log = AuditLog.for_store(store)
    assert log is not None
    actions = [(r.action, r.actor, r.outcome) for r in log.query()]
    assert ("gitops.change_proposed", "alice", "allow") in actions
    assert ("gitops.change_refused", "alice", "deny") in actions
    assert ("gitops.change_approved", "bob", "allow") in actions
    log.close()
    store.close()


def test_approval_refused_after_drift(staging: str, tmp_path: Path) -> None:
    repo = tmp_path / "e"
    assert _cli("export", str(repo), "--tracking-uri", staging)[0] == 0
    store = get_store(staging, str(tmp_path / "art"))
    state = State(store)
    from loopml.gitops.promotion import approve, propose

    docs, problems = load_dir(repo)
    assert not problems and plan(state, docs).empty
    changed = [d if d.kind != "Deployment" else parse(_doc("Deployment", "pm", {
        "routes": [{"model_uri": "runs:/a1/model", "weight": 100}]}), "x")[0] for d in docs]
    rid, p = propose(state, [d for d in changed if d is not None], False, "alice")
    get_deployment_store(store).update_deployment(
        "pm", [TrafficRoute("runs:/a1/model", 70.0), TrafficRoute("runs:/b2/model", 30.0)])
    from loopml.errors import InvalidState

    with pytest.raises(InvalidState, match="drift"):
        approve(state, rid, "bob")
    store.close()
