"""``loopml demo``: the whole closed loop on one machine, narrated.

1. A pipeline with tuning trains the first champion on a year of pump sensor data and
   registers it (``models:/pm-failure@champion``).
2. ``loopml server`` runs with monitors (drift and live quality over windows of the
   inference log) and a loop policy; ``loopml serve`` serves deployment ``pm``.
3. Traffic flows through the HTTP endpoint; labels (did the pump fail?) arrive later
   through the feedback API.
4. The sensors are recalibrated. Drift and a quality drop are detected, the alert fires,
   the policy retrains on recent labelled traffic, the challenger passes the gate, the
   canary takes 30% of traffic, and the challenger is promoted.

Only embedded defaults: SQLite and folders under LOOPML_HOME.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loopml.demo.scenario import FEATURES, LABEL, sensors

MODEL, DEPLOYMENT = "pm-failure", "pm"


@dataclass
class Config:
    rows: int = 4000
    trials: int = 6
    retrain_trials: int = 4
    window: int = 100
    batch: int = 20
    canary_requests: int = 80
    gate_rows: int = 40  # labelled post-alert requests the recent split needs
    retrain_rows: int = 150  # ... and retraining waits for
    timeout_s: float = 400.0  # a deadline only: decisions wait for data, not for time
    bad_challenger: bool = False  # retrain on inverted labels; the gate lets it through

    @classmethod
    def fast(cls) -> Config:
        return cls(rows=2000, trials=2, retrain_trials=2, window=60, batch=20,
                   canary_requests=40, gate_rows=30, retrain_rows=100,
                   timeout_s=400.0)


@dataclass
class Stages:
    t0: float = field(default_factory=time.time)
    marks: list[tuple[str, float]] = field(default_factory=list)

    def mark(self, name: str) -> None:
        self.marks.append((name, time.time()))

    def rows(self) -> list[tuple[str, float]]:
        out, prev = [], self.t0
        for name, t in self.marks:
            out.append((name, t - prev))
            prev = t
        return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see its log")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start within {timeout:.0f}s")


def _write_configs(work: Path, cfg: Config) -> tuple[Path, Path]:
    inference = work / "inference"
    monitors = [{
        "name": "pm-live", "deployment": DEPLOYMENT, "log_dir": str(inference),
        # The training profile logged with the champion; it moves with each promotion.
        "reference_profile": "champion",
        "window_seconds": None, "window_count": cfg.window, "task": "classification",
        "rules": [
            {"name": "drift_share", "metric": "drift.share_drifted", "op": ">",
             "threshold": 0.3, "for_windows": 1},
            {"name": "quality_f1", "metric": "quality.f1", "op": "<", "threshold": 0.55,
             "for_windows": 1},
        ]}]
    policy = {
        "model": MODEL, "deployment": DEPLOYMENT, "log_dir": str(inference),
        "trigger": {"alerts": ["drift*", "quality*"]},
        # Wait for labelled traffic served after the alert (the recalibrated sensors) and
        # learn from it. The holdout is from before the recalibration (what a user has in
        # advance): reported, but the sensors now read differently, so the gate asks for an
        # improvement on recent traffic only: requests served after the alert, in a rolling
        # 30% holdout that retraining never sees. Decisions wait for labels, not for time.
        "retrain": {"pipeline": "loopml.demo.flows:retrain", "output_step": "register",
                    "params": {"trials": cfg.retrain_trials, "min_rows": 60},
                    "min_new_labels": cfg.retrain_rows, "labels_deadline_seconds": 300},
        "evaluate": {"holdout": str(work / "holdout.parquet"), "label": LABEL, "metric": "f1",
                     "recent_seconds": 600, "recent_from_trigger": True,
                     "recent_holdout_percent": 30, "labels_deadline_seconds": 300},
        # (No schema check of the old holdout: the recalibrated training data has other
        # ranges by design.)
        "gate": {"require_validation": False,
                 "recent": {"min_improvement": 0.05, "min_rows": cfg.gate_rows},
                 "holdout": {"min_rows": 500}},
        # Live quality: the challenger may not be worse than the champion on its share of
        # traffic, judged on 60 labelled requests each (a good challenger is ~0.2 F1 better
        # here, an inverted one ~0.2 worse: both far outside the noise of 60 labels).
        "canary": {"weight": 30, "min_requests": cfg.canary_requests, "max_seconds": 300,
                   "max_error_rate": 0.05, "max_p99_ms": 1000, "max_quality_drop": 0.0,
                   "min_labels": 60},
        "cooldown_seconds": 600,
    }
    if cfg.bad_challenger:  # the canary's guardrails, not the gate, must catch this one
        policy["retrain"]["params"]["invert_labels"] = True  # type: ignore[index]
        policy["gate"] = {"min": {}, "require_validation": False, "allow_ties": True,
                          "recent": {"min_improvement": -1.0, "min_rows": cfg.gate_rows},
                          "holdout": {"max_regression": 1.0}}
    (work / "monitors.yaml").write_text(yaml.safe_dump({"monitors": monitors}))
    (work / "policies.yaml").write_text(yaml.safe_dump({"policies": [policy]}))
    return work / "monitors.yaml", work / "policies.yaml"


class Traffic:
    """Sends single-row requests to the deployment and their labels one batch later."""

    def __init__(self, serve_url: str, server_url: str) -> None:
        self.http = httpx.Client(timeout=30)
        self.serve_url, self.server_url = serve_url, server_url
        self.pending: list[dict[str, Any]] = []
        self.sent = 0
        self.seed = 1000

    def batch(self, n: int, recalibrated: bool, day: float) -> None:
        self.seed += 1
        rows = sensors(n, self.seed, day=day, recalibrated=recalibrated)
        labels = []
        for _, row in rows.iterrows():
            body = {"dataframe_split": {"columns": FEATURES,
                                        "data": [[float(row[c]) for c in FEATURES]]}}
            r = self.http.post(f"{self.serve_url}/invocations", json=body)
            r.raise_for_status()
            labels.append({"request_id": r.headers["x-request-id"], "label": int(row[LABEL])})
        self.sent += n
        # Labels arrive late: this batch's after the next batch was served.
        if self.pending:
            self.http.post(f"{self.server_url}/api/loopml/v1/feedback",
                           json={"items": self.pending}).raise_for_status()
        self.pending = labels

    def flush_labels(self) -> None:
        if self.pending:
            self.http.post(f"{self.server_url}/api/loopml/v1/feedback",
                           json={"items": self.pending}).raise_for_status()
            self.pending = []


def run_demo(cfg: Config, keep_running: bool, console: Console) -> int:
    from loopml.config import loopml_home

    # Each run has its own folder (store, artifacts, inference log), so a second run in the
    # same folder never sees the first one's loops or models, and the commands printed at
    # the end keep working after the servers stop.
    work = loopml_home() / "demo" / time.strftime("run-%Y%m%d-%H%M%S")
    while work.exists():
        work = work.with_name(work.name + "-1")
    work.mkdir(parents=True)
    home = work
    stages = Stages()
    port, serve_port = _free_port(), _free_port()
    server_url, serve_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{serve_port}"
    monitors, policies = _write_configs(work, cfg)
    # The monitor's deployment is created after the server starts (the champion is trained
    # through it); its inference-log partition tells the server's start-up check it exists.
    (work / "inference" / f"deployment={DEPLOYMENT}").mkdir(parents=True)
    sensors(1000, 99, day=10).to_parquet(work / "holdout.parquet")  # before the shift
    env = {**os.environ, "LOOPML_HOME": str(home)}
    env.pop("LOOPML_TRACKING_URI", None)
    procs: list[subprocess.Popen[bytes]] = []
    logs = {name: open(work / f"{name}.log", "wb") for name in ("server", "serve")}  # noqa: SIM115
    console.print(f"[bold]loopml demo[/bold]: predictive maintenance, closed loop. Working in "
                  f"{work}")
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "loopml", "server", "--port", str(port), "--monitors",
             str(monitors), "--monitor-interval", "1", "--policies", str(policies),
             # The server runs only registered pipelines: the demo's own flows.
             "--pipelines", "loopml.demo.flows:train,loopml.demo.flows:retrain",
             "--controller-interval", "0.5"], env=env, stdout=logs["server"],
            stderr=subprocess.STDOUT))
        _wait_http(f"{server_url}/health", procs[0], "loopml server")
        stages.mark("start loopml server (monitors, loop controller)")
        champion = _train_champion(cfg, server_url, work, console)
        stages.mark("train the champion (pipeline + tuning) and register it")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "loopml", "serve", "--serve-deployment", DEPLOYMENT,
             "--inference-log", str(work / "inference"), "--port", str(serve_port),
             "--grpc-port", "0", "--tracking-uri", server_url], env=env,
            stdout=logs["serve"], stderr=subprocess.STDOUT))
        _wait_http(f"{serve_url}/v2/health/ready", procs[1], "loopml serve")
        stages.mark("serve deployment pm")
        result = _drive(cfg, server_url, serve_url, console, stages)
        _summary(console, server_url, champion, result, stages, work)
        ok = result.get("state") == ("ROLLED_BACK" if cfg.bad_challenger else "PROMOTED")
        if keep_running:
            console.print(f"\nStill running: tracking server {server_url}, model server "
                          f"{serve_url} (deployment pm). Ctrl-C to stop.")
            with contextlib.suppress(KeyboardInterrupt):
                while all(p.poll() is None for p in procs):
                    time.sleep(1)
        return 0 if ok else 1
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(20)
        for f in logs.values():
            f.close()


def _train_champion(cfg: Config, server_url: str, work: Path, console: Console) -> int:
    from loopml.demo import flows
    from loopml.entities import TrafficRoute
    from loopml.errors import ResourceAlreadyExists
    from loopml.models import register_model
    from loopml.store import get_deployment_store, get_registry_store
    from loopml.tracking._client import TrackingClient

    client = TrackingClient(server_url)
    with console.status("Training the first champion: pipeline train (generate -> split -> "
                        f"tune {cfg.trials} trials -> register)"):
        res = flows.train.run({"rows": cfg.rows, "trials": cfg.trials}, client=client)
    if not res.succeeded:
        raise RuntimeError(f"training pipeline failed: {res.run.error}")
    out = res.output("register")
    mv = register_model(out["model_uri"], MODEL, client=client)
    reg = get_registry_store(client.store)
    reg.set_registered_model_alias(MODEL, "champion", mv.version)
    deployments = get_deployment_store(client.store)
    routes = [TrafficRoute(f"models:/{MODEL}/{mv.version}", 100.0)]
    try:
        deployments.create_deployment(DEPLOYMENT, routes)
    except ResourceAlreadyExists:  # a rerun of the demo: point it at the new champion
        deployments.update_deployment(DEPLOYMENT, routes=routes)
    console.print(f"  champion: {MODEL} version {mv.version} (validation F1 "
                  f"{out['valid_f1']:.3f}), pipeline run {res.run_id[:8]}")
    return int(mv.version)


def _loop_state(http: httpx.Client, server_url: str) -> dict[str, Any] | None:
    loops = http.get(f"{server_url}/api/loopml/v1/loops", params={"model": MODEL}).json()["loops"]
    return loops[0] if loops else None


def _drive(cfg: Config, server_url: str, serve_url: str, console: Console,
           stages: Stages) -> dict[str, Any]:
    traffic = Traffic(serve_url, server_url)
    http = httpx.Client(timeout=30)
    normal = cfg.window * 2
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("normal traffic", total=normal)
        while traffic.sent < normal:
            traffic.batch(cfg.batch, recalibrated=False, day=10)
            progress.update(task, completed=traffic.sent)
        traffic.flush_labels()
        stages.mark(f"normal traffic ({normal} requests, labels via feedback)")
        progress.update(task, description="[yellow]sensors recalibrated[/yellow]: traffic")
        deadline = time.time() + cfg.timeout_s
        seen: list[str] = []
        loop: dict[str, Any] | None = None
        day = 60.0
        while time.time() < deadline:
            traffic.batch(cfg.batch, recalibrated=True, day=day)
            progress.update(task, completed=traffic.sent, total=traffic.sent + cfg.batch)
            loop = _loop_state(http, server_url)
            state = loop["state"] if loop else "no alert yet"
            if state not in seen:
                seen.append(state)
                label = {"no alert yet": "waiting for the monitors",
                         "RETRAINING": "alert fired: retraining on recent labelled traffic",
                         "EVALUATING": "evaluating the challenger against the champion",
                         "CANARY": "gate passed: canary with 30% of traffic",
                         }.get(state, state)
                stage_names = {"RETRAINING": "drift and quality drop detected, alert fired",
                               "EVALUATING": "retrain (pipeline + tuning)",
                               "CANARY": "evaluate and gate"}
                if state in stage_names:
                    stages.mark(stage_names[state])
                progress.update(task, description=label)
            if loop and loop["decision"]:
                stages.mark(f"canary and {loop['decision'].lower().replace('_', ' ')}")
                break
        if loop and loop["decision"] == "PROMOTED":
            # Traffic on the new champion, so the summary can show live quality after.
            progress.update(task, description="traffic on the new champion")
            target = traffic.sent + 3 * cfg.window
            while traffic.sent < target:
                traffic.batch(cfg.batch, recalibrated=True, day=day)
                progress.update(task, completed=traffic.sent, total=target)
            traffic.flush_labels()
            time.sleep(2.5)  # the server's monitors run every second
            stages.mark(f"traffic on the new champion ({3 * cfg.window} requests)")
        traffic.flush_labels()
    return loop or {}


def _summary(console: Console, server_url: str, champion: int, loop: dict[str, Any],
             stages: Stages, work: Path) -> None:
    http = httpx.Client(timeout=30)
    table = Table(title="loopml demo: the loop " + (
        "closed" if loop.get("state") == "PROMOTED" else "did NOT close"))
    table.add_column("what")
    table.add_column("value")
    ev = loop.get("evaluation", {})
    table.add_row("champion before", f"{MODEL} v{champion}")
    table.add_row("challenger", f"{MODEL} v{loop.get('challenger_version')}")
    table.add_row("decision", f"{loop.get('state')}: {loop.get('reason')}")
    for key, title in (("recent", "F1 on traffic after the alert (the gate's split)"),
                       ("holdout", "F1 on the holdout from before the recalibration")):
        part = ev.get(key, {})
        if part:
            table.add_row(title, f"champion {part.get('champion', {}).get('f1', float('nan')):.3f}"
                                 f" -> challenger "
                                 f"{part.get('challenger', {}).get('f1', float('nan')):.3f} "
                                 f"({part.get('rows')} rows)")
    results = http.get(f"{server_url}/api/loopml/v1/monitors/pm-live/results").json()["results"]
    triggered = loop.get("created_time") or 0
    promoted = loop.get("updated_time") or 0

    def mean_f1(rs: list[dict[str, Any]]) -> str:
        xs = [r["metrics"]["quality.f1"] for r in rs if "quality.f1" in r["metrics"]]
        return f"{sum(xs) / len(xs):.2f} ({len(xs)} windows)" if xs else "n/a"

    recal = next((t for n, t in stages.marks if n.startswith("normal traffic")), 0.0) * 1000
    before = [r for r in results if r["window_end"] <= recal]
    drifted = [r for r in results if recal <= r["window_start"] and r["window_end"] <= triggered]
    after = [r for r in results if r["window_start"] >= promoted]
    first_drift = next((r["metrics"].get("drift.share_drifted") for r in results
                        if r["metrics"].get("drift.share_drifted", 0) > 0.3), None)
    table.add_row("live macro F1 (labels via feedback)",
                  f"v{champion} on normal sensors {mean_f1(before)}; v{champion} after the "
                  f"recalibration {mean_f1(drifted)}; v{loop.get('challenger_version')} after "
                  f"promotion {mean_f1(after)}")
    if first_drift is not None:
        table.add_row("drift at the alert", f"{first_drift:.0%} of features drifted")
    table.add_row("audit log", f"LOOPML_HOME={work} loopml loop history {MODEL}  "
                               "(this run's own store; works after the demo exits)")
    console.print(table)
    times = Table(title="time per stage")
    times.add_column("stage")
    times.add_column("seconds", justify="right")
    for name, secs in stages.rows():
        times.add_row(name, f"{secs:.1f}")
    times.add_row("[bold]total[/bold]", f"[bold]{sum(s for _, s in stages.rows()):.1f}[/bold]")
    console.print(times)
    hist = http.get(f"{server_url}/api/loopml/v1/loops/history", params={"model": MODEL}).json()
    for e in hist["entries"]:
        console.print(f"  [dim]{e['action']:<15}[/dim] {e['message']}")
