"""The executable plan of a rule file: streams, watermarks, rules in dependency order, and
the output collectors. See :mod:`loopml.streaming` for the output row format."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa

from loopml.errors import InvalidConfig
from loopml.streaming._compile import Context, Problem, RuleExec, StreamInfo
from loopml.streaming.batch import TIME, Batch, ingest
from loopml.streaming.rules import RuleApp
from loopml.streaming.scalar import FALLBACK, ScalarRule, ingest_row, row_batch, row_spec

LATE, DEAD_LETTER = "late", "dead_letter"


class _Gate:
    """Event-time gate of one stream: watermark = max event time seen - lateness; an event
    older than the watermark at its arrival is late."""

    def __init__(self, lateness: int) -> None:
        self.lateness = lateness
        self.max_t = np.iinfo(np.int64).min // 2

    @property
    def watermark(self) -> int:
        return int(self.max_t - self.lateness)

    def split(self, b: Batch) -> tuple[Batch, Batch | None]:
        """(on-time rows sorted by event time (ties keep arrival order), late rows)."""
        if b.n == 0:
            return b, None
        t = b.time
        running = np.maximum.accumulate(t)
        if t[0] >= self.max_t and np.array_equal(running, t):  # in order: nothing late or to sort
            self.max_t = int(t[-1])
            return b, None
        running = np.maximum(running, self.max_t)
        late = t < running - self.lateness
        self.max_t = int(running[-1])
        late_b = None
        if late.any():
            late_b = b.take(late)
            b = b.take(~late)
        if b.n > 1 and (np.diff(b.time) < 0).any():
            b = b.take(np.argsort(b.time, kind="stable"))
        return b, late_b


class Plan:
    """A compiled rule app. ``run_batches``/``replay`` return ``{stream: pyarrow.Table}``
    for every rule output, sink, ``late`` and ``dead_letter`` that got rows."""

    def __init__(self, app: RuleApp, rules: list[RuleExec], streams: dict[str, StreamInfo],
                 log_writer: Any = None, own_log: bool = False) -> None:
        self.app, self.rules, self.streams = app, rules, streams
        self.log_writer, self._own_log = log_writer, own_log
        self.gates = {name: _Gate(app.time.lateness) for name in streams}
        self.subscribers: dict[str, list[RuleExec]] = defaultdict(list)
        for r in rules:
            for s in r.inputs:
                self.subscribers[s].append(r)
        self._out: dict[str, list[pa.Table | Batch]] = defaultdict(list)
        self._scalar = {id(r): ScalarRule(r) for r in rules}  # the per-event path of each rule
        self._row_specs = {n: row_spec(s.schema_, s.event_time) for n, s in app.sources.items()}

    # ---- running ----------------------------------------------------------------------------
    def push(self, source: str, data: Any) -> None:
        """Process one batch of ``source`` (a pyarrow Table/RecordBatch, a dict of arrays or
        a list of row dicts); outputs accumulate until :meth:`collect`. Raises KeyError for
        an unknown source (a programming error, not bad data)."""
        spec = self.app.sources.get(source)
        if spec is None:
            raise KeyError(f"unknown source {source!r}; sources: {sorted(self.app.sources)}")
        if type(data) is list and len(data) == 1 and isinstance(data[0], dict):
            row = ingest_row(self._row_specs[source], spec.event_time, data[0])
            if row is not None:  # else the batch path words the dead letter
                self._stream_one(source, row)
                return
        b, dead = ingest(source, spec.schema_, spec.event_time, data)
        if dead:
            self._out[DEAD_LETTER].append(pa.Table.from_pylist(dead))
        self._stream(source, b)

    def _stream(self, stream: str, b: Batch) -> None:
        b, late = self.gates[stream].split(b)
        if late is not None:
            cols = [c for c in late.cols if c != TIME]
            events = [json.dumps(r, default=str) for r in late.to_arrow(cols).to_pylist()]
            self._out[LATE].append(pa.table({"stream": [stream] * late.n, "_time": late.time, "event": events}))
        wm = self.gates[stream].watermark
        for rule in self.subscribers.get(stream, []):
            try:
                out = rule.process(stream, b, wm)
            except Exception as e:  # a UDF or model that fails on these rows: never stop the engine
                self._dead(stream, b, f"rule {rule.name!r} failed: {type(e).__name__}: {e}")
                continue
            if out is None:
                continue
            self._emit(rule, out)

    def _stream_one(self, stream: str, row: dict[str, Any]) -> None:
        """One on-time row through the per-event path (:mod:`loopml.streaming.scalar`); the
        same outputs and state as :meth:`_stream` on a one-row batch."""
        g = self.gates[stream]
        t = row[TIME]
        if t < max(g.max_t, t) - g.lateness:
            self._stream(stream, row_batch(row))  # late: the batch path records it
            return
        g.max_t = max(g.max_t, t)
        wm = g.watermark
        b1: Batch | None = None
        for rule in self.subscribers.get(stream, []):
            try:
                out = self._scalar[id(rule)].process(row, wm)
                if out is FALLBACK:
                    b1 = b1 or row_batch(row)
                    out = rule.process(stream, b1, wm)
            except Exception as e:  # as in _stream: a failing UDF makes dead letters
                self._dead(stream, b1 or row_batch(row), f"rule {rule.name!r} failed: {type(e).__name__}: {e}")
                continue
            if isinstance(out, Batch):
                self._emit(rule, out)

    def _dead(self, stream: str, b: Batch, reason: str) -> None:
        cols = [c for c in b.cols if c != TIME]
        events = [json.dumps(r, default=str) for r in b.to_arrow(cols).to_pylist()] if b.n else []
        self._out[DEAD_LETTER].append(pa.table({"source": [stream] * b.n, "reason": [reason] * b.n,
                                                "event": events}))

    def _emit(self, rule: RuleExec, out: Batch) -> None:
        names = [c for c in out.cols if c != TIME] + [TIME]
        out = Batch({c: out.cols[c] for c in names}, out.n)
        self._out[rule.output].append(out)  # converted to Arrow once, in collect()
        emits = rule.rule.emits
        table = out.to_arrow(names) if emits else None
        for e in emits:
            assert table is not None
            t = table.select(e.fields + [TIME]) if e.fields else table
            extra = {k: v for k, v in (e.model_extra or {}).items()}
            for k, v in extra.items():
                t = t.append_column(k, pa.array([v] * t.num_rows))
            if e.payload:
                rows = t.to_pylist()
                payload = [json.dumps({k: (_fill(v, {"rule": rule.name, **r}) if isinstance(v, str) else v)
                                       for k, v in e.payload.items()}, default=str) for r in rows]
                t = t.append_column("payload", pa.array(payload))
            for sink in [e.to] if isinstance(e.to, str) else e.to:
                self._out[sink].append(t)
        if rule.output in self.streams and self.subscribers.get(rule.output):
            self._stream(rule.output, out)

    def advance(self, stream: str, time_ms: int) -> None:
        """Move ``stream``'s event time to ``time_ms`` without an event (a heartbeat), so
        that absence timers and windows close."""
        g = self.gates[stream]
        g.max_t = max(g.max_t, int(time_ms))
        for rule in self.subscribers.get(stream, []):
            out = rule.timers(g.watermark)
            if out is not None and out.n:
                self._emit(rule, out)

    def collect(self) -> dict[str, pa.Table]:
        """The rows produced since the last call, one table per stream/sink."""
        out: dict[str, pa.Table] = {}
        for k, parts in self._out.items():
            if not parts:
                continue
            if all(isinstance(p, Batch) for p in parts):
                out[k] = Batch.concat(parts).to_arrow()  # type: ignore[arg-type]
            else:
                tables = [p.to_arrow() if isinstance(p, Batch) else p for p in parts]
                out[k] = pa.concat_tables(tables, promote_options="permissive")
        self._out.clear()
        return out

    def run_batches(self, batches: Iterable[tuple[str, Any]]) -> dict[str, pa.Table]:
        """Push every ``(source_name, batch)`` in order and return :meth:`collect`."""
        for source, data in batches:
            self.push(source, data)
        return self.collect()

    def replay(self, source: str, table: pa.Table | str | Path, batch_size: int = 65536) -> dict[str, pa.Table]:
        """Run the plan over a table (or a Parquet/CSV file) of ``source``, in batches of
        ``batch_size`` rows, in file order (backtesting). Results do not depend on the batch
        size (late detection is per event, windows and patterns per key); large batches only
        amortise the per-batch cost."""
        if not isinstance(table, pa.Table):
            table = read_table(table)
        for b in table.to_batches(max_chunksize=batch_size):
            self.push(source, b)
        return self.collect()

    @property
    def models(self) -> dict[str, Any]:
        """{rule name: its :class:`~loopml.streaming.predict.StreamModel`} for the rules whose
        ``predict`` calls a registered model (``.version``, ``.swaps``, ``.batches``)."""
        return {r.name: r.stream_model for r in self.rules if getattr(r, "stream_model", None) is not None}

    def close(self) -> None:
        """Flush and close the inference-log writer the plan opened (from ``inference_log``
        given as a URI); a writer passed in by the caller stays the caller's to close."""
        if self.log_writer is not None:
            if self._own_log:
                self.log_writer.close()
            else:
                self.log_writer.flush()

    # ---- state -------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """All state (watermarks, per-key windows and partial matches) as bytes (msgpack;
        numpy arrays as dtype + raw bytes, nothing pickled)."""
        state = {"gates": {k: g.max_t for k, g in self.gates.items()},
                 "rules": {r.name: r.snapshot() for r in self.rules}}
        return msgpack.packb(state, default=_pack, use_bin_type=True)  # type: ignore[no-any-return]

    def restore(self, data: bytes) -> None:
        """Load a :meth:`snapshot` of a plan compiled from the same rules."""
        state = msgpack.unpackb(data, object_hook=_unpack, raw=False, strict_map_key=False)
        for k, v in state["gates"].items():
            if k in self.gates:
                self.gates[k].max_t = int(v)
        by_name = {r.name: r for r in self.rules}
        for name, s in state["rules"].items():
            if name in by_name:
                by_name[name].restore(s)

    def explain(self) -> str:
        """The plan as text: streams with keys and columns, then each rule's operators."""
        lines = [f"app {self.app.app} (lateness {self.app.time.lateness} ms)"]
        for name, info in self.streams.items():
            cols = ", ".join(f"{k}:{v}" for k, v in info.fields.items())
            lines.append(f"stream {name} key={info.key} [{cols}]")
        for r in self.rules:
            steps = []
            rr = r.rule
            if rr.lookup:
                steps.append(f"lookup({rr.lookup.table} on {rr.lookup.key})")
            if rr.where:
                steps.append(f"filter({rr.where})")
            if rr.window:
                steps.append(f"window({rr.window.model_dump(exclude_none=True)} by {r.groups})")
            if rr.count:
                steps.append(f"count(>={rr.count.at_least} within {rr.count.within} ms by {r.key})")
            if rr.sequence:
                steps.append(f"sequence({len(rr.sequence.steps)} steps within {rr.sequence.within} ms, "
                             f"strict={rr.sequence.strict}, every={rr.sequence.every})")
            if rr.absent:
                steps.append(f"absent(for {rr.absent.for_} ms by {r.key})")
            if rr.select:
                steps.append(f"select({', '.join(r.select) or rr.select})")
            if rr.having:
                steps.append(f"having({rr.having})")
            if rr.predict:
                steps.append(f"predict({rr.predict.model})")
            if rr.suppress:
                steps.append(f"suppress({rr.suppress.per_key} ms per key)")
            sinks = [s for e in rr.emits for s in ([e.to] if isinstance(e.to, str) else e.to)]
            lines.append(f"rule {r.name}: {rr.from_} -> " + " -> ".join(steps or ["pass"])
                         + f" -> {r.output}" + (f" => {sinks}" if sinks else ""))
        return "\n".join(lines)


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(template: str, row: Mapping[str, Any]) -> str:
    """``"stop {machine}"`` with the row's values. Only plain ``{name}`` is replaced (never
    ``str.format``, whose ``{x.attr}`` and ``{x[i]}`` would reach into objects); unknown
    names stay as written."""
    return _FIELD.sub(lambda m: str(row[m.group(1)]) if m.group(1) in row else m.group(0), template)


def _pack(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            return {"__list__": obj.tolist()}
        return {"__nd__": obj.dtype.str, "b": obj.tobytes()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot snapshot {type(obj).__name__}")


def _unpack(obj: dict[str, Any]) -> Any:
    if "__nd__" in obj:
        return np.frombuffer(obj["b"], dtype=np.dtype(obj["__nd__"])).copy()
    if "__list__" in obj:
        arr = np.empty(len(obj["__list__"]), dtype=object)
        arr[:] = obj["__list__"]
        return arr
    return obj


def read_table(path: str | Path) -> pa.Table:
    """A Parquet (``.parquet``/``.pq``) or CSV file as an Arrow table."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.read_table(p)
    import pyarrow.csv as pcsv

    return pcsv.read_csv(p)


def build_plan(app: RuleApp, models: Mapping[str, Callable[..., Any]] | None = None,
               tables: Mapping[str, Any] | None = None, udfs: Mapping[str, Any] | None = None,
               problems: list[Problem] | None = None, inference_log: Any = None) -> Plan | None:
    """Compile ``app``; problems go to ``problems`` (None is returned when there are any).
    ``inference_log``: an ``InferenceLogWriter`` or a folder/``s3://`` URI (default: the app's
    ``inference_log`` key) where registered models log every scored batch."""
    from loopml.streaming.lint import semantic_problems
    from loopml.streaming.predict import ModelResolver

    probs = problems if problems is not None else []
    writer, own = _log_writer(inference_log if inference_log is not None else app.inference_log, app)
    ctx = Context(udfs=udfs or {}, models=models or {}, tables=tables or {},
                  resolver=ModelResolver(app.models, writer, app.app))
    streams = {name: StreamInfo({k: v for k, v in s.schema_.items()}, s.key) for name, s in app.sources.items()}
    execs: list[RuleExec] = []
    writers: dict[str, str] = {}  # stream -> the first rule that wrote it
    for i, rule in _ordered(app, probs):
        ex = RuleExec(rule, i, streams, ctx, probs)
        execs.append(ex)
        if rule.output in app.sources:
            probs.append(Problem(("rules", i, "as"), f"rule {rule.name!r} writes to the source {rule.output!r}",
                                 "give the rule's output another name with 'as'"))
        else:
            before = streams.get(rule.output) if writers.get(rule.output) else None
            if before is not None and before.fields != ex.out_info.fields:
                probs.append(Problem(
                    ("rules", i, "as"),
                    f"rule {rule.name!r} writes stream {rule.output!r} with columns "
                    f"{sorted(ex.out_info.fields)}, but {writers[rule.output]!r} writes it with "
                    f"{sorted(before.fields)}: rules reading it would see one schema",
                    "select the same columns (and types) in every rule writing the stream, or "
                    "give this rule's output another name with 'as'"))
            streams[rule.output] = ex.out_info
            writers.setdefault(rule.output, rule.name)
    probs.extend(semantic_problems(app, streams))
    probs.extend(_duplicate_names(app))
    if probs:
        if own and writer is not None:
            writer.close()
        return None
    return Plan(app, execs, streams, writer, own)


def _log_writer(spec: Any, app: RuleApp) -> tuple[Any, bool]:
    """(the inference-log writer, whether the plan opened it). Only apps that call a
    registered model need one; a plain callable's outputs are the caller's own."""
    if spec is None or not isinstance(spec, str | Path):
        return spec, False
    uses_registry = any(r.predict is not None for r in app.rules)
    if not uses_registry:
        return None, False
    from loopml.inference_log import InferenceLogWriter

    return InferenceLogWriter(str(spec)), True


def _duplicate_names(app: RuleApp) -> list[Problem]:
    """A rule name used twice: snapshots key rule state by name, so one rule's state would
    be lost (or restored into the other)."""
    seen: set[str] = set()
    out: list[Problem] = []
    for i, rule in enumerate(app.rules):
        if rule.name in seen:
            out.append(Problem(("rules", i, "name"), f"rule name {rule.name!r} is used twice",
                               "give each rule its own name (use 'as' to write the same stream)"))
        seen.add(rule.name)
    return out


def _ordered(app: RuleApp, problems: list[Problem]) -> list[tuple[int, Any]]:
    """Rules in dependency order (a rule after the rules whose output it reads); a cycle is
    a problem naming the rules on it."""
    produced: dict[str, set[int]] = {}  # a stream may have several writers: read after all
    for i, r in enumerate(app.rules):
        produced.setdefault(r.output, set()).add(i)
    deps = {i: {w for s in _reads(r) if s in produced and s not in app.sources
                for w in produced[s]} for i, r in enumerate(app.rules)}
    done: list[int] = []
    state: dict[int, int] = {}

    def visit(i: int, path: list[int]) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1:
            cycle = path[path.index(i):] + [i]
            problems.append(Problem(("rules", i, "from"), "rules form a cycle: "
                                    + " -> ".join(app.rules[j].name for j in cycle),
                                    "break the cycle: a rule must not read its own output, directly or not"))
            return
        state[i] = 1
        for d in sorted(deps[i]):
            visit(d, [*path, i])
        state[i] = 2
        done.append(i)

    for i in range(len(app.rules)):
        visit(i, [])
    return [(i, app.rules[i]) for i in done]


def _reads(rule: Any) -> list[str]:
    out = [rule.from_]
    if rule.sequence is not None:
        out += [s.from_ for s in rule.sequence.steps if s.from_]
    return out


def compile_rules(spec: Mapping[str, Any] | str | Path | RuleApp | Any, *,
                  models: Mapping[str, Callable[..., Any]] | None = None,
                  tables: Mapping[str, Any] | None = None,
                  udfs: Mapping[str, Any] | None = None,
                  inference_log: Any = None) -> Plan:
    """A :class:`Plan` from a rule file path, its parsed dict, a :class:`RuleApp` or a
    builder :class:`~loopml.streaming.App`. Raises ``InvalidConfig`` listing every problem
    (with the line, for a file) and its fix; a ``predict.model`` URI that does not resolve,
    or inputs that do not fit the model's signature, are such problems.

    ``models``: callables by name; ``inference_log``: an ``InferenceLogWriter`` or a
    folder/``s3://`` URI for registered models' predictions (default: the file's
    ``inference_log``; call :meth:`Plan.close` at the end to flush it)."""
    from loopml.streaming.lint import lint, load_app

    if hasattr(spec, "to_dict") and not isinstance(spec, Mapping):
        spec = spec.to_dict()
    if isinstance(spec, RuleApp):
        app, source, lines = spec, "rules", dict[tuple[int | str, ...], int]()
    else:
        app_or_problems, source, lines = load_app(spec)
        if not isinstance(app_or_problems, RuleApp):
            schema_problems = app_or_problems
            partial = _partial_app(spec, lines)
            if partial is not None:  # lint the rules that did validate too: every problem at once
                app, keep = partial
                more: list[Problem] = []
                build_plan(app, models, tables, udfs, more, inference_log)
                for p in more:
                    if p.path[:1] == ("rules",) and len(p.path) > 1 and isinstance(p.path[1], int):
                        p.path = ("rules", keep[p.path[1]], *p.path[2:])
                schema_problems = sorted([*schema_problems, *lint(more, lines)], key=lambda p: p.line)
            raise InvalidConfig(_message(source, schema_problems))
        app = app_or_problems
    problems: list[Problem] = []
    plan = build_plan(app, models, tables, udfs, problems, inference_log)
    if plan is None:
        raise InvalidConfig(_message(source, lint(problems, lines)))
    return plan


def _partial_app(spec: Any, lines: Any) -> tuple[RuleApp, list[int]] | None:
    """The app with only the rules that validate alone (and their original indices), or
    None when the rest of the file does not validate either."""
    from pydantic import ValidationError

    from loopml.streaming.lint import read_with_lines
    from loopml.streaming.rules import Rule

    data = read_with_lines(spec)[0] if isinstance(spec, str | Path) else spec
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        return None
    keep: list[int] = []
    for i, r in enumerate(data["rules"]):
        try:
            Rule.model_validate(r)
            keep.append(i)
        except ValidationError:
            pass
    if not keep:
        return None
    try:
        app = RuleApp.model_validate({**data, "rules": [data["rules"][i] for i in keep]})
    except ValidationError:
        return None
    return app, keep


def _message(source: str, problems: list[Any]) -> str:
    return f"{source}: {len(problems)} problem(s):\n" + "\n".join(f"  {p}" for p in problems)


__all__ = ["DEAD_LETTER", "LATE", "Plan", "build_plan", "compile_rules", "read_table"]
