"""Misconfiguration fails loudly, in one line with the documented exit code (issue 15, §3):
each case here was silently accepted, or ended in a traceback, before."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopml.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    for var in ("LOOPML_TRACKING_URI", "LOOPML_CONFIG", "LOOPML_DEBUG",
                "LOOPML_BACKEND_STORE_URI"):
        # set, then delete: monkeypatch then restores the variable's absence after the test,
        # also when the CLI's --config / --debug set it in os.environ
        monkeypatch.setenv(var, "x")
        monkeypatch.delenv(var)
    monkeypatch.chdir(ROOT)  # tests.pipelines.flows is importable from here

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, list(args))

    return invoke


def _one_line_error(out, code: int, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert out.exit_code == code, out.output
    lines = [x for x in out.output.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in out.output, out.output
    for f in fragments:
        assert f in errors[0], errors[0]


MONITOR = {"name": "fraud-monitor", "deployment": "fraud", "log_dir": "ilog",
           "window_seconds": 300,
           "rules": [{"name": "p99", "metric": "latency.p99_ms", "op": ">", "threshold": 20}]}


def _monitors(tmp_path: Path, specs: object) -> Path:
    (tmp_path / "ilog" / "deployment=fraud").mkdir(parents=True, exist_ok=True)
    f = tmp_path / "monitors.yaml"
    f.write_text(yaml.safe_dump(specs))
    return f


def test_monitor_run_reads_the_documented_list_layout(cli, tmp_path) -> None:
    spec = {**MONITOR, "log_dir": str(tmp_path / "ilog")}
    out = cli("monitor", "run", str(_monitors(tmp_path, [spec, {**spec, "name": "second"}])))
    assert out.exit_code == 0, out.output
    assert "0 new window(s) from 2 monitor(s)" in out.output


@pytest.mark.parametrize("change,fragments", [
    ({"deployment": "frud"}, ["monitors[0].deployment", "no deployment 'frud'",
                              "did you mean 'fraud'?"]),
    ({"log_dir": "/nonexistent/ilog"}, ["monitors[0].log_dir", "no folder"]),
    ({"task": "clasification"}, ["monitors[0].task", "did you mean 'classification'?"]),
    ({"rules": [{"name": "d", "metric": "drift.shared_drifted", "op": ">", "threshold": 1}]},
     ["monitors[0].rules[0].metric: unknown metric 'drift.shared_drifted'; did you mean "
      "'drift.share_drifted'?"]),
    ({"rules": [{"name": "d", "metric": "drift.share_drifted", "op": ">", "threshold": 1}]},
     ["only computed with a reference_profile"]),
    ({"window_size": 3}, ["monitors[0].window_size: unknown key"]),
])
def test_monitor_misconfiguration_exits_2(cli, tmp_path, change, fragments) -> None:
    spec = {**MONITOR, "log_dir": str(tmp_path / "ilog"), **change}
    f = _monitors(tmp_path, [spec])
    _one_line_error(cli("monitor", "run", str(f)), 2, str(f), *fragments)


def test_yaml_syntax_error_names_the_line(cli, tmp_path) -> None:
    f = tmp_path / "monitors.yaml"
    f.write_text("- name: a\n  deployment: [unclosed\n")
    _one_line_error(cli("monitor", "run", str(f)), 2, str(f), "line", "YAML syntax error")


def _policy(tmp_path: Path, **over: object) -> Path:
    pol = {"model": "pm", "deployment": "pm", "log_dir": str(tmp_path),
           "retrain": {"pipeline": "tests.pipelines.flows:training", "output_step": "evaluate"},
           **over}
    f = tmp_path / "policies.yaml"
    f.write_text(yaml.safe_dump(pol))
    return f


def test_loop_plan_refuses_a_missing_pipeline(cli, tmp_path) -> None:
    assert cli("loop", "plan", "pm", "--policies", str(_policy(tmp_path))).exit_code == 0
    f = _policy(tmp_path, retrain={"pipeline": "tests.pipelines.nosuch:retrain"})
    _one_line_error(cli("loop", "plan", "pm", "--policies", str(f)), 2,
                    "policies[0].retrain.pipeline", "nosuch")
    f = _policy(tmp_path, retrain={"pipeline": "tests.pipelines.flows:training",
                                   "output_step": "evaluate", "params": {"nn": 3}})
    _one_line_error(cli("loop", "plan", "pm", "--policies", str(f)), 2,
                    "policies[0].retrain.params.nn", "did you mean 'n'?")


def test_trigger_alerts_must_be_a_list(cli, tmp_path) -> None:
    f = _policy(tmp_path, trigger={"alerts": "drift*"})
    _one_line_error(cli("loop", "plan", "pm", "--policies", str(f)), 2,
                    "policies[0].trigger.alerts: expected a list, got 'drift*'")


def _register(home_uri: str, versions: int) -> None:
    from loopml.store import get_registry_store, get_store

    store = get_store(home_uri)
    reg = get_registry_store(store)
    reg.create_registered_model("cancer")
    for _ in range(versions):
        reg.create_model_version("cancer", "file:///tmp/model")
    store.close()


def test_deployment_routes_must_exist_and_sum_to_100(cli, tmp_path) -> None:
    from loopml.config import default_backend_uri

    _register(default_backend_uri(), 2)
    ok = cli("deployments", "create", "cancer-live", "--route", "models:/cancer/1=100")
    assert ok.exit_code == 0, ok.output
    _one_line_error(cli("deployments", "update", "cancer-live", "--route",
                        "models:/cancer/9=100"), 2, "models:/cancer/9 does not exist")
    _one_line_error(cli("deployments", "update", "cancer-live", "--route", "models:/cancer/1=50",
                        "--route", "models:/cancer/2=20"), 2, "must sum to 100", "= 70")
    got = cli("deployments", "get", "cancer-live", "--json")
    assert '"revision": 1' in got.output  # nothing was stored


@pytest.mark.parametrize("args,fragments", [
    (["schedule", "tests.pipelines.flows:nosuch", "--cron", "0 3 * * *"], ["nosuch"]),
    (["schedule", "tests.pipelines.flows:training", "--cron", "0 3 * * *", "-p", "nn=3"],
     ["Unknown parameter 'nn'", "Did you mean 'n'?"]),
    (["schedule", "tests.pipelines.flows:training", "--cron", "0 3 * * *", "-p", "n=abc"],
     ["Parameter 'n'"]),
    (["trigger", "tests.pipelines.flows:training", "--on", "model_version.craeted"],
     ["unknown event type 'model_version.craeted'", "did you mean 'model_version.created'?"]),
])
def test_pipeline_triggers_are_linted(cli, args, fragments) -> None:
    _one_line_error(cli("pipeline", *args), 2, *fragments)
    assert "Trigger" not in cli("pipeline", "triggers").output


def test_tracking_uri_from_the_environment(cli, tmp_path, monkeypatch) -> None:
    from loopml.store import get_store
    from loopml.tracking import TrackingClient

    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    store = get_store(uri, str(tmp_path / "art"))
    store.create_experiment("only-there")
    store.close()
    monkeypatch.setenv("LOOPML_TRACKING_URI", uri)
    assert "only-there" in cli("experiments", "list").output
    assert "0 run(s) in 'only-there'" in cli("runs", "list", "--experiment", "only-there").output
    assert TrackingClient().store.get_experiment_by_name("only-there") is not None


def test_settings_file_and_precedence(cli, tmp_path, monkeypatch) -> None:
    from loopml.store import get_store

    for name in ("file", "env"):
        s = get_store(f"sqlite:///{tmp_path / name}.db", str(tmp_path / "art"))
        s.create_experiment(f"in-{name}")
        s.close()
    cfg = tmp_path / "loopml.yaml"
    cfg.write_text(f"tracking_uri: sqlite:///{tmp_path / 'file'}.db\n")
    assert "in-file" in cli("--config", str(cfg), "experiments", "list").output
    monkeypatch.setenv("LOOPML_TRACKING_URI", f"sqlite:///{tmp_path / 'env'}.db")
    assert "in-env" in cli("--config", str(cfg), "experiments", "list").output  # env > file
    out = cli("--config", str(cfg), "experiments", "list", "--tracking-uri",
              f"sqlite:///{tmp_path / 'file'}.db")
    assert "in-file" in out.output  # flag > env
    cfg.write_text("traking_uri: x\n")
    _one_line_error(cli("--config", str(cfg), "experiments", "list"), 2,
                    "traking_uri: unknown key; did you mean 'tracking_uri'?")


def test_runtime_errors_are_one_line(cli, tmp_path, monkeypatch) -> None:
    _one_line_error(cli("runs", "list", "--filter", "metrics.x >"), 2, "Invalid filter")
    (tmp_path / "empty.parquet").write_bytes(b"")
    _one_line_error(cli("data", "profile", str(tmp_path / "empty.parquet"), "-o",
                        str(tmp_path / "p.json")), 2)
    _one_line_error(cli("lineage", "--run-id", "0123456789abcdef"), 2)
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "MLmodel").write_text("flavors: [unclosed\n")
    _one_line_error(cli("models", "info", str(bad)), 2)
    (tmp_path / "broken_flow.py").write_text("import nosuch_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _one_line_error(cli("pipeline", "run", "broken_flow:p"), 2, "nosuch_package_xyz")
    monkeypatch.setenv("LOOPML_TRACKING_URI", "http://127.0.0.1:9")
    _one_line_error(cli("experiments", "list"), 1, "127.0.0.1:9")


def test_not_found_and_empty_data_are_errors(cli, tmp_path) -> None:
    import pandas as pd

    _one_line_error(cli("models", "versions", "nosuch"), 2, "nosuch")
    _one_line_error(cli("loop", "history", "nosuch"), 2, "nosuch")
    _one_line_error(cli("monitor", "results", "nosuch"), 2, "No windows stored")
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(tmp_path / "ref.parquet")
    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(tmp_path / "cur.parquet")
    _one_line_error(cli("data", "drift", "-r", str(tmp_path / "ref.parquet"), "-c",
                        str(tmp_path / "cur.parquet")), 2, "no rows")


def test_debug_shows_the_traceback(cli, monkeypatch) -> None:
    out = cli("--debug", "runs", "list", "--filter", "metrics.x >")
    assert out.exit_code != 0 and isinstance(out.exception, Exception)
    assert type(out.exception).__name__ == "InvalidParameterValue"


def _server(tmp_path: Path, monitors: Path):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from tests.conftest import free_port

    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home")}
    return subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(free_port()), "--monitors",
         str(monitors), "--no-triggers"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def test_server_monitors_one_format(tmp_path) -> None:
    """A single mapping is a list of one (main ran 0 monitors without a word); a bad file
    stops the server with one line and exit 2."""
    bad = _monitors(tmp_path, [{**MONITOR, "log_dir": str(tmp_path / "ilog"), "task": "x"}])
    proc = _server(tmp_path, bad)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.count("Error: ") == 1 and "monitors[0].task" in err, err
    single = _monitors(tmp_path, {**MONITOR, "log_dir": str(tmp_path / "ilog")})
    proc = _server(tmp_path, single)
    try:
        assert proc.stdout is not None
        assert "Monitors: 1" in proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_refuses_what_it_could_never_serve(cli, tmp_path) -> None:
    """main started, logged a load failure and served nothing with exit 0 later."""
    _one_line_error(cli("serve", str(tmp_path / "nosuch"), "--grpc-port", "0"), 2,
                    "no such model folder")
    _one_line_error(cli("serve", "models:/nosuch/1", "--grpc-port", "0"), 2,
                    "models:/nosuch/1 does not exist")
    _one_line_error(cli("serve", "--serve-deployment", "nosuch", "--grpc-port", "0"), 2,
                    "--serve-deployment nosuch: no such deployment")


def test_serve_refuses_bad_feature_options(cli, tmp_path) -> None:
    """--features is checked before binding: the view must be named and exist."""
    from sklearn.linear_model import LinearRegression

    from loopml import models

    models.save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), tmp_path / "m")
    views = tmp_path / "features.yaml"
    views.write_text("views:\n  - {name: stats, entity: machine, features: {x: float64}}\n")
    _one_line_error(cli("serve", str(tmp_path / "m"), "--grpc-port", "0", "--features", str(views)), 2,
                    "--features needs --feature-view")
    _one_line_error(cli("serve", str(tmp_path / "m"), "--grpc-port", "0", "--features", str(views),
                        "--feature-view", "stat"), 2, "Unknown feature view 'stat'")
    views.write_text("views:\n  - {name: stats, entity: machine, features: {x: flaot}}\n")
    _one_line_error(cli("serve", str(tmp_path / "m"), "--grpc-port", "0", "--features", str(views),
                        "--feature-view", "stats"), 2, "views[0].features")
