"""Closed-loop policies, one per registered model, in YAML or Python:

    model: pm-failure
    deployment: pm                   # the serving deployment whose traffic is at stake
    log_dir: .loopml/inference       # where `loopml serve` writes the inference log
    trigger:
      alerts: ["quality*", "drift*"] # alert rule names (globs); the subject is rule/deployment
      schedule: "0 3 * * 0"          # optional cron (UTC); `loopml loop run MODEL` is manual
      merge_seconds: 60              # alerts this close to a loop's trigger are merged into it
    retrain:
      pipeline: flows:retrain        # module:attr; its `output_step` returns {"model_uri": ...}
      output_step: register
      params: {trials: 8}            # plus `loop`: {model, champion_version, deployment,
                                     #   log_dir, since_ms, trigger} when it has that parameter
      executor: inprocess
    evaluate:
      holdout: data/holdout.parquet  # same rows for challenger and champion
      label: failure
      metric: f1                     # accuracy | f1 | roc_auc | mae | rmse
      recent_seconds: 3600           # also score both on labelled traffic of this window
      recent_count: 400              # ... at most the newest N labelled requests of it
      labels_deadline_seconds: 120   # wait this long for gate.recent.min_rows labels
      recent_holdout_percent: 30     # that % of traffic is scored, never retrained on
    gate:
      min: {f1: 0.6}                 # absolute floors on the challenger (holdout)
      min_improvement: 0.01          # default improvement on every split not listed below
      recent: {min_improvement: 0.05, min_rows: 100}   # per-split conditions
      holdout: {max_regression: 0.02, min_rows: 200}
      confidence: 0.9                # improvements must hold at the lower bound of this
                                     #   paired-bootstrap interval (null: point estimates)
      allow_ties: false              # an improvement of exactly 0 never promotes unless true
      require_validation: true       # holdout passes the champion's training schema
      approval: false                # true: wait for `loopml approve MODEL`
    canary:
      weight: 20                     # % of traffic to the challenger
      min_requests: 200              # challenger requests before deciding ...
      duration_seconds: 600          # ... or this long, whichever comes first
      max_seconds: 3600              # no decision by then: roll back
      max_error_rate: 0.02
      max_p99_ms: 250
      max_quality_drop: 0.05         # live quality vs the champion on canary traffic
      min_labels: 30                 # labelled canary requests needed for that check
    cooldown_seconds: 600            # alerts this soon after a promotion start no loop
    dry_run: false                   # record what would happen; change nothing
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from loopml.errors import InvalidParameterValue

METRICS = {"accuracy": "max", "f1": "max", "roc_auc": "max", "mae": "min", "rmse": "min"}


def higher_is_better(metric: str) -> bool:
    return METRICS.get(metric) == "max"


def _sub(cls: Any, raw: Any, where: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise InvalidParameterValue(f"Policy {where} must be a mapping, got {raw!r}.")
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidParameterValue(
            f"Unknown key(s) {unknown} in policy {where}; allowed: {sorted(known)}.")
    return cls(**raw)


def _gate(raw: Any) -> Gate:
    g: Gate = _sub(Gate, raw, "gate")
    splits = {k: _sub(SplitRule, getattr(g, k), f"gate.{k}")
              for k in ("holdout", "recent") if getattr(g, k) is not None}
    if g.confidence is not None and not 0 < g.confidence < 1:
        raise InvalidParameterValue(f"Policy gate.confidence must be in (0, 1), got "
                                    f"{g.confidence!r}.")
    return replace(g, **splits) if splits else g


@dataclass(frozen=True)
class Trigger:
    alerts: list[str] = field(default_factory=list)
    schedule: str | None = None
    # Alerts within this many seconds of a loop's trigger belong to the same episode (drift
    # and quality alerts of one shift): merged into that loop, not started again.
    merge_seconds: float = 60.0


@dataclass(frozen=True)
class Retrain:
    pipeline: str = ""
    output_step: str = "register"
    params: dict[str, Any] = field(default_factory=dict)
    executor: str = "inprocess"


@dataclass(frozen=True)
class Evaluate:
    holdout: str | None = None
    label: str = "label"
    metric: str = "accuracy"
    recent_seconds: int | None = 3600
    recent_count: int | None = None  # the newest N labelled requests of that window
    # Labels arrive late: wait up to this long in EVALUATING for gate.recent.min_rows of
    # them (a deadline, so a slow machine waits for data instead of deciding on too little).
    labels_deadline_seconds: float = 0.0
    # A rolling labelled holdout: this % of traffic (by a hash of the request id) is scored
    # as the "recent" split and left out of labelled_traffic(loop) for retraining.
    recent_holdout_percent: int = 0


@dataclass(frozen=True)
class SplitRule:
    """What one evaluation split (``holdout`` or ``recent``) must show. ``min_improvement``
    (challenger minus champion, in the metric's better direction; None: the gate's default)
    and ``max_regression`` (how much worse the challenger may be; None: no limit) are in the
    metric's units. ``min_rows``: fewer labelled rows than this fail the gate."""

    min_improvement: float | None = None
    max_regression: float | None = None
    min_rows: int = 0


@dataclass(frozen=True)
class Gate:
    min: dict[str, float] = field(default_factory=dict)
    min_improvement: float = 0.0  # the default for a split without its own rule
    require_validation: bool = True
    approval: bool = False
    holdout: SplitRule | None = None
    recent: SplitRule | None = None
    confidence: float | None = None  # e.g. 0.9: the bootstrap interval's lower bound counts
    allow_ties: bool = False

    def rule(self, split: str) -> SplitRule:
        """The split's rule; a split without one must improve by ``min_improvement``."""
        r: SplitRule | None = getattr(self, split)
        if r is None:
            return SplitRule(min_improvement=self.min_improvement)
        return r


@dataclass(frozen=True)
class Canary:
    weight: float = 10.0
    min_requests: int = 100
    duration_seconds: float | None = None
    max_seconds: float = 3600.0
    max_error_rate: float = 0.05
    max_p99_ms: float | None = None
    max_quality_drop: float | None = 0.05
    min_labels: int = 30


@dataclass(frozen=True)
class Policy:
    model: str
    deployment: str
    log_dir: str
    trigger: Trigger = field(default_factory=Trigger)
    retrain: Retrain = field(default_factory=Retrain)
    evaluate: Evaluate = field(default_factory=Evaluate)
    gate: Gate = field(default_factory=Gate)
    canary: Canary = field(default_factory=Canary)
    dry_run: bool = False
    champion_alias: str = "champion"
    name: str = ""
    cooldown_seconds: float = 0.0  # after a promotion, alerts for this long start no loop

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.evaluate.metric)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        if not isinstance(d, dict):
            raise InvalidParameterValue(f"A policy must be a mapping, got {d!r}.")
        missing = [k for k in ("model", "deployment", "log_dir") if not d.get(k)]
        if missing:
            raise InvalidParameterValue(f"Policy is missing {missing}; see docs/loop.md.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidParameterValue(
                f"Unknown key(s) {unknown} in the policy for {d['model']!r}; allowed: "
                f"{sorted(known)}.")
        p = cls(
            model=str(d["model"]), deployment=str(d["deployment"]), log_dir=str(d["log_dir"]),
            trigger=_sub(Trigger, d.get("trigger"), "trigger"),
            retrain=_sub(Retrain, d.get("retrain"), "retrain"),
            evaluate=_sub(Evaluate, d.get("evaluate"), "evaluate"),
            gate=_gate(d.get("gate")), canary=_sub(Canary, d.get("canary"), "canary"),
            dry_run=bool(d.get("dry_run", False)),
            cooldown_seconds=float(d.get("cooldown_seconds") or 0.0),
            champion_alias=str(d.get("champion_alias", "champion")),
            name=str(d.get("name") or d["model"]))
        p.check()
        return p

    def check(self) -> None:
        if ":" not in self.retrain.pipeline:
            raise InvalidParameterValue(
                f"Policy {self.name!r}: retrain.pipeline must be module:attr of a @pipeline.")
        if self.evaluate.metric not in METRICS:
            raise InvalidParameterValue(
                f"Policy {self.name!r}: evaluate.metric must be one of {sorted(METRICS)}.")
        for k in self.gate.min:
            if k not in METRICS:
                raise InvalidParameterValue(
                    f"Policy {self.name!r}: gate.min key {k!r} must be one of {sorted(METRICS)}.")
        if not 0 < self.canary.weight < 100:
            raise InvalidParameterValue(
                f"Policy {self.name!r}: canary.weight must be between 0 and 100 (exclusive).")
        if self.trigger.schedule:
            from croniter import croniter

            if not croniter.is_valid(self.trigger.schedule):
                raise InvalidParameterValue(
                    f"Policy {self.name!r}: trigger.schedule {self.trigger.schedule!r} is not "
                    "a cron expression.")


def load_policies(path: str | Path) -> list[Policy]:
    """A YAML file with one policy, a list of them, or ``{policies: [...]}``."""
    raw: Any = yaml.safe_load(Path(path).read_text())
    items = raw.get("policies", [raw]) if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise InvalidParameterValue(f"{path}: expected a policy or a list of policies.")
    policies = [Policy.from_dict(dict(x)) for x in items]
    names = [p.model for p in policies]
    if len(set(names)) != len(names):
        raise InvalidParameterValue(f"{path}: one policy per model; {names} repeats one.")
    return policies
