"""Metric charts of the run and compare pages on a chosen x axis: the step (default), the
wall-clock time of each point (UTC clock times on the ticks) or the seconds since the run
started; and the run's lifecycle filter shared by the experiments and runs tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from loopml.entities import ViewType
from loopml.errors import InvalidParameterValue

__all__ = ["VIEWS", "X_AXES", "chart_kwargs", "points", "view_type", "x_axis", "x_format"]

X_AXES = {"step": "step", "time": "time (UTC)", "relative": "seconds since start"}
VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}


def x_axis(q: dict[str, str]) -> str:
    """The ``x`` query parameter, checked. Raises InvalidParameterValue naming the choices."""
    x = q.get("x") or "step"
    if x not in X_AXES:
        raise InvalidParameterValue(f"The 'x' parameter must be one of {list(X_AXES)}. Got {x!r}.")
    return x


def view_type(q: dict[str, str]) -> ViewType:
    """The ``view`` query parameter (active | deleted | all), checked."""
    v = q.get("view") or "active"
    if v not in VIEWS:
        raise InvalidParameterValue(f"The 'view' parameter must be one of {list(VIEWS)}. Got {v!r}.")
    return VIEWS[v]


def points(metrics: Sequence[Any], axis: str, start_ms: int | None) -> list[tuple[float, float]]:
    """(x, value) pairs of metric points for ``axis``."""
    if axis == "step":
        return [(m.step, m.value) for m in metrics]
    if axis == "time":
        return [(m.timestamp, m.value) for m in metrics]
    origin = start_ms or min((m.timestamp for m in metrics), default=0)
    return [((m.timestamp - origin) / 1000.0, m.value) for m in metrics]


def x_format(axis: str, xs: Sequence[float]) -> Callable[[float], str] | None:
    """Tick labels: clock times for ``time`` (with the date when the points span days)."""
    if axis != "time" or not xs:
        return None
    pattern = "%m-%d %H:%M" if max(xs) - min(xs) > 86_400_000 else "%H:%M:%S"
    return lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime(pattern)


def chart_kwargs(axis: str, series: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> dict[str, Any]:
    xs = [x for _, pts in series for x, _ in pts]
    return {"x_label": X_AXES[axis], "x_format": x_format(axis, xs)}
