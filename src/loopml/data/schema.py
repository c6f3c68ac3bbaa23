"""Schema inference and validation (TFDV-like), built on profiles.

``infer_schema(data)`` records per column: type, nullability and missing rate, numeric range
and quantiles, the categorical domain (when a column has few distinct values), and string
lengths. ``validate(data, schema)`` returns anomalies, each with a severity and a message
that says what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from loopml.data.profile import (
    TOP_K,
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    Profile,
    profile,
)

MAX_DOMAIN = 50  # at most this many distinct values make a categorical domain
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
MISSING_JUMP = 0.1  # missing rate may rise this much (absolute) above training's


@dataclass
class ColumnSchema:
    name: str
    type: str  # integer | float | string
    nullable: bool
    missing_rate: float
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] | None = None
    domain: list[str] | None = None
    min_length: int | None = None
    max_length: int | None = None


@dataclass
class DataSchema:
    columns: list[ColumnSchema] = field(default_factory=list)
    rows: int = 0

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": [asdict(c) for c in self.columns]}

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSchema:
        return cls([ColumnSchema(**c) for c in d["columns"]], int(d.get("rows", 0)))


@dataclass
class Anomaly:
    column: str
    kind: str  # missing_column | unexpected_column | type_mismatch | out_of_domain |
    #            out_of_range | missing_rate | unexpected_nulls | string_length
    severity: str  # error | warning
    message: str


def _column_schema(name: str, p: ColumnProfile) -> ColumnSchema:
    if isinstance(p, NumericProfile):
        quantiles = None
        if p.count:
            qs = p.quantiles(QUANTILES)
            quantiles = {str(q): float(v) for q, v in zip(QUANTILES, qs, strict=True)}
        return ColumnSchema(
            name, "integer" if p.integer else "float", p.missing > 0, p.missing_rate,
            None if p.count == 0 else p.min, None if p.count == 0 else p.max, quantiles)
    domain = sorted(p.counts) if p.distinct <= MAX_DOMAIN and p.distinct < TOP_K else None
    return ColumnSchema(name, "string", p.missing > 0, p.missing_rate, domain=domain,
                        min_length=p.min_len, max_length=p.max_len)


def infer_schema(data: Any) -> DataSchema:
    """Infer a schema from training data (any table or file ``loopml.data`` reads)."""
    prof = data if isinstance(data, Profile) else profile(data)
    return DataSchema([_column_schema(n, p) for n, p in prof.columns.items()], prof.rows)


def _check_numeric(c: ColumnSchema, p: NumericProfile, out: list[Anomaly]) -> None:
    if c.type == "integer" and not p.integer and p.count:
        out.append(Anomaly(c.name, "type_mismatch", "error",
                           f"Column {c.name!r}: expected whole numbers, got fractional values."))
    if p.count and c.min is not None and c.max is not None and (p.min < c.min or p.max > c.max):
        out.append(Anomaly(
            c.name, "out_of_range", "warning",
            f"Column {c.name!r}: values in [{p.min:.6g}, {p.max:.6g}] fall outside the "
            f"training range [{c.min:.6g}, {c.max:.6g}]."))


def _check_categorical(c: ColumnSchema, p: CategoricalProfile, out: list[Anomaly]) -> None:
    if c.domain is not None:
        unseen = sorted(set(p.counts) - set(c.domain) - {"__other__"})
        if unseen:
            n = sum(p.counts[k] for k in unseen)
            out.append(Anomaly(
                c.name, "out_of_domain", "error",
                f"Column {c.name!r}: {n} value(s) outside the training domain, e.g. "
                f"{unseen[:5]}. Known values: {c.domain[:10]}."))
    if c.max_length is not None and p.count and p.max_len > 2 * max(c.max_length, 1):
        out.append(Anomaly(
            c.name, "string_length", "warning",
            f"Column {c.name!r}: strings up to {p.max_len} characters; training had at most "
            f"{c.max_length}."))


def validate(data: Any, schema: DataSchema) -> list[Anomaly]:
    """Anomalies of ``data`` against ``schema``: an empty list means the data conforms."""
    prof = data if isinstance(data, Profile) else profile(data)
    out: list[Anomaly] = []
    for c in schema.columns:
        p = prof.columns.get(c.name)
        if p is None:
            out.append(Anomaly(c.name, "missing_column", "error",
                               f"Column {c.name!r} is missing; the schema expects it "
                               f"({c.type})."))
            continue
        got = "string" if isinstance(p, CategoricalProfile) else "numeric"
        want = "string" if c.type == "string" else "numeric"
        if got != want:
            out.append(Anomaly(c.name, "type_mismatch", "error",
                               f"Column {c.name!r}: expected {c.type}, got {got} values."))
            continue
        if not c.nullable and p.missing:
            out.append(Anomaly(c.name, "unexpected_nulls", "error",
                               f"Column {c.name!r}: {p.missing} missing value(s); training "
                               "had none."))
        elif p.missing_rate > c.missing_rate + MISSING_JUMP:
            out.append(Anomaly(
                c.name, "missing_rate", "warning",
                f"Column {c.name!r}: missing rate {p.missing_rate:.1%}, up from "
                f"{c.missing_rate:.1%} in training."))
        if isinstance(p, NumericProfile):
            _check_numeric(c, p, out)
        else:
            _check_categorical(c, p, out)
    known = {c.name for c in schema.columns}
    for name in prof.columns:
        if name not in known:
            out.append(Anomaly(name, "unexpected_column", "warning",
                               f"Column {name!r} is not in the schema."))
    return out
