"""The Python builder: ``App`` and ``col`` produce the same rule dict as the YAML file
(``App.to_dict()``), so both go through one validation, lint and compiler.

    app = App("line3", lateness="2s")
    s = app.source("sensors", key="machine", event_time="ts",
                   schema={"machine": "str", "temp": "float", "ts": "timestamp[ms]"})
    s.where(col.temp > 95).suppress(per_key="60s").as_("hot")
    plan = app.compile()
"""

from __future__ import annotations

from typing import Any

_ORDER = {"lookup": 0, "where": 1, "window": 2, "count": 2, "sequence": 2, "absent": 2,
          "select": 3, "having": 4, "predict": 5, "suppress": 6}


def _lit(v: Any) -> str:
    return v.text if isinstance(v, Expr) else repr(v)


class Expr:
    """An expression in the rule grammar, built with Python operators (``&``, ``|``, ``~``
    for and/or/not); ``text`` is what the YAML would hold."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _bin(self, op: str, other: Any, rev: bool = False) -> Expr:
        a, b = (_lit(other), self.text) if rev else (self.text, _lit(other))
        return Expr(f"({a} {op} {b})")

    def __gt__(self, o: Any) -> Expr: return self._bin(">", o)  # noqa: E704
    def __ge__(self, o: Any) -> Expr: return self._bin(">=", o)  # noqa: E704
    def __lt__(self, o: Any) -> Expr: return self._bin("<", o)  # noqa: E704
    def __le__(self, o: Any) -> Expr: return self._bin("<=", o)  # noqa: E704
    def __eq__(self, o: Any) -> Expr: return self._bin("==", o)  # type: ignore[override]  # noqa: E704
    def __ne__(self, o: Any) -> Expr: return self._bin("!=", o)  # type: ignore[override]  # noqa: E704
    def __add__(self, o: Any) -> Expr: return self._bin("+", o)  # noqa: E704
    def __radd__(self, o: Any) -> Expr: return self._bin("+", o, True)  # noqa: E704
    def __sub__(self, o: Any) -> Expr: return self._bin("-", o)  # noqa: E704
    def __rsub__(self, o: Any) -> Expr: return self._bin("-", o, True)  # noqa: E704
    def __mul__(self, o: Any) -> Expr: return self._bin("*", o)  # noqa: E704
    def __rmul__(self, o: Any) -> Expr: return self._bin("*", o, True)  # noqa: E704
    def __truediv__(self, o: Any) -> Expr: return self._bin("/", o)  # noqa: E704
    def __and__(self, o: Any) -> Expr: return self._bin("and", o)  # noqa: E704
    def __or__(self, o: Any) -> Expr: return self._bin("or", o)  # noqa: E704
    def __invert__(self) -> Expr: return Expr(f"(not {self.text})")  # noqa: E704
    def __neg__(self) -> Expr: return Expr(f"(-{self.text})")  # noqa: E704
    __hash__ = None  # type: ignore[assignment]

    def isin(self, values: list[Any]) -> Expr:
        return Expr(f"({self.text} in ({', '.join(repr(v) for v in values)},))")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: Expr(f"{name}({', '.join([self.text, *map(_lit, args)])})")

    def __str__(self) -> str:
        return self.text


class _Col:
    """``col.temp`` is the column temp; ``col.count()`` the window count."""

    def __getattr__(self, name: str) -> Expr:
        if name.startswith("_"):
            raise AttributeError(name)
        return Expr(name)

    def count(self) -> Expr:
        return Expr("count()")

    def __call__(self, name: str) -> Expr:
        return Expr(name)


col = _Col()


class Stream:
    """A stream of the app; each chained call adds a stage to a rule reading it, and a
    stage that cannot follow the rule's last one starts a new rule on its output."""

    def __init__(self, app: App, name: str, rule: dict[str, Any] | None = None) -> None:
        self.app, self.name, self._rule = app, name, rule

    def _stage(self, stage: str, value: Any) -> Stream:
        rule = self._rule
        if rule is None or (stage != "emit" and max((_ORDER[k] for k in rule if k in _ORDER), default=-1) >= _ORDER[stage]):
            source = rule.get("as", rule["name"]) if rule is not None else self.name
            rule = {"name": f"r{len(self.app.rules) + 1}", "from": source}
            self.app.rules.append(rule)
        if stage == "emit":
            rule.setdefault("emit", []).append(value)
        else:
            rule[stage] = value
        return Stream(self.app, rule.get("as", rule["name"]), rule)

    def where(self, cond: Expr | str) -> Stream:
        return self._stage("where", str(cond))

    def window(self, **spec: Any) -> Stream:
        return self._stage("window", spec)

    def select(self, **exprs: Expr | str) -> Stream:
        return self._stage("select", {k: str(v) for k, v in exprs.items()})

    def having(self, cond: Expr | str) -> Stream:
        return self._stage("having", str(cond))

    def count(self, at_least: int, within: str | int) -> Stream:
        return self._stage("count", {"at_least": at_least, "within": within})

    def followed_by(self, first: Expr | str | None, then: Expr | str | None, within: str | int,
                    strict: bool = False, every: bool = True) -> Stream:
        steps = [{"where": str(c)} if c is not None else {} for c in (first, then)]
        return self._stage("sequence", {"steps": steps, "within": within, "strict": strict, "every": every})

    def absent(self, for_: str | int, after: Expr | str | None = None, cancel: Expr | str | None = None) -> Stream:
        spec: dict[str, Any] = {"for": for_}
        if after is not None:
            spec["after"] = str(after)
        if cancel is not None:
            spec["cancel"] = str(cancel)
        return self._stage("absent", spec)

    def suppress(self, per_key: str | int) -> Stream:
        return self._stage("suppress", {"per_key": per_key})

    def predict(self, model: str, inputs: list[str], output: str = "prediction",
                proba: str | None = None) -> Stream:
        """Score the rows with ``model``: a name given to ``compile(models=...)`` or
        :meth:`App.model`, or a model URI (``models:/name@champion``)."""
        return self._stage("predict", {"model": model, "inputs": inputs, "output": output,
                                       **({"proba": proba} if proba else {})})

    def lookup(self, table: str, key: str, fields: list[str] | None = None) -> Stream:
        return self._stage("lookup", {"table": table, "key": key, **({"fields": fields} if fields else {})})

    def emit(self, to: str | list[str], **extra: Any) -> Stream:
        return self._stage("emit", {"to": to, **extra})

    def as_(self, name: str) -> Stream:
        """Name this rule's output stream (and the rule)."""
        if self._rule is None:
            raise ValueError("as_() names a rule's output; call it after a stage such as where()")
        self._rule["name"] = self._rule["as"] = name
        return Stream(self.app, name, self._rule)


class App:
    """A rule app built in Python; :meth:`to_dict` is the YAML's content."""

    def __init__(self, name: str, lateness: str | int = 0) -> None:
        self.name, self.lateness = name, lateness
        self.sources: dict[str, dict[str, Any]] = {}
        self.sinks: dict[str, dict[str, Any]] = {}
        self.rules: list[dict[str, Any]] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.inference_log: str | None = None

    def source(self, name: str, uri: str | None = None, *, key: str | None = None, event_time: str,
               schema: dict[str, str]) -> Stream:
        self.sources[name] = {"event_time": event_time, "schema": dict(schema),
                              **({"key": key} if key else {}), **({"from": uri} if uri else {})}
        return Stream(self, name)

    def sink(self, name: str, to: str = "memory", key: list[str] | None = None) -> None:
        self.sinks[name] = {"to": to, **({"key": key} if key else {})}

    def model(self, name: str, uri: str, *, refresh: str | int = "5s", trust: bool = False,
              onnx: bool = True) -> None:
        """Declare the registered model ``uri`` as ``name`` for :meth:`Stream.predict`; an
        alias is resolved again every ``refresh`` (0: before every batch)."""
        self.models[name] = {"uri": uri, "refresh": refresh, "trust": trust, "onnx": onnx}

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "app": self.name, "time": {"lateness": self.lateness},
                "sources": self.sources, "sinks": self.sinks, "rules": self.rules,
                **({"models": self.models} if self.models else {}),
                **({"inference_log": self.inference_log} if self.inference_log else {})}

    def compile(self, **kwargs: Any) -> Any:
        """The :class:`~loopml.streaming.Plan` (``compile_rules(self.to_dict(), **kwargs)``)."""
        from loopml.streaming.plan import compile_rules

        return compile_rules(self.to_dict(), **kwargs)

    def lint(self, **kwargs: Any) -> list[str]:
        """Every problem as text (empty when the app compiles)."""
        from loopml.errors import InvalidConfig

        try:
            self.compile(**kwargs)
        except InvalidConfig as e:
            return str(e).splitlines()[1:]
        return []


__all__ = ["App", "Expr", "Stream", "col"]
