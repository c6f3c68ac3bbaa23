"""Closed-loop policies, one per registered model, in YAML or Python:

    model: pm-failure
    deployment: pm                   # the serving deployment whose traffic is at stake
    log_dir: .loopml/inference       # where `loopml serve` writes the inference log
    trigger:
      alerts: ["quality*", "drift*"] # alert rule names (globs); the subject is rule/deployment
      schedule: "0 3 * * 0"          # optional cron (UTC); `loopml loop run MODEL` is manual
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
    gate:
      min: {f1: 0.6}                 # absolute floors on the challenger (holdout)
      min_improvement: 0.01          # challenger - champion on the primary metric
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
    dry_run: false                   # record what would happen; change nothing
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Trigger:
    alerts: list[str] = field(default_factory=list)
    schedule: str | None = None


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


@dataclass(frozen=True)
class Gate:
    min: dict[str, float] = field(default_factory=dict)
    min_improvement: float = 0.0
    require_validation: bool = True
    approval: bool = False


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
            gate=_sub(Gate, d.get("gate"), "gate"), canary=_sub(Canary, d.get("canary"), "canary"),
            dry_run=bool(d.get("dry_run", False)),
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
