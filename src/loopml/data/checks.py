"""Test suites over data with pass/fail conditions, for a CI gate
(``loopml data check --suite suite.yaml DATA``, exit 1 when a check fails).

    reference: train.parquet          # optional: needed by drift and new-category checks
    checks:
      - {metric: row_count, ge: 1000}
      - {metric: missing_rate, column: age, le: 0.05}
      - {metric: drift_share, lt: 0.3}
      - {metric: column_drifted, column: income, eq: 0}
      - {metric: new_category_share, column: country, le: 0.01}
      - {metric: min, column: age, ge: 0}

Each check names a metric (per column where the metric needs one) and one or more bounds
(``lt``, ``le``, ``gt``, ``ge``, ``eq``); it passes when every bound holds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import model_validator

from loopml._config import config_model, load_file
from loopml.data.profile import CategoricalProfile, NumericProfile, Profile

__all__ = ["Check", "CheckResult", "Suite", "load_suite", "run_suite"]

Metric = Literal["row_count", "missing_rate", "drift_share", "column_drifted",
                 "drift_statistic", "new_category_share", "min", "max", "mean"]
_COLUMN = {"missing_rate", "column_drifted", "drift_statistic", "new_category_share", "min",
           "max", "mean"}
_REFERENCE = {"drift_share", "column_drifted", "drift_statistic", "new_category_share"}


@config_model
class Check:
    """One condition of a suite: ``metric`` (of ``column`` when the metric is per column)
    compared with bounds ``lt``/``le``/``gt``/``ge``/``eq``, all of which must hold. At least
    one bound, all finite; ``name`` labels it in the report. Raises (as ``InvalidConfig``
    through ``load_suite``) when the shape is wrong."""

    metric: Metric
    column: str | None = None
    name: str | None = None
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    eq: float | None = None

    @model_validator(mode="after")
    def _shape(self) -> Check:
        if self.metric in _COLUMN and not self.column:
            raise ValueError(f"metric {self.metric!r} needs a 'column'")
        bounds = [getattr(self, b) for b in ("lt", "le", "gt", "ge", "eq")]
        if all(b is None for b in bounds):
            raise ValueError("give at least one bound: lt, le, gt, ge or eq")
        if any(b is not None and not math.isfinite(b) for b in bounds):
            raise ValueError("bounds must be finite numbers (a NaN bound never holds)")
        return self

    @property
    def label(self) -> str:
        return self.name or f"{self.metric}" + (f"({self.column})" if self.column else "")


@config_model
class Suite:
    """A ``loopml data check --suite`` file: ``checks`` (at least one) and, for drift
    metrics, the ``reference`` data URI and the ``drift_test`` to use."""

    checks: list[Check]
    reference: str | None = None
    drift_test: str | None = None

    @model_validator(mode="after")
    def _some(self) -> Suite:
        if not self.checks:  # an empty suite would pass every data set: a gate that never shuts
            raise ValueError("a suite needs at least one check under 'checks:'")
        return self


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: its label, the measured ``value`` (None when it could not be
    measured, e.g. a missing column), ``passed`` and a one-line ``message``."""

    check: str
    value: float | None
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_suite(path: str) -> Suite:
    """The suite in YAML file ``path``; InvalidConfig naming the key path on a mistake."""
    return load_file(path, Suite)


def _value(c: Check, cur: Profile, ref: Profile | None, drift: Any) -> float | None:
    if c.metric == "row_count":
        return float(cur.rows)
    if c.metric == "drift_share":
        return float(drift.share_drifted)
    col = cur.columns.get(c.column or "")
    if col is None:
        return None
    if c.metric == "missing_rate":
        return col.missing_rate
    if c.metric in ("column_drifted", "drift_statistic"):
        try:
            d = drift.column(c.column)
        except (KeyError, StopIteration, ValueError):
            return None
        return float(d.drifted) if c.metric == "column_drifted" else d.statistic
    if c.metric == "new_category_share":
        rp = ref.columns.get(c.column or "") if ref else None
        if isinstance(col, CategoricalProfile) and isinstance(rp, CategoricalProfile):
            return col.unseen_share(rp)
        return None
    if isinstance(col, NumericProfile):
        return {"min": col.min, "max": col.max, "mean": col.mean}[c.metric]
    return None


def _holds(c: Check, v: float) -> bool:
    return ((c.lt is None or v < c.lt) and (c.le is None or v <= c.le)
            and (c.gt is None or v > c.gt) and (c.ge is None or v >= c.ge)
            and (c.eq is None or v == c.eq))


def run_suite(suite: Suite, current: Any, reference: Any = None) -> list[CheckResult]:
    """Evaluate every check on ``current`` (a table, path, URI or Profile); ``reference``
    overrides the suite's. A check whose value cannot be computed (unknown column, no
    reference) fails and says why."""
    from loopml.data.drift import detect_drift
    from loopml.data.profile import profile

    cur = current if isinstance(current, Profile) else profile(current)
    ref_src = reference if reference is not None else suite.reference
    ref = None if ref_src is None else (ref_src if isinstance(ref_src, Profile)
                                        else profile(ref_src))
    drift = detect_drift(ref, cur, tests=suite.drift_test) if ref is not None and any(
        c.metric in _REFERENCE for c in suite.checks) else None
    out = []
    for c in suite.checks:
        if c.metric in _REFERENCE and ref is None:
            out.append(CheckResult(c.label, None, False, "needs a reference (suite "
                                   "'reference:' or --reference)"))
            continue
        v = _value(c, cur, ref, drift)
        if v is None:
            out.append(CheckResult(c.label, None, False, f"cannot compute {c.metric} for "
                                   f"column {c.column!r} (missing or of another kind)"))
            continue
        ok = _holds(c, v)
        bounds = ", ".join(f"{b} {getattr(c, b)}" for b in ("lt", "le", "gt", "ge", "eq")
                           if getattr(c, b) is not None)
        out.append(CheckResult(c.label, v, ok, f"{v:.4g} ({'meets' if ok else 'violates'} "
                                               f"{bounds})"))
    return out
