"""Lint of a rule file before anything runs: the schema (pydantic), then streams, fields,
types, bounded state, cycles and sinks. Every problem carries the YAML line (kept by
composing the file with line marks) and a fix. ``loopml stream lint`` exits 2 on any."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from loopml._config import key_path
from loopml.errors import InvalidConfig
from loopml.streaming._compile import Problem, StreamInfo
from loopml.streaming.rules import FIELD_TYPES, RuleApp

Lines = dict[tuple[int | str, ...], int]


@dataclass(frozen=True)
class LintProblem:
    """One problem: ``line`` (1-based; 0 when unknown), ``path`` (``rules[2].where``),
    ``message`` and ``fix``."""

    line: int
    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        at = f"line {self.line}: " if self.line else ""
        return f"{at}{self.path}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")


def _walk(node: yaml.Node, path: tuple[int | str, ...], out: Lines) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[(*path, key)] = k.start_mark.line + 1
            _walk(v, (*path, key), out)
            out[(*path, key)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _walk(v, (*path, i), out)


def read_with_lines(path: str | Path) -> tuple[Any, Lines]:
    """The YAML file's data and a map key path -> line. Raises InvalidConfig for a missing
    file or a syntax error (with its line and column)."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidConfig(f"{path}: cannot read it ({e.__class__.__name__}: {e}).") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise InvalidConfig(f"{path}: {at}YAML syntax error: {getattr(e, 'problem', None) or e}.") from None
    lines: Lines = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def line_of(lines: Lines, path: tuple[int | str, ...]) -> int:
    """The line of ``path`` or of its nearest ancestor in the file (0 when unknown)."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return 0


def load_app(spec: Mapping[str, Any] | str | Path) -> tuple[RuleApp | list[LintProblem], str, Lines]:
    """(the validated app, or its schema problems), the source name and the line map."""
    lines: Lines = {}
    if isinstance(spec, str | Path):
        source = str(spec)
        data, lines = read_with_lines(spec)
    else:
        source, data = "rules", spec
    if not isinstance(data, Mapping):
        return [LintProblem(1, "(top level)", "a rule file is a mapping with sources and rules",
                            "start from the example in docs/streaming.md")], source, lines
    try:
        return RuleApp.model_validate(data), source, lines
    except ValidationError as e:
        return [_schema_problem(err, lines) for err in e.errors()], source, lines


_FIX = {
    "missing": "add the key",
    "extra_forbidden": "remove the key or fix its spelling",
}


def _schema_problem(err: Any, lines: Lines) -> LintProblem:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))  # drop union tags
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {loc[-1]!r}"
    return LintProblem(line_of(lines, loc), key_path(loc), msg, _FIX.get(err["type"], "see docs/streaming.md"))


def lint(problems: list[Problem], lines: Lines) -> list[LintProblem]:
    """Compile problems with their lines, in file order."""
    out = [LintProblem(line_of(lines, p.path), key_path(p.path), p.message, p.fix) for p in problems]
    return sorted(out, key=lambda p: p.line)


def semantic_problems(app: RuleApp, streams: Mapping[str, StreamInfo]) -> list[Problem]:
    """Checks beyond one rule: source schemas, sinks and their idempotence keys, unbounded
    state (a keyed operator on a stream with no key is one global key: allowed; a sequence
    or absence without a key is flagged as unbounded)."""
    probs: list[Problem] = []
    for name, s in app.sources.items():
        for col, t in s.schema_.items():
            if t not in FIELD_TYPES:
                probs.append(Problem(("sources", name, "schema", col), f"unknown type {t!r}",
                                     f"use one of {', '.join(FIELD_TYPES)}"))
        if s.event_time not in s.schema_:
            probs.append(Problem(("sources", name, "event_time"), f"event_time {s.event_time!r} is not in the schema",
                                 f"add {s.event_time}: timestamp[ms] to the schema"))
        if s.key is not None and s.key not in s.schema_:
            probs.append(Problem(("sources", name, "key"), f"key {s.key!r} is not in the schema",
                                 "add it to the schema or fix its spelling"))
    for name, sink in app.sinks.items():
        if sink.to != "memory" and not sink.key:
            probs.append(Problem(("sinks", name), f"sink {name!r} has no idempotence key, so a replayed batch "
                                 "would duplicate rows", "add key: [<key column>, _time]"))
        if name in streams:
            probs.append(Problem(("sinks", name), f"sink {name!r} has the name of a stream", "rename the sink"))
    for i, r in enumerate(app.rules):
        for j, e in enumerate(r.emits):
            for to in [e.to] if isinstance(e.to, str) else e.to:
                if to not in app.sinks:
                    path: tuple[int | str, ...] = ("rules", i, "emit") if not isinstance(r.emit, list) else ("rules", i, "emit", j)
                    probs.append(Problem((*path, "to"), f"unknown sink {to!r}",
                                         f"declare it under sinks: (known: {sorted(app.sinks)})"))
            out = streams.get(r.output)
            if e.fields and out is not None:
                for f in e.fields:
                    if f not in out.fields and f != "_time":
                        probs.append(Problem(("rules", i, "emit", "fields"), f"unknown field {f!r} in emit",
                                             f"use one of {sorted(out.fields)}"))
        if (r.sequence or r.absent) and not (r.partition_by or (r.from_ in streams and streams[r.from_].key)):
            probs.append(Problem(("rules", i, "from"), f"rule {r.name!r}: a pattern over a stream without a key "
                                 "keeps one partial match list for all events (unbounded fan-in)",
                                 "set key on the source or partition_by on the rule"))
    return probs


__all__ = ["LintProblem", "lint", "line_of", "load_app", "read_with_lines", "semantic_problems"]
