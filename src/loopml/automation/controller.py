"""The closed-loop controller: alerts (or a schedule, or a manual call) start a loop for a
model; each pass moves every active loop one step along

    RETRAINING -> EVALUATING -> [AWAITING_APPROVAL] -> CANARY -> PROMOTED | ROLLED_BACK
                                  \\-> REJECTED (gate failed)        (FAILED on errors)

Everything a step decides is written with a compare-and-set on the loop's state, together
with its audit line, so the controller is restart-safe: killed at any point (even with
SIGKILL), a new one continues from the stored state. A retrain it was driving is resumed,
a canary keeps its start time and is re-applied, and deployment changes are idempotent
("make the routes be X"). At most one loop per model is active (a primary key), so an
alert during a running loop is recorded and not acted on, and there are never two
canaries for a model. A promotion happens only from CANARY, which only a passed gate
reaches, and is checked again at the moment of promotion.
"""

from __future__ import annotations

import contextvars
import fnmatch
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._poller import Poller
from loopml.automation import _evaluate as ev
from loopml.automation._gate import decide
from loopml.automation.policy import Policy
from loopml.entities import TrafficRoute
from loopml.errors import LoopmlError, ResourceDoesNotExist
from loopml.events import consume, cron
from loopml.security.actor import SERVICE, acting_as, service_actor
from loopml.security.workspaces import ALL_WORKSPACES, use_workspace
from loopml.serving.traffic import STATUS_EVENT
from loopml.store import (
    get_deployment_store,
    get_loop_store,
    get_monitoring_store,
    get_pipeline_store,
    get_registry_store,
)
from loopml.store.loops_base import (
    AWAITING_APPROVAL,
    CANARY,
    EVALUATING,
    FAILED,
    PROMOTED,
    REJECTED,
    RETRAINING,
    ROLLED_BACK,
    Loop,
    StaleLoop,
)
from loopml.store.pipelines_base import PENDING, PipelineRun
from loopml.tracking._client import TrackingClient

if TYPE_CHECKING:
    from loopml.pipelines._registry import PipelineRegistry

log = logging.getLogger("loopml.automation")
_CURSOR = "loop-controller"


def _now() -> int:
    return int(time.time() * 1000)


class Controller(Poller):
    """Drives the loops of ``policies``. ``runnable``: the server's registered pipelines;
    every policy's retrain pipeline must be one of them (``PermissionDenied`` otherwise) and
    is run from there, never imported. ``None`` (the local ``loopml loop`` commands, the
    user's own policy file) imports ``retrain.pipeline`` when a loop first needs it."""

    def __init__(self, tracking: Any, policies: list[Policy], interval_s: float = 2.0,
                 dry_run: bool = False, proxy_root: str | None = None,
                 runnable: PipelineRegistry | None = None,
                 policies_file: str | Path | None = None) -> None:
        """``policies_file``: the file ``policies`` came from; when it changes, the next
        pass reloads it (a file that does not load, or names a pipeline not in
        ``runnable``, is reported and the old policies stay)."""
        super().__init__("loop-controller")
        self.policies_file = Path(policies_file) if policies_file else None
        self._policies_stamp = self._stamp()
        self.tracking = tracking
        self.policies = {p.model: p for p in policies}
        self.runnable = runnable
        if runnable is not None:
            for p in policies:
                runnable.check(p.retrain.pipeline, f"Policy {p.name!r}: pipeline")
        self.interval_s = interval_s
        self.force_dry_run = dry_run
        self.client = TrackingClient(store=tracking, proxy_root=proxy_root)
        self.loops = get_loop_store(tracking)
        self.registry = get_registry_store(tracking)
        self.deployments = get_deployment_store(tracking)
        self.monitoring = get_monitoring_store(tracking)
        self.pipelines = get_pipeline_store(tracking)
        self._driving: dict[str, threading.Thread] = {}  # pipeline runs this process drives

    # ---- policies --------------------------------------------------------------------------
    def _stamp(self) -> tuple[float, int] | None:
        if self.policies_file is None or not self.policies_file.exists():
            return None
        st = self.policies_file.stat()
        return st.st_mtime, st.st_size

    def reload(self) -> bool:
        """Reload the policies file if it changed since it was read; True when it did. The
        change is written to the audit log of each model it covers."""
        from loopml.automation.policy import load_policies

        stamp = self._stamp()
        if self.policies_file is None or stamp == self._policies_stamp:
            return False
        self._policies_stamp = stamp
        try:
            policies = load_policies(self.policies_file)
            for p in policies if self.runnable is not None else []:
                self.runnable.check(p.retrain.pipeline, f"Policy {p.name!r}: pipeline")  # type: ignore[union-attr]
        except Exception as e:
            log.error("policies %s not reloaded (the previous ones stay): %s",
                      self.policies_file, getattr(e, "message", e))
            return False
        self.policies = {p.model: p for p in policies}
        for p in policies:
            self.loops.audit(p.model, "policy_reloaded", f"policy reloaded from "
                             f"{self.policies_file}", {"file": str(self.policies_file)})
        return True

    # ---- triggers ----------------------------------------------------------------------------
    def trigger(self, model: str, reason: str, inputs: dict[str, Any] | None = None) -> Loop | None:
        """Start a loop for ``model`` unless one is running (then it is recorded as ignored)."""
        policy = self.policies.get(model)
        if policy is None:
            raise ResourceDoesNotExist(
                f"No loop policy for model {model!r}; policies cover {sorted(self.policies)}.")
        champion = self._champion(policy)
        loop = Loop(uuid.uuid4().hex, model, policy.name, RETRAINING,
                    {"reason": reason, **(inputs or {})}, champion_version=champion,
                    dry_run=policy.dry_run or self.force_dry_run)
        audit_in = {"trigger": inputs or {}, "champion_version": champion,
                    "dry_run": loop.dry_run}
        if not self.loops.create_loop(loop, f"triggered by {reason}", audit_in):
            return None
        log.info("loop %s for %s started: %s", loop.loop_id, model, reason)
        return self.loops.get_loop(loop.loop_id)

    def _champion(self, policy: Policy) -> int | None:
        try:
            return self.registry.get_model_version_by_alias(policy.model,
                                                            policy.champion_alias).version
        except LoopmlError:
            return None

    def _consume_alerts(self) -> None:
        consume(self.tracking, self.loops.get_cursor(_CURSOR), ["alert.firing"],
                self._on_alert, limit=500)

    def _on_alert(self, e: Any, cursor: int) -> bool:
        """Start a loop for each policy the alert concerns, then move the cursor (False:
        another controller consumed it)."""
        rule, _, deployment = e.subject.partition("/")
        for p in self.policies.values():
            if p.deployment == deployment and any(fnmatch.fnmatchcase(rule, g)
                                                  for g in p.trigger.alerts):
                with use_workspace(ALL_WORKSPACES):  # the controller serves every workspace
                    latest = self.loops.list_loops(p.model, limit=1)
                if latest and latest[0].trigger.get("event_seq") == e.seq:
                    continue  # a crash after creating the loop replays the event
                quiet = self._quiet(p, latest[0] if latest else None, e)
                if quiet:
                    self.loops.audit(p.model, "ignored", quiet, {"event_seq": e.seq,
                                     "alert": e.subject}, latest[0].loop_id)
                    continue
                self.trigger(p.model, f"alert {e.subject}",
                             {"event_seq": e.seq, "alert": e.payload})
        return bool(self.loops.move_cursor(_CURSOR, cursor, e.seq))

    @staticmethod
    def _quiet(policy: Policy, latest: Loop | None, event: Any) -> str | None:
        """Why an alert for a model whose last loop has ended starts no new loop: it fired
        while that loop ran or within ``trigger.merge_seconds`` of its trigger (the same
        episode: merged), or within ``cooldown_seconds`` after a promotion. None: start one."""
        if latest is None or latest.active:
            return None  # an active loop: trigger() records it as ignored
        if event.time <= latest.updated_time or \
                event.time - latest.created_time <= policy.trigger.merge_seconds * 1000:
            return (f"alert {event.subject} merged into loop {latest.loop_id[:8]} "
                    f"({latest.state}): it fired during that loop's episode")
        if latest.state == PROMOTED and \
                event.time - latest.updated_time < policy.cooldown_seconds * 1000:
            return (f"alert {event.subject} within the {policy.cooldown_seconds:g}s cool-down "
                    f"after version {latest.challenger_version} was promoted")
        return None

    def _schedules(self, now: int) -> None:
        for p in self.policies.values():
            if not p.trigger.schedule:
                continue
            name = f"schedule:{p.model}"
            due = self.loops.get_cursor(name)
            fire, new = cron.step(p.trigger.schedule, due, now)
            if new != due and self.loops.move_cursor(name, due, new) and fire:
                self.trigger(p.model, f"schedule {p.trigger.schedule}", {"scheduled_for": due})

    # ---- the pass --------------------------------------------------------------------------
    def run_once(self) -> list[Loop]:
        # Called by the poller thread or directly (``loopml loop run``): either way what it
        # writes names the controller as the actor.
        with acting_as(service_actor("loop-controller"), SERVICE):
            return self._pass()

    def _pass(self) -> list[Loop]:
        try:
            self.reload()
            self._consume_alerts()
            self._schedules(_now())
        except Exception:
            log.exception("reading triggers failed; retrying next pass")
        out = []
        with use_workspace(ALL_WORKSPACES):  # the controller serves every workspace
            active = self.loops.list_loops(active=True)
        for loop in active:
            if loop.model not in self.policies:
                continue
            try:
                out.append(self.step(loop))
            except StaleLoop:
                continue  # another controller moved it
            except Exception as e:
                log.exception("loop %s failed", loop.loop_id)
                out.append(self._fail(loop, f"{type(e).__name__}: {e}"))
        return out

    def step(self, loop: Loop) -> Loop:
        policy = self.policies[loop.model]
        handler = {RETRAINING: self._retrain, EVALUATING: self._evaluate,
                   AWAITING_APPROVAL: self._await_approval, CANARY: self._canary}[loop.state]
        return handler(loop, policy)

    def _fail(self, loop: Loop, reason: str) -> Loop:
        try:
            if loop.state == CANARY and loop.canary.get("previous_routes") is not None:
                self._set_routes(self.policies[loop.model], loop.canary["previous_routes"])
            return self.loops.advance(loop.loop_id, loop.state, "failed", reason,
                                      {"state": loop.state}, state=FAILED, decision=FAILED,
                                      reason=reason)
        except StaleLoop:
            return self.loops.get_loop(loop.loop_id)

    # ---- RETRAINING --------------------------------------------------------------------------
    def _pipeline(self, policy: Policy) -> Any:
        if self.runnable is not None:
            return self.runnable.resolve(policy.retrain.pipeline)
        from loopml.pipelines import load_pipeline

        return load_pipeline(policy.retrain.pipeline)

    def _retrain(self, loop: Loop, policy: Policy) -> Loop:
        if loop.pipeline_run_id is None:
            if self._awaiting_labels(loop, policy):
                return loop
            loop = self.loops.advance(
                loop.loop_id, RETRAINING, "retrain_started",
                f"running pipeline {policy.retrain.pipeline}",
                {"pipeline": policy.retrain.pipeline, "params": policy.retrain.params},
                pipeline_run_id=uuid.uuid4().hex)
        rid = str(loop.pipeline_run_id)
        try:
            run = self.pipelines.get_run(rid)
        except ResourceDoesNotExist:
            run = None
        if run is None or (run.status in (PENDING, "RUNNING") and rid not in self._driving):
            self._drive(loop, policy, self._pipeline(policy), run)
            return loop
        if run.status in (PENDING, "RUNNING"):
            return loop
        self._driving.pop(rid, None)
        if run.status != "SUCCEEDED":
            steps = {s.step: s.error for s in self.pipelines.get_steps(rid) if s.error}
            cause = "; ".join(f"{k}: {str(v).strip().splitlines()[-1]}"
                              for k, v in steps.items()) or run.error
            return self.loops.advance(loop.loop_id, RETRAINING, "failed",
                                      f"retrain pipeline failed: {cause}",
                                      {"pipeline_run_id": rid, "step_errors": steps},
                                      state=FAILED, decision=FAILED,
                                      reason=f"retrain failed: {cause}")
        version = self._register(loop, policy, rid)
        return self.loops.advance(loop.loop_id, RETRAINING, "retrained",
                                  f"challenger is version {version}",
                                  {"pipeline_run_id": rid, "challenger_version": version},
                                  state=EVALUATING, challenger_version=version)

    def _awaiting_labels(self, loop: Loop, policy: Policy) -> bool:
        """Whether the loop still waits for ``retrain.min_new_labels`` labelled requests
        served since its trigger (outside the rolling holdout), within the deadline."""
        r = policy.retrain
        if not r.min_new_labels or _now() - loop.created_time >= r.labels_deadline_seconds * 1000:
            return False
        _, y = ev.recent_labelled(policy.log_dir, policy.deployment, self.monitoring,
                                  loop.created_time, None, None, "train",
                                  policy.evaluate.recent_holdout_percent)
        return len(y) < r.min_new_labels

    def _drive(self, loop: Loop, policy: Policy, p: Any, run: PipelineRun | None) -> None:
        from loopml.pipelines._engine import execute, resume
        from loopml.pipelines._lint import lint

        rid = str(loop.pipeline_run_id)
        if run is None:
            params = dict(policy.retrain.params)
            if "loop" in p.params:
                params["loop"] = {"model": policy.model, "loop_id": loop.loop_id,
                                  "champion_version": loop.champion_version,
                                  "deployment": policy.deployment, "log_dir": policy.log_dir,
                                  "since_ms": loop.created_time if
                                  policy.evaluate.recent_from_trigger else
                                  loop.created_time - 1000 * (
                                      policy.evaluate.recent_seconds or 3600),
                                  "trigger": loop.trigger,
                                  "holdout_percent": policy.evaluate.recent_holdout_percent}
            rec = self.pipelines.create_run(PipelineRun(
                rid, p.name, policy.retrain.pipeline, lint(p, params), PENDING,
                policy.retrain.executor, {"kind": "loop", "loop_id": loop.loop_id},
                creation_time=_now()))

            def go() -> None:
                execute(p, rec, self.client, self.pipelines, policy.retrain.executor)
        else:
            def go() -> None:  # the controller that drove it died: continue it
                resume(rid, client=self.client, pipeline=p)

        ctx = contextvars.copy_context()  # the retrain's events keep the controller as actor
        th = threading.Thread(target=ctx.run, args=(go,), name=f"loop-retrain-{rid[:8]}",
                              daemon=True)
        self._driving[rid] = th
        th.start()

    def _register(self, loop: Loop, policy: Policy, rid: str) -> int:
        from loopml.models._log import register_model
        from loopml.pipelines._materialize import load_output

        existing = self.registry.search_model_versions(f"name = '{policy.model}'", 1000)
        for mv in existing:
            if mv.tags.get("loopml.loop_id") == loop.loop_id:
                return mv.version  # registered before a restart
        steps = {s.step: s for s in self.pipelines.get_steps(rid)}
        step = steps.get(policy.retrain.output_step)
        if step is None or "output" not in step.outputs:
            raise ValueError(f"pipeline step {policy.retrain.output_step!r} produced no output")
        ref = step.outputs["output"]
        out = load_output(ref, self.client.artifact_store(ref["uri"]))
        if not isinstance(out, dict) or "model_uri" not in out:
            raise ValueError(f"step {policy.retrain.output_step!r} must return "
                             "{'model_uri': 'runs:/<run>/<path>'}")
        mv = register_model(out["model_uri"], policy.model,
                            tags={"loopml.loop_id": loop.loop_id, "loopml.pipeline_run_id": rid},
                            client=self.client)
        return int(mv.version)

    # ---- EVALUATING and the gate -------------------------------------------------------------
    def _evaluate(self, loop: Loop, policy: Policy) -> Loop:
        ch_uri = f"models:/{policy.model}/{loop.challenger_version}"
        champ_uri = f"models:/{policy.model}/{loop.champion_version}" \
            if loop.champion_version else None
        evaluation: dict[str, Any] = {"metric": policy.evaluate.metric, "models": {
            "challenger": ch_uri, "champion": champ_uri}}
        data = ev.holdout(policy)
        splits: dict[str, tuple[Any, list[Any]]] = {}
        if data is not None:
            splits["holdout"] = data
            if policy.gate.require_validation:
                evaluation["validation"] = self._validate(loop, policy, data[0])
        e = policy.evaluate
        if e.recent_seconds or e.recent_count or e.recent_from_trigger:
            since = loop.created_time if e.recent_from_trigger else \
                loop.created_time - (e.recent_seconds or 10 * 365 * 86400) * 1000
            names = list(data[0].columns) if data is not None else None
            Xr, yr = ev.recent_labelled(policy.log_dir, policy.deployment, self.monitoring,
                                        since, names, e.recent_count, "holdout",
                                        e.recent_holdout_percent)
            need = policy.gate.rule("recent").min_rows
            if len(yr) < need and _now() - loop.updated_time < e.labels_deadline_seconds * 1000:
                return loop  # labels arrive late: wait for them, up to the deadline
            if yr:
                splits["recent"] = (Xr, yr)
        for split, (X, y) in splits.items():
            evaluation[split] = self._score_split(policy, split, X, y, ch_uri, champ_uri)
        gate = self._gate(policy, evaluation)
        if not gate["passed"]:
            reason = "; ".join(gate["failures"])
            if loop.challenger_version is not None and not loop.dry_run:
                self.registry.set_model_version_tag(policy.model, loop.challenger_version,
                                                    "loopml.rejected", f"gate: {reason}")
            return self.loops.advance(loop.loop_id, EVALUATING, "gate_failed", reason,
                                      {"evaluation": evaluation, "gate": gate},
                                      state=REJECTED, decision=REJECTED, evaluation=evaluation,
                                      gate=gate, reason="gate: " + reason)
        nxt = AWAITING_APPROVAL if policy.gate.approval else CANARY
        loop = self.loops.advance(loop.loop_id, EVALUATING, "gate_passed",
                                  "challenger passed the gate" + (
                                      "; waiting for approval (loopml approve)"
                                      if policy.gate.approval else ""),
                                  {"evaluation": evaluation, "gate": gate},
                                  state=nxt, evaluation=evaluation, gate=gate)
        return self._start_canary(loop, policy) if nxt == CANARY else loop

    def _score_split(self, policy: Policy, split: str, X: Any, y: list[Any], ch_uri: str,
                     champ_uri: str | None) -> dict[str, Any]:
        """Both models on one split: their metrics, the row count and, with
        ``gate.confidence``, the paired-bootstrap interval of the improvement."""
        task, metric = ev.task_of(policy), policy.evaluate.metric
        preds = {"challenger": ev.predictions(ch_uri, X, task, split, self.client)}
        if champ_uri:
            preds["champion"] = ev.predictions(champ_uri, X, task, split, self.client)
        out: dict[str, Any] = {role: ev.metrics_of(task, p, y) for role, p in preds.items()}
        out["rows"] = len(y)
        if champ_uri and policy.gate.confidence is not None and len(y) > 1:
            sign = 1.0 if policy.higher_is_better else -1.0
            out["interval"] = list(ev.paired_delta(task, metric, preds["challenger"],
                                                   preds["champion"], y,
                                                   policy.gate.confidence, sign))
        return out

    def _validate(self, loop: Loop, policy: Policy, X: Any) -> dict[str, Any]:
        """The holdout against the champion's training schema, when its run logged one."""
        from loopml.data import validate
        from loopml.data._log import load_run_schema

        if loop.challenger_version is None:
            return {"checked": False, "reason": "no challenger"}
        mv = self.registry.get_model_version(policy.model, loop.challenger_version)
        schema = load_run_schema(self.client, mv.run_id) if mv.run_id else None
        if schema is None:
            return {"checked": False, "reason": "the challenger's run logged no schema"}
        anomalies = validate(X, schema)
        errors = [a.message for a in anomalies if a.severity == "error"]
        return {"checked": True, "errors": errors, "warnings": len(anomalies) - len(errors)}

    def _gate(self, policy: Policy, evaluation: dict[str, Any]) -> dict[str, Any]:
        return decide(policy, evaluation)

    def _await_approval(self, loop: Loop, policy: Policy) -> Loop:
        return loop  # `approve` moves it on

    def approve(self, loop_id: str, who: str = "cli") -> Loop:
        return approve(self.loops, loop_id, who)

    # ---- CANARY --------------------------------------------------------------------------
    def _routes(self, policy: Policy) -> list[dict[str, Any]]:
        d = self.deployments.get_deployment(policy.deployment)
        return [{"model_uri": r.model_uri, "weight": r.weight} for r in d.routes]

    def _set_routes(self, policy: Policy, routes: list[dict[str, Any]]) -> None:
        want = [TrafficRoute(r["model_uri"], float(r["weight"])) for r in routes]
        if list(self.deployments.get_deployment(policy.deployment).routes) != want:
            self.deployments.update_deployment(policy.deployment, routes=want)

    def _start_canary(self, loop: Loop, policy: Policy) -> Loop:
        if loop.canary.get("started_ms"):
            return loop
        w = policy.canary.weight
        previous = self._routes(policy)
        champion = f"models:/{policy.model}/{loop.champion_version}" if loop.champion_version \
            else previous[0]["model_uri"]
        planned = [{"model_uri": champion, "weight": 100 - w},
                   {"model_uri": f"models:/{policy.model}/{loop.challenger_version}",
                    "weight": w}]
        canary = {"started_ms": _now(), "previous_routes": previous, "routes": planned,
                  "status_after": self._last_status_seq()}
        if loop.dry_run:
            return self.loops.advance(loop.loop_id, CANARY, "dry_run",
                                      f"dry run: would send {w:g}% of {policy.deployment} to "
                                      f"version {loop.challenger_version}, then promote or roll "
                                      "back on the guardrails", {"canary": canary},
                                      state=REJECTED, decision=REJECTED, canary=canary,
                                      reason="dry run: nothing changed")
        loop = self.loops.advance(loop.loop_id, CANARY, "canary_started",
                                  f"{w:g}% of {policy.deployment} to version "
                                  f"{loop.challenger_version}", {"routes": planned,
                                                                 "previous": previous},
                                  canary=canary)
        self._set_routes(policy, planned)
        return loop

    def _canary(self, loop: Loop, policy: Policy) -> Loop:
        if not loop.canary.get("started_ms"):
            return self._start_canary(loop, policy)
        c, cfg = loop.canary, policy.canary
        self._set_routes(policy, c["routes"])  # idempotent: re-applied after a restart
        failed = self._load_failure(policy, loop)
        if failed is not None:
            return self._rollback(loop, policy, failed["reason"], {"serving": failed})
        stats = ev.canary_stats(policy, self.monitoring, int(c["started_ms"]), {
            "challenger": int(loop.challenger_version or 0),
            "champion": int(loop.champion_version or 0)})
        ch, champ = stats["challenger"], stats["champion"]
        breaches = []
        if ch.get("error_rate", 0.0) > cfg.max_error_rate:
            breaches.append(f"error rate {ch['error_rate']:.3f} > {cfg.max_error_rate}")
        if cfg.max_p99_ms is not None and ch.get("p99_ms", 0.0) > cfg.max_p99_ms:
            breaches.append(f"p99 latency {ch['p99_ms']:.1f} ms > {cfg.max_p99_ms} ms")
        metric = policy.evaluate.metric
        quality_checked = False
        if cfg.max_quality_drop is not None and ch.get("labels", 0) >= cfg.min_labels \
                and champ.get("labels", 0) >= cfg.min_labels and metric in ch and metric in champ:
            quality_checked = True
            sign = 1.0 if policy.higher_is_better else -1.0
            drop = sign * (champ[metric] - ch[metric])
            if drop > cfg.max_quality_drop:
                breaches.append(f"live {metric} {ch[metric]:.3f} vs champion {champ[metric]:.3f}"
                                f" (drop {drop:.3f} > {cfg.max_quality_drop})")
        elapsed = (_now() - int(c["started_ms"])) / 1000
        inputs = {"stats": stats, "elapsed_s": elapsed, "guardrails": vars(cfg)}
        if breaches:
            return self._rollback(loop, policy, "; ".join(breaches), inputs)
        enough = ch["requests"] >= cfg.min_requests or (
            cfg.duration_seconds is not None and elapsed >= cfg.duration_seconds)
        if enough and cfg.max_quality_drop is not None and not quality_checked \
                and elapsed < cfg.max_seconds:
            enough = False  # wait for enough labels to compare live quality
        if enough:
            return self._promote(loop, policy, inputs)
        if elapsed >= cfg.max_seconds:
            return self._rollback(loop, policy, f"no decision after {cfg.max_seconds:g}s "
                                  f"({int(ch['requests'])} challenger requests)", inputs)
        return loop

    def _last_status_seq(self) -> int:
        """The newest ``deployment.status`` event's seq (load reports older than the canary
        are not about its challenger)."""
        seq = 0
        while True:
            page = self.tracking.read_events(after_seq=seq, types=[STATUS_EVENT], limit=1000)
            if not page:
                return seq
            seq = page[-1].seq

    def _load_failure(self, policy: Policy, loop: Loop) -> dict[str, Any] | None:
        """A serving process reported, since the canary started, that the challenger did
        not load: its report, with the reason to roll back on."""
        challenger = f"models:/{policy.model}/{loop.challenger_version}"
        after = int(loop.canary.get("status_after") or 0)
        for e in self.tracking.read_events(after_seq=after, types=[STATUS_EVENT], limit=1000):
            p = e.payload
            if e.subject == policy.deployment and not p.get("ready") and p.get("uri") == challenger:
                return {**p, "reason": f"the challenger {challenger} did not load in serving "
                                       f"(deployment {policy.deployment} revision "
                                       f"{p.get('revision')}): {p.get('error')}"}
        return None

    def _promote(self, loop: Loop, policy: Policy, inputs: dict[str, Any]) -> Loop:
        if not loop.gate.get("passed"):  # unreachable by construction; never promote ungated
            return self._rollback(loop, policy, "no passed gate on record", inputs)
        version = int(loop.challenger_version or 0)
        self.registry.set_registered_model_alias(policy.model, policy.champion_alias, version)
        self._set_routes(policy, [{"model_uri": f"models:/{policy.model}/{version}",
                                   "weight": 100.0}])
        return self.loops.advance(loop.loop_id, CANARY, "promoted",
                                  f"version {version} is {policy.champion_alias} and takes "
                                  "100% of traffic", inputs, state=PROMOTED, decision=PROMOTED,
                                  reason="canary guardrails held")

    def _rollback(self, loop: Loop, policy: Policy, reason: str, inputs: dict[str, Any]) -> Loop:
        self._set_routes(policy, loop.canary["previous_routes"])
        if loop.challenger_version is not None:
            self.registry.set_model_version_tag(policy.model, loop.challenger_version,
                                                "loopml.rejected", reason)
        return self.loops.advance(loop.loop_id, CANARY, "rolled_back", reason, inputs,
                                  state=ROLLED_BACK, decision=ROLLED_BACK, reason=reason)


def approve(loops: Any, loop_id: str, who: str) -> Loop:
    """Manual approval of a gated challenger: its canary starts on the controller's next
    pass. Only a loop waiting for approval can be approved."""
    from loopml.errors import InvalidState

    if hasattr(loops, "approve"):  # a server's store: its approve route checks the role
        return loops.approve(loop_id, who)  # type: ignore[no-any-return]
    loop = loops.get_loop(loop_id)
    if loop.state != AWAITING_APPROVAL:
        raise InvalidState(f"Loop {loop_id} is {loop.state}, not waiting for approval.")
    return loops.advance(loop_id, AWAITING_APPROVAL, "approved",  # type: ignore[no-any-return]
                         f"approved by {who}", {"by": who}, state=CANARY, approved_by=who)

