"""The app file of ``loopml stream run APP.yaml`` (docs/streaming_apps.md): where events
come from, which rules run on them, where the outputs go.

Shape::

    version: 1
    app: line3                       # names the consumer group (default) and the metrics
    rules: line3.rules.yaml          # a rule file (YAML, or SiddhiQL .siddhi), relative to this file
    siddhi: {event_time: ts, keys: {sensors: machine}}   # only for a .siddhi file
    group: cep                       # consumer group (default: app)
    sources:                         # one per source of the rules
      sensors:
        url: redis://127.0.0.1:6379/0        # redis | nats | kafka | mqtt | memory
        stream: raw.line3
        format: auto                         # auto | arrow | msgpack | json
        batch: {max_messages: 100, max_wait: 5ms}
        rate_limit: {events_per_s: 200000, burst: 400000}
        max_in_flight: 2                     # batches read and not yet acked
        overflow: block                      # block | shed_oldest | sample
        sample_every: 10
        max_deliveries: 5                    # then the message goes to the dead-letter sink
        claim_idle: 30s                      # take over a dead worker's messages after this
    sinks:                           # one per sink (emit.to) or rule output to keep
      alerts: {kind: redis, url: redis://127.0.0.1:6379/0, stream: alerts.line3}
      plc: {kind: publish, url: mqtt://127.0.0.1:1883, stream: line3/cmd}
      ops: {kind: webhook, url: https://ops.example.com/hook, secret: "${secret:OPS_HOOK}"}
    dead_letter: {kind: redis, url: redis://127.0.0.1:6379/0, stream: raw.line3.dlq}
    metrics: {port: 9108, host: 127.0.0.1}

Unknown keys are errors naming the key and the closest valid one; a sink ``kind`` must be
registered (``loopml.streaming.io.SINK_KINDS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loopml._config import load_file, unknown
from loopml.streaming.io.codec import Format
from loopml.streaming.io.throttle import Overflow
from loopml.streaming.rules import Duration


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchSpec(_M):
    """Messages per read (``max_messages``) and the longest a read waits (``max_wait``)."""

    max_messages: int = Field(100, gt=0, le=100_000)
    max_wait: Duration = 50


class RateLimit(_M):
    """A token bucket: ``events_per_s``, up to ``burst`` at once (default: one second's)."""

    events_per_s: float = Field(gt=0)
    burst: float | None = Field(None, gt=0)


class SourceSpec(_M):
    url: str
    stream: str
    format: Format = "auto"
    batch: BatchSpec = BatchSpec(max_messages=100)
    rate_limit: RateLimit | None = None
    max_in_flight: int = Field(2, ge=1, le=1024)
    overflow: Overflow = "block"
    sample_every: int = Field(10, ge=2)
    max_deliveries: int = Field(5, ge=1)
    claim_idle: Duration = 30_000


class SinkSpec(BaseModel):
    """``kind`` picks the factory (``SINK_KINDS``); the other keys go to it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @field_validator("kind")
    @classmethod
    def _known(cls, v: str) -> str:
        from loopml.streaming.io import SINK_KINDS
        from loopml.streaming.io._base import load_sink_modules

        if v not in SINK_KINDS:
            load_sink_modules()  # e.g. online_store, offline_parquet from loopml.features
        if v not in SINK_KINDS:
            raise unknown("sink kind", v, SINK_KINDS)
        return v

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MetricsSpec(_M):
    port: int = Field(ge=0, le=65535)
    host: str = "127.0.0.1"


class AppFile(_M):
    version: Literal[1] = 1
    app: str = Field(min_length=1)
    rules: str | dict[str, Any]
    group: str | None = None
    sources: dict[str, SourceSpec] = Field(min_length=1)
    sinks: dict[str, SinkSpec] = {}
    dead_letter: SinkSpec | None = None
    metrics: MetricsSpec | None = None
    # For a SiddhiQL rule file: compile_siddhiql's event_time, lateness, keys.
    siddhi: dict[str, Any] = {}

    @property
    def group_name(self) -> str:
        return self.group or self.app


def load_app(path: str | Path) -> tuple[AppFile, Path]:
    """The validated app file and its folder (rule paths are relative to it); raises
    InvalidConfig naming the file and key."""
    return load_file(path, AppFile), Path(path).resolve().parent


__all__ = ["AppFile", "BatchSpec", "MetricsSpec", "RateLimit", "SinkSpec", "SourceSpec", "load_app"]
