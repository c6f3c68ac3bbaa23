"""Registries of Python code that rules may call: UDFs (by name in expressions), models
(``predict``) and lookup tables. Code is registered by the application at start-up; a rule
file only names what was registered (never a module to import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_UDFS: dict[str, UDF] = {}


@dataclass(frozen=True)
class UDF:
    """``fn(*arrays) -> array`` (vectorised: one numpy array per argument, one result per
    row); ``kind``: the result type, ``num``, ``str`` or ``bool``."""

    name: str
    fn: Callable[..., Any]
    kind: str = "num"


def register_udf(name: str, fn: Callable[..., Any], kind: str = "num") -> None:
    """Make ``fn`` callable as ``name(...)`` in every rule expression compiled afterwards.
    ``fn`` receives numpy arrays and returns an array of the same length. Raises ValueError
    for a bad name or kind."""
    if not name.isidentifier():
        raise ValueError(f"UDF name {name!r} must be an identifier")
    if kind not in ("num", "str", "bool"):
        raise ValueError(f"UDF kind must be 'num', 'str' or 'bool', got {kind!r}")
    _UDFS[name] = UDF(name, fn, kind)


def unregister_udf(name: str) -> None:
    _UDFS.pop(name, None)


def udfs() -> dict[str, UDF]:
    return dict(_UDFS)


__all__ = ["UDF", "register_udf", "udfs", "unregister_udf"]
