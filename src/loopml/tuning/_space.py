"""Search spaces: ``{"lr": loguniform(1e-4, 1e-1), "depth": randint(2, 10),
"kind": choice(["gbdt", "dart"])}``, turned into Optuna distributions.

Shorthands: a list is a choice; a ``(low, high)`` tuple of ints is ``randint``, of floats is
``uniform``. Optuna distribution objects are accepted as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna.distributions as od

from loopml.errors import InvalidParameterValue


def uniform(low: float, high: float, step: float | None = None) -> od.FloatDistribution:
    return _float(low, high, False, step)


def loguniform(low: float, high: float) -> od.FloatDistribution:
    if low <= 0:
        raise InvalidParameterValue(
            f"loguniform({low}, {high}): low must be > 0; use uniform() for ranges that "
            "include 0.")
    return _float(low, high, True, None)


def randint(low: int, high: int, step: int = 1, log: bool = False) -> od.IntDistribution:
    """Integers from ``low`` to ``high``, both included."""
    if not (isinstance(low, int) and isinstance(high, int)) or low > high:
        raise InvalidParameterValue(
            f"randint({low!r}, {high!r}): give integers with low <= high.")
    return od.IntDistribution(low, high, log=log, step=step)


def choice(options: Sequence[Any]) -> od.CategoricalDistribution:
    if not options:
        raise InvalidParameterValue("choice([]) has nothing to choose from.")
    return od.CategoricalDistribution(list(options))


def _float(low: float, high: float, log: bool, step: float | None) -> od.FloatDistribution:
    if low >= high:
        raise InvalidParameterValue(f"Range ({low}, {high}) is empty: low must be < high.")
    return od.FloatDistribution(float(low), float(high), log=log, step=step)


def to_distributions(space: Mapping[str, Any]) -> dict[str, od.BaseDistribution]:
    if not isinstance(space, Mapping) or not space:
        raise InvalidParameterValue(
            "The search space must be a non-empty dict {name: distribution}, e.g. "
            "{'lr': loguniform(1e-4, 1e-1), 'depth': randint(2, 10)}.")
    out: dict[str, od.BaseDistribution] = {}
    for name, d in space.items():
        if isinstance(d, od.BaseDistribution):
            out[name] = d
        elif isinstance(d, list):
            out[name] = choice(d)
        elif isinstance(d, tuple) and len(d) == 2 and all(isinstance(x, int) for x in d):
            out[name] = randint(d[0], d[1])
        elif isinstance(d, tuple) and len(d) == 2 and all(isinstance(x, int | float) for x in d):
            out[name] = uniform(d[0], d[1])
        else:
            raise InvalidParameterValue(
                f"Search space entry {name!r} = {d!r} is not a distribution: use uniform(), "
                "loguniform(), randint(), choice(), a list or a (low, high) tuple.")
    return out


def grid_of(dists: Mapping[str, od.BaseDistribution]) -> dict[str, list[Any]]:
    """The grid sampler's search space: every dimension must be enumerable."""
    grid: dict[str, list[Any]] = {}
    for name, d in dists.items():
        if isinstance(d, od.CategoricalDistribution):
            grid[name] = list(d.choices)
        elif isinstance(d, od.IntDistribution) and not d.log:
            grid[name] = list(range(d.low, d.high + 1, d.step))
        elif isinstance(d, od.FloatDistribution) and d.step:
            n = round((d.high - d.low) / d.step)
            grid[name] = [d.low + i * d.step for i in range(n + 1)]
        else:
            raise InvalidParameterValue(
                f"sampler='grid' needs enumerable dimensions; {name!r} is continuous. Use "
                "choice(), randint() or uniform(low, high, step=...).")
    return grid
