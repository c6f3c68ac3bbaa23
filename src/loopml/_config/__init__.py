"""The one validation layer for what loopml reads: YAML files (monitor specs, loop
policies, the settings file), CLI flags and API bodies.

Models are pydantic dataclasses made with :func:`config_model` (unknown keys refused,
numbers accepted where text is expected). :func:`validate` and :func:`load_file` turn a
pydantic ``ValidationError`` into one :class:`~loopml.errors.InvalidConfig` whose message
names the source, the key path and what was expected, with the closest valid key or value:

    monitors.yaml: monitors[0].rules[1].metric: unknown metric 'drift.shared_drifted';
    did you mean 'drift.share_drifted'?

Validators raise ``ValueError`` with a message; :func:`unknown` builds the "did you mean"
part for a value outside a known set.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import typing_extensions
import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as _pyd_dataclass

from loopml.errors import InvalidConfig

T = TypeVar("T")

# Unknown keys are errors (a typo must not silently fall back to a default); YAML numbers
# are accepted where text is expected (a deployment named 2024).
CONFIG = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
_MAX_SHOWN = 5  # problems listed in one message; the rest are counted


@typing.overload
def config_model(cls: type[T], *, frozen: bool = False) -> type[T]: ...
@typing.overload
def config_model(cls: None = None, *, frozen: bool = False) -> Callable[[type[T]], type[T]]: ...


@typing.dataclass_transform(field_specifiers=(dataclasses.field,))
def config_model(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """Make ``cls`` a validated dataclass (positional construction still works). Building
    one directly with bad values raises ``InvalidConfig`` (not pydantic's error), so callers
    see one error type whether a spec comes from a file or from code."""

    def wrap(c: type[T]) -> type[T]:
        model = _pyd_dataclass(frozen=frozen, config=CONFIG)(c)
        init = model.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            try:
                init(self, *args, **kwargs)
            except ValidationError as e:
                names = [f.name for f in dataclasses.fields(model)]  # type: ignore[arg-type]
                raise InvalidConfig(format_errors(e, c.__name__, model, positional=names)) from None

        model.__init__ = __init__  # type: ignore[method-assign]
        return typing.cast(type[T], model)

    return wrap if cls is None else wrap(cls)


def unknown(what: str, value: object, choices: Iterable[str]) -> ValueError:
    """``unknown metric 'x'; did you mean 'y'?`` (or the list of valid values)."""
    return ValueError(f"unknown {what} {value!r}{suggest(value, choices)}")


def not_empty(v: str) -> str:
    """A field validator: text keys that name something must not be empty."""
    if not v.strip():
        raise ValueError("must not be empty")
    return v


def suggest(value: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'y'?"`` for the closest of ``choices``, else ``"; expected one of
    [...]"`` (short lists) or ``""``."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    if 0 < len(options) <= 12:
        return f"; expected one of {', '.join(repr(o) for o in options)}"
    return ""


# ---- turning pydantic's errors into one message -------------------------------------------
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def key_path(loc: Iterable[int | str], root: str = "") -> str:
    """``("monitors", 0, "rules", 1, "metric")`` -> ``monitors[0].rules[1].metric``."""
    out = root
    for part in loc:
        if isinstance(part, int) or not _PLAIN_KEY.fullmatch(str(part)):
            out += f"[{part!r}]"  # an index, or a key that would be unreadable after a dot
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _type_at(root: Any, loc: Iterable[int | str]) -> Any:
    """The declared type at ``loc`` under ``root`` (None when it cannot be followed), so
    that an unknown key or a bad choice can be matched against the valid ones."""
    tp = root
    for part in loc:
        tp = _strip_optional(tp)
        if _has_fields(tp) and isinstance(part, str):
            hints = typing.get_type_hints(tp)
            if part not in hints:
                return None
            tp = hints[part]
        elif isinstance(part, int) and typing.get_origin(tp) in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return _strip_optional(tp)


def _has_fields(tp: Any) -> bool:
    return (dataclasses.is_dataclass(tp) or typing_extensions.is_typeddict(tp)
            or (isinstance(tp, type) and issubclass(tp, BaseModel)))


def _keys(tp: Any) -> list[str]:
    return list(typing.get_type_hints(tp)) if _has_fields(tp) else []


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
    "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a mapping",
    "list_type": "a list", "tuple_type": "a list", "dataclass_type": "a mapping",
    "dataclass_args_type": "a mapping", "model_type": "a mapping", "finite_number": "a finite number",
}


def _one(err: Any, root_type: Any, root: str) -> str:
    loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        parent = _type_at(root_type, loc[:-1])
        return f"{key_path(loc, root)}: unknown key{suggest(loc[-1], _keys(parent))}"
    where = key_path(loc, root)
    if kind in ("missing", "missing_argument"):
        return f"{where}: required key is missing"
    if kind == "literal_error":
        choices = [str(a) for a in typing.get_args(_type_at(root_type, loc))]
        return f"{where}: {_shown(value)} is not valid{suggest(value, choices)}"
    if kind == "value_error":
        return f"{where}: {err['msg'].removeprefix('Value error, ')}"
    if kind in _EXPECTED:
        hint = ""
        if kind == "list_type" and isinstance(value, str):
            hint = f" (a single value is written as a list: [{value!r}])"
        return f"{where}: expected {_EXPECTED[kind]}, got {_shown(value)}{hint}"
    return f"{where}: {err['msg'][0].lower()}{err['msg'][1:]} (got {_shown(value)})"


def format_errors(e: ValidationError, source: str, root_type: Any = None, root: str = "",
                  positional: list[str] | None = None) -> str:
    """One line: ``source: path: problem; path: problem`` (the first few, then a count).
    ``positional``: field names, for errors of a dataclass built with positional arguments
    (pydantic reports those by index)."""
    errors = e.errors()
    if positional:
        for err in errors:
            loc = err["loc"]
            if loc and isinstance(loc[0], int) and loc[0] < len(positional):
                err["loc"] = (positional[loc[0]], *loc[1:])
    problems = [_one(err, root_type, root) for err in errors]
    shown = "; ".join(problems[:_MAX_SHOWN])
    more = len(problems) - _MAX_SHOWN
    return f"{source}: {shown}" + (f"; and {more} more problem(s)" if more > 0 else "")


def validate(model: type[T], data: Any, source: str, root: str = "") -> T:
    """``data`` as a ``model`` (a config_model class or any type pydantic knows), or
    ``InvalidConfig`` naming ``source`` and the key path (prefixed with ``root``)."""
    try:
        return TypeAdapter(model).validate_python(data)
    except ValidationError as e:
        raise InvalidConfig(format_errors(e, source, model, root)) from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content, or ``InvalidConfig`` naming the file (missing, unreadable,
    or a syntax error with its line and column)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise InvalidConfig(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidConfig(f"{path}: cannot read it ({e.__class__.__name__}: {e}).") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InvalidConfig(f"{path}: {at}YAML syntax error: {problem}.") from None


def load_file(path: str | Path, model: type[T], root: str = "",
              normalize: Callable[[Any], Any] | None = None) -> T:
    """Read a YAML file and validate it as ``model``; ``normalize`` maps accepted
    alternative layouts onto the model's one layout first."""
    raw = read_yaml(path)
    return validate(model, normalize(raw) if normalize else raw, str(path), root)


__all__ = ["CONFIG", "InvalidConfig", "config_model", "format_errors", "key_path",
           "load_file", "not_empty", "read_yaml", "suggest", "unknown", "validate"]
