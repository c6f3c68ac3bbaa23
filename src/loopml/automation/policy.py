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
      min_new_labels: 150            # wait for this many labelled requests since the trigger
      labels_deadline_seconds: 600   # ... at most this long, then retrain anyway
    evaluate:
      holdout: data/holdout.parquet  # same rows for challenger and champion
      label: failure
      metric: f1                     # accuracy | f1 | roc_auc | mae | rmse
      recent_seconds: 3600           # also score both on labelled traffic of this window
      recent_count: 400              # ... at most the newest N labelled requests of it
      recent_holdout_percent: 30     # that % of traffic is scored, never retrained on
      labels_deadline_seconds: 120   # wait this long for gate.recent.min_rows labels
      recent_from_trigger: false     # true: only traffic served after the trigger counts
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

from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator, model_validator

from loopml._config import config_model, load_file, not_empty, unknown, validate
from loopml.errors import InvalidConfig

METRICS = {"accuracy": "max", "f1": "max", "roc_auc": "max", "mae": "min", "rmse": "min"}
Metric = Literal["accuracy", "f1", "roc_auc", "mae", "rmse"]


def higher_is_better(metric: str) -> bool:
    return METRICS.get(metric) == "max"


def _cron(v: str | None) -> str | None:
    from croniter import croniter

    if v is not None and not croniter.is_valid(v):
        raise ValueError(f"{v!r} is not a cron expression; use five fields, e.g. '0 3 * * 0'")
    return v


@config_model(frozen=True)
class Trigger:
    """What starts a loop besides ``loopml loop run``: alert rule names (globs, always a
    list) and a cron schedule (UTC)."""

    alerts: list[str] = field(default_factory=list)
    schedule: str | None = None
    # Alerts within this many seconds of a loop's trigger belong to the same episode (drift
    # and quality alerts of one shift): merged into that loop, not started again.
    merge_seconds: float = 60.0

    _schedule = field_validator("schedule")(_cron)


@config_model(frozen=True)
class Retrain:
    """The pipeline (``module:attr``) that trains the challenger; ``output_step`` returns
    ``{"model_uri": ...}``."""

    pipeline: str
    output_step: str = "register"
    params: dict[str, Any] = field(default_factory=dict)
    executor: str = "inprocess"
    # Wait (up to labels_deadline_seconds) for this many labelled requests served after the
    # trigger before retraining, so a challenger learns from the new regime, however slowly
    # labels arrive.
    min_new_labels: int = 0
    labels_deadline_seconds: float = 600.0

    @field_validator("pipeline")
    @classmethod
    def _ref(cls, v: str) -> str:
        module, sep, attr = v.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"{v!r} is not module:attr of a @pipeline, e.g. flows:retrain")
        return v

    @field_validator("executor")
    @classmethod
    def _executor(cls, v: str) -> str:
        from loopml.errors import LoopmlError
        from loopml.pipelines.executors import parse_spec

        try:
            parse_spec(v)
        except LoopmlError as e:
            raise ValueError(e.message) from None
        return v


@config_model(frozen=True)
class Evaluate:
    """How challenger and champion are scored: a holdout file and/or recent labelled
    traffic, on one primary ``metric``."""

    holdout: str | None = None
    label: str = "label"
    metric: Metric = "accuracy"
    recent_seconds: int | None = 3600
    recent_count: int | None = None  # the newest N labelled requests of that window
    # Labels arrive late: wait up to this long in EVALUATING for gate.recent.min_rows of
    # them (a deadline, so a slow machine waits for data instead of deciding on too little).
    labels_deadline_seconds: float = 0.0
    # A rolling labelled holdout: this % of traffic (by a hash of the request id) is scored
    # as the "recent" split and left out of labelled_traffic(loop) for retraining.
    recent_holdout_percent: int = 0
    # Score the recent split only on traffic served after the loop was triggered (surely
    # after the shift that raised the alert); with gate.recent.min_rows and
    # labels_deadline_seconds the loop waits for those labels.
    recent_from_trigger: bool = False


@config_model(frozen=True)
class SplitRule:
    """What one evaluation split (``holdout`` or ``recent``) must show. ``min_improvement``
    (challenger minus champion, in the metric's better direction; None: the gate's default)
    and ``max_regression`` (how much worse the challenger may be; None: no limit) are in the
    metric's units. ``min_rows``: fewer labelled rows than this fail the gate."""

    min_improvement: float | None = None
    max_regression: float | None = None
    min_rows: int = 0


@config_model(frozen=True)
class Gate:
    """What a challenger must pass before its canary."""

    min: dict[str, float] = field(default_factory=dict)
    min_improvement: float = 0.0  # the default for a split without its own rule
    require_validation: bool = True
    approval: bool = False
    holdout: SplitRule | None = None
    recent: SplitRule | None = None
    confidence: float | None = None  # e.g. 0.9: the bootstrap interval's lower bound counts
    allow_ties: bool = False

    @field_validator("confidence")
    @classmethod
    def _confidence(cls, v: float | None) -> float | None:
        if v is not None and not 0 < v < 1:
            raise ValueError(f"must be in (0, 1), got {v:g}")
        return v

    def rule(self, split: str) -> SplitRule:
        """The split's rule; a split without one must improve by ``min_improvement``."""
        r: SplitRule | None = getattr(self, split)
        if r is None:
            return SplitRule(min_improvement=self.min_improvement)
        return r

    @field_validator("min")
    @classmethod
    def _metrics(cls, v: dict[str, float]) -> dict[str, float]:
        for k in v:
            if k not in METRICS:
                raise unknown("metric", k, METRICS)
        return v


@config_model(frozen=True)
class Canary:
    """The challenger's share of traffic and the guardrails that end the canary."""

    weight: float = 10.0
    min_requests: int = 100
    duration_seconds: float | None = None
    max_seconds: float = 3600.0
    max_error_rate: float = 0.05
    max_p99_ms: float | None = None
    max_quality_drop: float | None = 0.05
    min_labels: int = 30

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        if not 0 < v < 100:
            raise ValueError(f"must be between 0 and 100 (exclusive), got {v:g}")
        return v


@config_model(frozen=True)
class Policy:
    """One model's closed loop (the YAML layout is in this module's docstring)."""

    model: str
    deployment: str
    log_dir: str
    retrain: Retrain
    trigger: Trigger = field(default_factory=Trigger)
    evaluate: Evaluate = field(default_factory=Evaluate)
    gate: Gate = field(default_factory=Gate)
    canary: Canary = field(default_factory=Canary)
    dry_run: bool = False
    champion_alias: str = "champion"
    name: str = ""
    cooldown_seconds: float = 0.0  # after a promotion, alerts for this long start no loop

    _named_keys = field_validator("model", "deployment", "log_dir")(not_empty)

    @model_validator(mode="after")
    def _named(self) -> Policy:
        if not self.name:
            object.__setattr__(self, "name", self.model)  # frozen: set once, here
        return self

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.evaluate.metric)

    @classmethod
    def from_dict(cls, d: Any, source: str = "policy") -> Policy:
        """Validate one policy mapping; ``InvalidConfig`` names the key path otherwise."""
        return validate(cls, d, source)


@config_model
class PoliciesFile:
    """A policies file after its layout is normalised: ``{policies: [...]}``, one per model."""

    policies: list[Policy]

    @model_validator(mode="after")
    def _one_per_model(self) -> PoliciesFile:
        names = [p.model for p in self.policies]
        if not names:
            raise ValueError("no policies; give one policy or a list of them")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"one policy per model; {dup} has several")
        return self


def _layout(raw: Any) -> Any:
    """One policy, a list of them, or ``{policies: [...]}``, as ``{policies: [...]}``."""
    if isinstance(raw, list):
        return {"policies": raw}
    if isinstance(raw, dict) and "policies" not in raw:
        return {"policies": [raw]}
    return raw


def load_policies(path: str | Path) -> list[Policy]:
    """A YAML file with one policy, a list of them, or ``{policies: [...]}``, validated
    (``InvalidConfig`` naming the file and key path otherwise)."""
    return load_file(path, PoliciesFile, normalize=_layout).policies


def check_pipelines(policies: list[Policy], source: str) -> None:
    """Refuse policies whose retrain pipeline cannot be loaded here, has no
    ``output_step``, or is given parameters it does not declare; run where the loop runs
    (``loopml loop ...``, ``loopml controller``, ``loopml server --policies``)."""
    from loopml._config import suggest
    from loopml.errors import LoopmlError
    from loopml.pipelines._refs import load_pipeline

    for i, pol in enumerate(policies):
        where = f"{source}: policies[{i}].retrain"
        try:
            p = load_pipeline(pol.retrain.pipeline)
        except LoopmlError as e:
            raise InvalidConfig(f"{where}.pipeline: {e.message}") from None
        except Exception as e:  # the module itself fails to import: its error, one line
            raise InvalidConfig(f"{where}.pipeline: importing {pol.retrain.pipeline!r} "
                                f"failed: {type(e).__name__}: {e}") from None
        if pol.retrain.output_step not in p.nodes:
            raise InvalidConfig(f"{where}.output_step: {p.name} has no step "
                                f"{pol.retrain.output_step!r}{suggest(pol.retrain.output_step, p.nodes)}")
        for k in pol.retrain.params:
            if k not in p.params:
                raise InvalidConfig(f"{where}.params.{k}: {p.name} has no parameter {k!r}"
                                    f"{suggest(k, p.params)}")
