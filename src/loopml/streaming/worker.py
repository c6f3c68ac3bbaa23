"""A stream worker: sources -> rules -> sinks, at least once in and idempotent out
(docs/streaming_apps.md).

Per source, a reader thread reads a batch of messages, decodes them (malformed ones become
dead letters with the reason), waits on the source's rate limit (token bucket) and queues
the batch in a bounded in-flight queue (overflow policy: block | shed_oldest | sample).
The main loop takes a batch, pushes its events through the plan (one push when the
messages are Arrow tables of one schema), gives every output row its idempotence key
``_key`` (the sink's ``key`` columns in the rule file, e.g. ``[machine, _time]``; all
columns for a rule output without one), writes every sink (``Sink.write`` returns once
durable; sinks drop rows whose key they have seen), and only then acks the batch. A crash
between write and ack replays the batch: the same rows with the same keys, which the sinks
drop, whatever the batch boundaries of the replay.

Workers of an app share one consumer group: run more processes to scale. A dead worker's
unacked messages are taken over by the others after ``claim_idle`` (Redis ``XAUTOCLAIM``,
JetStream ack-wait, Kafka rebalance).

Event time after a takeover: the messages a worker takes over are older than the ones it
has already seen, so the rules' ``time.lateness`` must cover ``claim_idle`` plus a batch,
or their events go to the ``late`` stream (counted in ``loopml_stream_late_total``).

Limits: rule state (windows, patterns) lives in the worker; after a takeover, a window
restarts from the replayed messages. Stateless rules (filters, projections, model scores)
are exactly reproduced; keyed state across several workers needs the events of a key to
reach one worker (a stream per key range).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from loopml._config import suggest
from loopml.errors import InvalidConfig
from loopml.streaming.appfile import AppFile, SinkSpec, SourceSpec
from loopml.streaming.io import (
    KEY,
    SINK_KINDS,
    BrokerFull,
    BrokerUnavailable,
    Message,
    Sink,
    Source,
    codec,
)
from loopml.streaming.io.memory import MemoryBroker
from loopml.streaming.io.registry import open_source
from loopml.streaming.io.throttle import InFlight, TokenBucket
from loopml.streaming.metrics import StreamMetrics
from loopml.streaming.plan import DEAD_LETTER, LATE, Plan, compile_rules

log = logging.getLogger("loopml.stream")
_MAX_EVENT_TEXT = 65_536  # bytes of a malformed message kept in its dead letter


@dataclass
class _Item:
    source: str
    msgs: list[Message]
    events: list[Any]  # decoded events per message, or None when it went to the dead letters
    n: int
    t_read: float = field(default_factory=time.perf_counter)
    dead: list[dict[str, Any]] = field(default_factory=list)


def default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _keyed(t: pa.Table, columns: list[str] | None) -> pa.Table:
    """``t`` with ``_key``: its ``columns`` (default: all) as text joined with ``|``."""
    import pyarrow.compute as pc

    names = [c for c in (columns or []) if c in t.column_names] or t.column_names
    try:
        parts = [pc.fill_null(pc.cast(t.column(c), pa.string()), "\u2205") for c in names]
        key = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|")
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # nested types: JSON text instead
        import orjson

        key = pa.array([orjson.dumps(r, default=str).decode() for r in t.select(names).to_pylist()], pa.string())
    return t.append_column(KEY, key)


def _warm_up() -> None:
    """Pay one-time lazy imports before the first event: pyarrow imports pandas on the
    first string column made into numpy (seconds on a loaded machine), which would
    otherwise stall the first batch and every event queued behind it."""
    import pyarrow.compute  # noqa: F401  (used by _keyed)

    pa.chunked_array([["warm"]]).to_numpy(zero_copy_only=False)


class StreamWorker:
    """Runs ``app`` (an :class:`~loopml.streaming.appfile.AppFile`). ``consumer``: this
    worker's name in the group (default host-pid; keep it across restarts to re-read its own
    pending messages first). ``brokers``: MemoryBrokers for ``memory://`` URLs by name
    (``memory://NAME``). ``sinks``: ready Sink objects by name (override the file's).
    ``models``/``tables``/``udfs``: as for :func:`compile_rules`."""

    def __init__(self, app: AppFile, base_dir: str | Path = ".", *, consumer: str | None = None,
                 brokers: Mapping[str, MemoryBroker] | None = None, sinks: Mapping[str, Sink] | None = None,
                 models: Mapping[str, Callable[..., Any]] | None = None, tables: Mapping[str, Any] | None = None,
                 metrics: StreamMetrics | None = None) -> None:
        self.app, self.consumer = app, consumer or default_consumer()
        self.brokers = dict(brokers or {})
        rules: Any = app.rules
        if isinstance(rules, str):
            rules = Path(base_dir) / rules
            if rules.suffix == ".siddhi":
                from loopml.streaming.siddhiql import compile_siddhiql

                self.plan: Plan = compile_siddhiql(rules.read_text(), models=models, **app.siddhi)
            else:
                self.plan = compile_rules(rules, models=models, tables=tables)
        else:
            self.plan = compile_rules(rules, models=models, tables=tables)
        self._check_bindings()
        self.metrics = metrics or StreamMetrics(app.app)
        self.sinks: dict[str, Sink] = dict(sinks or {})
        for name, spec in app.sinks.items():
            if name not in self.sinks:
                self.sinks[name] = self._sink(name, spec)
        self.dead_letter: Sink | None = self._dead_letter_sink()
        # The idempotence key of each sink: its ``key`` in the rule file (all columns if none).
        self._keys = {n: list(s.key) for n, s in self.plan.app.sinks.items() if s.key}
        self.sources: dict[str, Source] = {}
        self.queues: dict[str, InFlight[_Item]] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.batches = 0

    # ---- setup ------------------------------------------------------------------------------
    def _check_bindings(self) -> None:
        rule_sources = set(self.plan.app.sources)
        for name in self.app.sources:
            if name not in rule_sources:
                raise InvalidConfig(f"sources.{name}: the rules have no source {name!r}"
                                    f"{suggest(name, rule_sources)}")
        missing = sorted(rule_sources - set(self.app.sources))
        if missing:
            raise InvalidConfig(f"sources: the rules read {missing}, which the app file does not bind; "
                                f"add sources.{missing[0]}: {{url: ..., stream: ...}}")
        outputs = set(self.plan.app.sinks) | {r.output for r in self.plan.app.rules} | {LATE}
        for name in self.app.sinks:
            if name not in outputs:
                raise InvalidConfig(f"sinks.{name}: no rule emits to or outputs {name!r}"
                                    f"{suggest(name, outputs)}")
        unbound = sorted(n for n, s in self.plan.app.sinks.items() if s.to != "memory" and n not in self.app.sinks)
        if unbound:
            raise InvalidConfig(f"sinks: the rules emit to {unbound}, which the app file does not bind; "
                                f"add sinks.{unbound[0]}: {{kind: ...}} (kinds: {sorted(SINK_KINDS)})")

    def _sink(self, name: str, spec: SinkSpec) -> Sink:
        opts = spec.options()
        if spec.kind == "publish" and str(opts.get("url", "")).startswith("memory://"):
            opts["memory"] = self._memory(str(opts["url"]))
        return SINK_KINDS[spec.kind](name, opts)

    def _dead_letter_sink(self) -> Sink | None:
        spec = self.app.dead_letter
        if spec is not None:
            return self._sink("dead_letter", spec)
        first = next(iter(self.app.sources.values()))
        if first.url.startswith("redis"):
            return SINK_KINDS["redis"]("dead_letter", {"url": first.url, "stream": f"{first.stream}.dlq"})
        return SINK_KINDS["memory"]("dead_letter", {})

    def _memory(self, url: str) -> MemoryBroker:
        name = url.removeprefix("memory://").split("/")[0] or "default"
        if name not in self.brokers:
            raise InvalidConfig(f"{url}: no in-process broker {name!r} was given (brokers={{...}}); "
                                f"known: {sorted(self.brokers)}")
        return self.brokers[name]

    def start(self) -> None:
        """Join the consumer group(s) and start the reader threads. Raises BrokerUnavailable
        (after retries), GroupOwned, InvalidConfig."""
        _warm_up()
        for name, spec in self.app.sources.items():
            memory = self._memory(spec.url) if spec.url.startswith("memory://") else None
            src = open_source(spec.url, spec.stream, self.app.group_name, self.consumer, app=self.app.app,
                              claim_idle_ms=spec.claim_idle, name=name, memory=memory)
            self.sources[name] = src
            self.queues[name] = InFlight(spec.max_in_flight, spec.overflow, spec.sample_every,
                                         on_drop=self._dropper(name))
            t = threading.Thread(target=self._reader, args=(name, spec), name=f"loopml-read-{name}", daemon=True)
            self._threads.append(t)
        if self.app.metrics is not None:
            port = self.metrics.serve(self.app.metrics.port, self.app.metrics.host)
            log.info("metrics on http://%s:%d/metrics", self.app.metrics.host, port)
        for t in self._threads:
            t.start()

    # ---- reading ----------------------------------------------------------------------------
    def _dropper(self, name: str) -> Callable[[_Item, str], None]:
        def drop(item: _Item, reason: str) -> None:
            self.sources[name].ack(item.msgs)  # shed on purpose: it must not come back
            self.metrics.dropped.labels(self.app.app, name, reason).inc(item.n)

        return drop

    def _reader(self, name: str, spec: SourceSpec) -> None:
        src, q = self.sources[name], self.queues[name]
        bucket = TokenBucket(spec.rate_limit.events_per_s, spec.rate_limit.burst) if spec.rate_limit else None
        wait_s, backoff, next_lag = spec.batch.max_wait / 1000, 0.1, 0.0
        claimed = 0
        while not self._stop.is_set():
            if spec.overflow == "block" and not q.wait_room(0.5):
                continue  # events wait in the broker; the next read takes them all at once
            try:
                msgs = src.read(spec.batch.max_messages, wait_s)
                backoff = 0.1
            except BrokerUnavailable as e:  # retry with backoff, never a busy loop
                log.warning("%s: %s; retrying in %.1f s", name, e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            now = time.monotonic()
            if now >= next_lag:
                self._export_lag(name, src)
                next_lag = now + 1.0
            new_claims = getattr(src, "claimed", 0)
            if new_claims != claimed:
                self.metrics.claimed.labels(self.app.app, name).inc(new_claims - claimed)
                claimed = new_claims
            if not msgs:
                continue
            item = self._decode(name, spec, msgs)
            self.metrics.events_in.labels(self.app.app, name).inc(item.n)
            if bucket is not None:
                bucket.take(item.n)
            while not q.put(item, timeout_s=0.5):
                if self._stop.is_set() or q.closed:
                    return
            self.metrics.in_flight.labels(self.app.app, name).set(len(q))

    def _export_lag(self, name: str, src: Source) -> None:
        try:
            lag = src.lag()
        except Exception as e:  # lag is informative; never stop reading for it
            log.debug("%s: lag unavailable: %s", name, e)
            return
        if lag is not None:
            self.metrics.lag.labels(self.app.app, name).set(lag)

    def _decode(self, name: str, spec: SourceSpec, msgs: list[Message]) -> _Item:
        events: list[Any] = []
        item = _Item(name, msgs, events, 0)
        for m in msgs:
            reason = None
            if m.deliveries > spec.max_deliveries:
                reason = f"delivered {m.deliveries} times without an ack (max_deliveries {spec.max_deliveries})"
            else:
                try:
                    ev = codec.decode(m.payload, spec.format)
                    events.append(ev)
                    item.n += codec.count(ev)
                    continue
                except codec.DecodeError as e:
                    reason = str(e)
            events.append(None)
            item.dead.append({"source": name, "offset": m.id, "reason": reason,
                              "event": m.payload[:_MAX_EVENT_TEXT].decode("utf-8", "replace")})
        return item

    # ---- processing -------------------------------------------------------------------------
    def step(self, timeout_s: float = 0.1) -> int:
        """Process at most one queued batch per source; the number of events processed."""
        done = 0
        per = timeout_s / max(1, len(self.queues))
        for name, q in self.queues.items():
            item = q.get(per)
            if item is not None:
                self._process(item)
                self.metrics.in_flight.labels(self.app.app, name).set(len(q))
                done += item.n
        return done

    def _process(self, item: _Item) -> None:
        out: dict[str, list[pa.Table]] = defaultdict(list)
        dead: list[pa.Table] = []
        if item.dead:
            dead.append(pa.Table.from_pylist(item.dead))
            self.metrics.dead_letter.labels(self.app.app, item.source).inc(len(item.dead))
        good = [e for e in item.events if e is not None]
        if good and all(isinstance(e, pa.Table) for e in good) and len({e.schema for e in good}) == 1:
            self.plan.push(item.source, pa.concat_tables(good) if len(good) > 1 else good[0])
        else:
            for e in good:
                self.plan.push(item.source, e)
        for stream, t in self.plan.collect().items():
            self.metrics.rows_out.labels(self.app.app, stream).inc(t.num_rows)
            if stream == LATE:
                self.metrics.late.labels(self.app.app).inc(t.num_rows)
            if stream == DEAD_LETTER:
                self.metrics.dead_letter.labels(self.app.app, item.source).inc(t.num_rows)
                dead.append(t)
            elif stream in self.sinks:
                out[stream].append(t)
        offsets = {item.source: item.msgs[-1].id}
        for stream, parts in out.items():
            t = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")
            self._write(self.sinks[stream], _keyed(t, self._keys.get(stream)), offsets, item.source)
        if dead and self.dead_letter is not None:
            t = pa.concat_tables(dead, promote_options="permissive")
            self._write(self.dead_letter, _keyed(t, None), offsets, item.source)
        self.sources[item.source].ack(item.msgs)  # only now: every output above is durable
        self.batches += 1
        self.metrics.batch_seconds.labels(self.app.app).observe(time.perf_counter() - item.t_read)

    def _write(self, sink: Sink, table: pa.Table, offsets: Mapping[str, str], source: str) -> None:
        """Write until durable, retrying with backoff; a full broker (Redis OOM) under an
        overflow policy other than ``block`` sheds the rows (counted)."""
        backoff = 0.05
        policy = self.app.sources[source].overflow
        while True:
            try:
                sink.write(table, offsets)
                return
            except BrokerFull as e:
                if policy != "block":
                    self.metrics.dropped.labels(self.app.app, source, "broker_full").inc(table.num_rows)
                    log.warning("sink %s: %s; shed %d rows (overflow %s)", sink.name, e, table.num_rows, policy)
                    return
                log.warning("sink %s: %s; retrying in %.2f s (overflow block)", sink.name, e, backoff)
            except BrokerUnavailable as e:
                log.warning("sink %s: %s; retrying in %.2f s", sink.name, e, backoff)
            if self._stop.wait(backoff):
                raise BrokerUnavailable(f"stopped while sink {sink.name!r} was failing: the batch stays unacked")
            backoff = min(backoff * 2, 5.0)

    # ---- running ----------------------------------------------------------------------------
    def run(self, max_seconds: float | None = None, until: Callable[[], bool] | None = None) -> None:
        """Start (if needed) and process until :meth:`stop`, ``max_seconds`` or ``until()``."""
        if not self.sources:
            self.start()
        end = time.monotonic() + max_seconds if max_seconds is not None else None
        while not self._stop.is_set():
            self.step(0.05)
            if end is not None and time.monotonic() >= end:
                break
            if until is not None and until():
                break

    def request_stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop reading; queued unacked batches come back on restart (or to the others)."""
        self._stop.set()
        for q in self.queues.values():
            q.close()
        for t in self._threads:
            t.join(timeout=5)

    def close(self) -> None:
        self.stop()
        for s in self.sources.values():
            s.close()
        for k in list(self.sinks.values()) + ([self.dead_letter] if self.dead_letter else []):
            k.flush()
            k.close()


__all__ = ["StreamWorker", "default_consumer"]
