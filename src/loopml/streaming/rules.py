"""The rule file: a pydantic model of the canonical YAML (``docs/streaming.md``).

Shape (keys in ``from``/``as``/``for`` spelling; Python attributes carry a trailing ``_``)::

    version: 1
    app: line3
    time: {lateness: 2s}
    sources:
      sensors: {key: machine, event_time: ts,
                schema: {machine: str, temp: float, fail: int, ts: "timestamp[ms]"}}
    sinks:
      alerts: {to: "redis://...", key: [machine, _time]}     # key: idempotence key
    rules:
      - name: overheat
        from: sensors
        where: temp > 95
        select: {machine: machine, temp: temp}
        suppress: {per_key: 60s}
        emit: {to: alerts, severity: warning}

Durations are ``"10s"``, ``"500ms"``, ``"2m"``, ``"1h"``, ``"1d"`` or a number of
milliseconds; they are held as integer milliseconds. A duration of 0 or below is an error.
Validation errors are raised by :func:`loopml._config.validate` as ``InvalidConfig``;
:mod:`loopml.streaming.lint` adds line numbers and the semantic checks.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_UNITS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000,
          "d": 86_400_000}
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|sec|s|min|m|h|d)\s*$")
FIELD_TYPES = ("str", "string", "int", "int32", "int64", "long", "float", "float32", "float64",
               "double", "bool", "timestamp[ms]", "timestamp[us]", "timestamp[ns]",
               "timestamp[s]")


def parse_duration(value: object) -> int:
    """``"10s"`` -> 10000 (milliseconds). Numbers are milliseconds. Raises ValueError for
    anything else or for a duration <= 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '10s' or '500ms', got {value!r}")
    if isinstance(value, int | float):
        ms = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"expected a duration such as '10s', '500ms', '2m', '1h', got {value!r}")
        ms = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as '10s' or '500ms', got {value!r}")
    if ms <= 0 or ms != int(ms):
        raise ValueError(f"a duration must be a positive whole number of milliseconds, got {value!r}")
    return int(ms)


def _lateness(value: object) -> int:
    if value in (0, "0", "0s", "0ms"):
        return 0
    return parse_duration(value)


Duration = Annotated[int, BeforeValidator(parse_duration)]
Lateness = Annotated[int, BeforeValidator(_lateness)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class TimeSpec(_Model):
    """``lateness``: how far behind the largest event time an event may arrive and still
    count; older events go to the ``late`` stream."""

    lateness: Lateness = 0


class Source(_Model):
    """An input stream. ``key``: the partition column (per-key state); ``event_time``: the
    time column (timestamp, or integer milliseconds since the epoch); ``schema``: column ->
    type (one of FIELD_TYPES). ``from``/``format``: where the apps layer reads it (unused by
    the engine)."""

    from_: str | None = Field(None, alias="from")
    format: str | None = None
    key: str | None = None
    event_time: str
    schema_: dict[str, str] = Field(alias="schema")


class Sink(_Model):
    """An output. ``key``: the idempotence key (columns that identify a row, so that a
    replayed batch overwrites instead of duplicating); lint requires it unless the sink is
    ``to: memory`` (the in-process collector)."""

    to: str = "memory"
    key: list[str] | None = None
    qos: int | None = None
    ttl: Duration | None = None
    flush: Duration | None = None


class ModelRef(_Model):
    """A model the ``predict`` stage may name: ``uri`` (``models:/name@alias``,
    ``models:/name/3``, ``runs:/...`` or a folder); ``refresh``: how often an alias is resolved
    again (a promoted version takes over between batches; 0 = before every batch);
    ``trust``: load pickles the registry has not marked trusted; ``onnx``: use the ONNX
    flavor when the model has one."""

    uri: str
    batch: int = 512
    timeout: Duration | None = None
    refresh: int = Field(5_000, ge=0)
    trust: bool = False
    onnx: bool = True

    @field_validator("refresh", mode="before")
    @classmethod
    def _refresh(cls, v: Any) -> Any:
        return 0 if v in (0, "0", "0s", "0ms") else parse_duration(v)


class Window(_Model):
    """Exactly one of ``sliding`` (time, holds (t - W, t]), ``tumbling`` (time, [kW, (k+1)W))
    or ``count`` (the last N events of the key). ``every``: hop (a duration for ``sliding``,
    a number of events for ``count``)."""

    sliding: Duration | None = None
    tumbling: Duration | None = None
    count: int | None = Field(None, gt=0)
    every: int | str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Window:
        kinds = [k for k in ("sliding", "tumbling", "count") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a window needs exactly one of sliding, tumbling or count "
                             f"(got {kinds or 'none'})")
        if self.every is not None and self.tumbling is not None:
            raise ValueError("'every' goes with a sliding or count window (a tumbling window hops by its size)")
        if self.every is not None and self.count is not None:
            if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every <= 0:
                raise ValueError(f"'every' of a count window is a positive number of events, got {self.every!r}")
        elif self.every is not None:
            parse_duration(self.every)
        return self

    @property
    def every_value(self) -> int | None:
        """``every`` in events (count windows) or milliseconds (sliding windows)."""
        if self.every is None or self.count is not None:
            return self.every if isinstance(self.every, int) else None
        return parse_duration(self.every)


class CountSpec(_Model):
    """Fire on every qualifying event when at least ``at_least`` qualifying events of the
    key fall in [t - within, t] (inclusive)."""

    at_least: int = Field(gt=0)
    within: Duration


class Step(_Model):
    """One step of a sequence: events of ``from`` (default: the rule's) matching ``where``;
    ``as``: the alias used in ``select`` (default e1, e2, ...)."""

    from_: str | None = Field(None, alias="from")
    where: str | None = None
    as_: str | None = Field(None, alias="as")


class SequenceSpec(_Model):
    """``steps`` in order, per key, the last no later than ``within`` after the first
    (inclusive). ``strict``: each next event of the key must match the next step.
    ``every``: every first-step event starts a match (Siddhi ``every``)."""

    steps: list[Step] = Field(min_length=2)
    within: Duration
    strict: bool = False
    every: bool = True


class AbsentSpec(_Model):
    """Fire when, after an arming event (``after``, default: any event of the key), no
    cancelling event (``cancel``, default: any event of the key) arrives within ``for``."""

    for_: Duration = Field(alias="for")
    after: str | None = None
    cancel: str | None = None


class SuppressSpec(_Model):
    """A per-key cooldown: an output row of a key is dropped when the previous kept row of
    that key is less than ``per_key`` older."""

    per_key: Duration


class PredictSpec(_Model):
    """Call ``model`` on the rule's rows (columns ``inputs``); its result becomes column(s)
    ``output``. ``model`` is a callable registered with ``compile_rules(models=...)``, a name
    of the app's ``models:`` section, or a model URI (``models:/name@alias``); for a
    registered model, ``proba`` names a column for the probability of the last class
    (the positive one of a binary classifier)."""

    model: str
    inputs: list[str] = Field(min_length=1)
    output: str | list[str] = "prediction"
    proba: str | None = None


class LookupSpec(_Model):
    """Left join against the table registered as ``table`` on column ``key``; ``fields``:
    the columns to add (default all but the key)."""

    table: str
    key: str
    fields: list[str] | None = None


class Emit(_Model):
    """Send the rule's rows to sink(s) ``to``, with constant ``fields`` added (e.g. severity).
    Other keys (``severity: warning``) are constant columns too."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    to: str | list[str]
    fields: list[str] | None = None
    payload: dict[str, Any] | None = None


class Rule(_Model):
    """One rule: ``from`` a source or another rule's output, then in this order: ``lookup``,
    ``where``, ``window``/``count``/``sequence``/``absent`` (at most one), ``select``,
    ``having``, ``predict``, ``suppress``; rows go to the stream ``as`` (default: ``name``)
    and to ``emit`` sinks."""

    name: str
    from_: str = Field(alias="from")
    where: str | None = None
    partition_by: str | None = None
    group_by: list[str] | None = None
    window: Window | None = None
    select: dict[str, str] | list[str] | None = None
    having: str | None = None
    count: CountSpec | None = None
    sequence: SequenceSpec | None = None
    absent: AbsentSpec | None = None
    suppress: SuppressSpec | None = None
    predict: PredictSpec | None = None
    lookup: LookupSpec | None = None
    as_: str | None = Field(None, alias="as")
    emit: Emit | list[Emit] | None = None

    @model_validator(mode="after")
    def _one_pattern(self) -> Rule:
        kinds = [k for k in ("window", "count", "sequence", "absent") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"a rule takes at most one of window, count, sequence, absent (got {kinds}); "
                             "chain two rules with 'as' instead")
        return self

    @property
    def output(self) -> str:
        return self.as_ or self.name

    @property
    def emits(self) -> list[Emit]:
        if self.emit is None:
            return []
        return list(self.emit) if isinstance(self.emit, list) else [self.emit]


class RuleApp(_Model):
    """The whole rule file."""

    version: Literal[1] = 1
    app: str = "app"
    time: TimeSpec = TimeSpec()
    sources: dict[str, Source]
    sinks: dict[str, Sink] = {}
    models: dict[str, ModelRef] = {}
    inference_log: str | None = None  # folder or s3:// URI: every predict batch is logged there
    rules: list[Rule] = Field(min_length=1)


__all__ = ["AbsentSpec", "CountSpec", "Duration", "Emit", "FIELD_TYPES", "LookupSpec",
           "ModelRef", "PredictSpec", "Rule", "RuleApp", "SequenceSpec", "Sink", "Source",
           "Step", "SuppressSpec", "TimeSpec", "Window", "parse_duration"]
