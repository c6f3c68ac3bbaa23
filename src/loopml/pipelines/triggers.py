"""Cron schedules and event triggers, run by ``loopml server``.

A trigger names a pipeline (``module:attr``), parameters, an executor and either a cron
expression or event types from the metadata store's event log (``dataset.version_created``,
``model_version.created``, ``alert.firing`` ... with an optional subject glob). Each pass
of the runner:

- fires every cron trigger whose next time has come (once, even if several were missed
  while the server was down: schedules catch up with one run, not a burst);
- consumes events after each event trigger's cursor, one pipeline run per matching event.

Firing moves the trigger's marker and records the PENDING run in one transaction
(``PipelineStore.fire_trigger``), so two servers never both fire it and a crash between
recording and starting loses nothing: on start the runner starts PENDING runs of its
triggers. A pipeline with an ``event`` parameter receives the event as a dict.

Triggers are data anyone with the right permission (or database access) can write, so the
runner runs only pipelines of its ``PipelineRegistry`` (the operator's ``--pipelines``): a
trigger naming anything else records a FAILED run that says how to register it, and its
module is never imported.
"""

from __future__ import annotations

import fnmatch
import logging
import time
import uuid
from typing import Any

from loopml._poller import Poller
from loopml.errors import InvalidParameterValue
from loopml.events import consume, cron
from loopml.events.cron import next_fire
from loopml.pipelines._registry import PipelineRegistry
from loopml.security.workspaces import ALL_WORKSPACES, use_workspace
from loopml.store.pipelines_base import PENDING, PipelineRun, PipelineStore, Trigger

log = logging.getLogger("loopml.pipelines")


# Event types in the metadata store's event log that a trigger can react to (a test keeps
# this table in step with the types the stores append); ``loop.*`` are the closed loop's
# audit actions.
EVENT_TYPES = frozenset({
    "alert.firing", "alert.resolved", "alias.deleted", "alias.set", "dataset.alias_set",
    "dataset.version_created",
    "deployment.deleted", "deployment.updated", "experiment.created", "feedback.logged",
    "logged_model.created", "logged_model.finalized", "model_version.created",
    "model_version.deleted", "model_version.stage_changed", "model_version.trust_changed",
    "monitor.window", "pipeline_run.created", "pipeline_run.finished",
    "pipeline_trigger.created", "registered_model.created", "registered_model.deleted",
    "registered_model.renamed", "run.created", "run.finished", "run.purged",
    "sink.write_failed",
})
EVENT_PREFIXES = ("loop.", "config.")


_NAMESPACES = frozenset(x.split(".", 1)[0] for x in EVENT_TYPES)


def _check_types(t: Trigger, types: list[str]) -> None:
    """Built-in types must be spelled right: a type in a built-in namespace (``alert.``,
    ``model_version.``, ...) must be one of ``EVENT_TYPES``, and a type close to one of them
    is taken for a typo. Other types (``myapp.refreshed``) are custom events that clients
    append through ``POST /api/loopml/v1/events``."""
    import difflib

    from loopml._config import suggest

    for x in types:
        if x in EVENT_TYPES or x.startswith(EVENT_PREFIXES):
            continue
        namespace, dot, _ = x.partition(".")
        if not dot or namespace in _NAMESPACES or difflib.get_close_matches(
                x, EVENT_TYPES, n=1, cutoff=0.8):
            raise InvalidParameterValue(
                f"Trigger {t.name!r}: unknown event type {x!r}{suggest(x, EVENT_TYPES)}. "
                "Built-in types are listed in docs/configuration.md; a custom type needs "
                "its own namespace, e.g. 'myapp.refreshed'.")


def lint_trigger_params(t: Trigger, pipeline: Any) -> dict[str, Any]:
    """Check the trigger's parameters against ``pipeline`` as ``loopml pipeline run``
    would (an ``event`` parameter is filled in when an event fires); returns them
    resolved. Raises ``PipelineLintError`` listing every problem."""
    from loopml.pipelines._lint import lint

    params = dict(t.params)
    if t.kind == "event" and "event" in pipeline.params and "event" not in params:
        params["event"] = {}  # the event, at fire time
    resolved = lint(pipeline, params)
    return {k: v for k, v in resolved.items() if k in t.params}


def validate_trigger(t: Trigger) -> Trigger:
    """Check a trigger before it is stored (cron syntax, known event types, pipeline
    reference form); fill in the first marker."""
    if t.kind == "cron":
        expr = t.spec.get("cron")
        if not isinstance(expr, str) or not cron.is_valid(expr):
            raise InvalidParameterValue(
                f"Trigger {t.name!r}: {expr!r} is not a cron expression; use five fields, "
                "e.g. '*/15 * * * *' (every 15 minutes) or '0 3 * * *' (03:00 UTC daily).")
        marker = t.marker or next_fire(expr, int(time.time() * 1000))
    elif t.kind == "event":
        types = t.spec.get("types")
        if not isinstance(types, list) or not types or not all(isinstance(x, str) for x in types):
            raise InvalidParameterValue(
                f"Trigger {t.name!r}: give the event types to react to, e.g. "
                "['alert.firing'] or ['model_version.created'].")
        _check_types(t, types)
        marker = t.marker
    else:
        raise InvalidParameterValue(f"Trigger kind must be 'cron' or 'event', not {t.kind!r}.")
    if ":" not in t.ref:
        raise InvalidParameterValue(f"Trigger {t.name!r}: pipeline must be module:attr.")
    return Trigger(t.name, t.ref, t.kind, t.spec, t.params, t.executor, marker, t.enabled,
                   t.creation_time)


def _pending(t: Trigger, extra: dict[str, Any],
             asks: tuple[float, float] = (0.0, 0.0)) -> PipelineRun:
    return PipelineRun(uuid.uuid4().hex, t.ref.rsplit(":", 1)[-1], t.ref, dict(t.params),
                       PENDING, t.executor, {"kind": t.kind, "trigger": t.name, **extra},
                       creation_time=int(time.time() * 1000), cpus=asks[0], gpus=asks[1])


class TriggerRunner(Poller):
    """Polls triggers and starts their runs. ``tracking`` is the server's TrackingStore;
    ``runnable`` the pipelines it may start (anything else fails without an import)."""

    def __init__(self, tracking: Any, store: PipelineStore, runnable: PipelineRegistry,
                 interval_s: float = 5.0, proxy_root: str | None = None) -> None:
        self.tracking = tracking
        self.store = store
        self.runnable = runnable
        self.interval_s = interval_s
        self.proxy_root = proxy_root
        super().__init__("triggers")

    # ---- one pass ------------------------------------------------------------------------
    def run_once(self, now_ms: int | None = None) -> list[str]:
        now = now_ms or int(time.time() * 1000)
        fired: list[tuple[str, PipelineRun]] = []
        with use_workspace(ALL_WORKSPACES):  # the runner serves every workspace
            triggers = self.store.list_triggers()
        for t in triggers:
            if not t.enabled:
                continue
            try:
                with use_workspace(t.workspace):  # names are unique per workspace only
                    recs = self._cron(t, now) if t.kind == "cron" else self._events(t)
                fired += [(t.workspace, r) for r in recs]
            except Exception:
                log.exception("trigger %s failed; retrying next pass", t.name)
        for ws, rec in fired:
            with use_workspace(ws):  # the run's tracking runs and cache are its workspace's
                self._start(rec)
        return [r.run_id for _ws, r in fired]

    def _cron(self, t: Trigger, now: int) -> list[PipelineRun]:
        fire, new = cron.step(str(t.spec["cron"]), t.marker, now)
        if not fire:
            return []
        rec = _pending(t, {"scheduled_for": t.marker}, self._asks(t))
        return [rec] if self.store.fire_trigger(t.name, t.marker, new, rec) else []

    def _events(self, t: Trigger) -> list[PipelineRun]:
        """The trigger is an event-log consumer whose cursor is its marker: recording the
        run and moving the marker are one transaction (``fire_trigger``)."""
        out: list[PipelineRun] = []
        pattern = str(t.spec.get("subject") or "*")

        def commit(e: Any, cursor: int) -> bool:
            event = {"seq": e.seq, "type": e.type, "subject": e.subject, "payload": e.payload,
                     "time": e.time}
            rec = _pending(t, {"event": event}, self._asks(t)) \
                if fnmatch.fnmatchcase(e.subject, pattern) else None
            if not self.store.fire_trigger(t.name, cursor, e.seq, rec):
                return False  # another server consumed it; pick up from its cursor next pass
            if rec is not None:
                out.append(rec)
            return True

        consume(self.tracking, t.marker, list(t.spec["types"]), commit)
        return out

    def _asks(self, t: Trigger) -> tuple[float, float]:
        """The CPU cores and GPUs a run of ``t``'s pipeline asks for (counted by the
        workspace's quotas from the moment it is recorded); (0, 0) when the pipeline is not
        one this server may run (its start then fails and says why)."""
        from loopml.pipelines._engine import requested

        try:
            return requested(self.runnable.resolve(t.ref, f"Trigger {t.name!r}: pipeline"))
        except Exception:
            return (0.0, 0.0)

    def _start(self, rec: PipelineRun) -> None:
        from loopml.pipelines._engine import start
        from loopml.pipelines._lint import lint
        from loopml.tracking._client import TrackingClient

        try:
            p = self.runnable.resolve(rec.ref, f"Trigger {rec.trigger.get('trigger')!r}: "
                                      "pipeline")
            params = dict(rec.params)
            if "event" in p.params and "event" in rec.trigger:
                params["event"] = rec.trigger["event"]
            client = TrackingClient(store=self.tracking, proxy_root=self.proxy_root)
            rec = self.store.update_run(rec.run_id, params=lint(p, params))
            start(p, executor=rec.executor, client=client, record=rec)
        except Exception as e:
            log.exception("could not start pipeline run %s", rec.run_id)
            self.store.update_run(rec.run_id, status="FAILED", error=f"Could not start: {e}",
                                  end_time=int(time.time() * 1000))

    def resume_pending(self) -> None:
        """Start PENDING runs left by a crash between recording and starting, when the
        trigger that recorded them still exists for the same pipeline."""
        with use_workspace(ALL_WORKSPACES):  # the runner serves every workspace
            triggers = {(t.workspace, t.name): t for t in self.store.list_triggers()}
            pending = [(r.workspace, r) for r in self.store.list_runs(status=PENDING, limit=1000)]
        for ws, rec in pending:
            t = triggers.get((ws, str(rec.trigger.get("trigger"))))
            if t is not None and t.ref == rec.ref:
                with use_workspace(ws):
                    self._start(rec)

    def before_first_pass(self) -> None:
        try:
            self.resume_pending()
        except Exception:
            log.exception("could not resume pending pipeline runs")
