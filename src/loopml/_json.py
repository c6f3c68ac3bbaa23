"""JSON spellings of non-finite doubles, as protobuf JSON (and so the mlflow client) uses them."""

from __future__ import annotations

import math
from typing import Any

SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf,
                  "nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def float_to_json(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def float_from_json(v: Any) -> float:
    """Accept a JSON number or one of the special strings; raise ValueError otherwise."""
    if isinstance(v, str):
        if v in SPECIAL_FLOATS:
            return SPECIAL_FLOATS[v]
        return float(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(v)
    return float(v)
