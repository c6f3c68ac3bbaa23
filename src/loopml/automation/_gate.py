"""The gate: floors on the challenger, then each split's rule (``holdout``, ``recent``):
improvement (at the lower bound of the paired-bootstrap interval when ``gate.confidence`` is
set), a maximum regression, and a minimum number of rows. A tie (no split improved) never
passes unless ``gate.allow_ties``."""

from __future__ import annotations

from typing import Any

from loopml.automation.policy import Policy, higher_is_better


def decide(policy: Policy, evaluation: dict[str, Any]) -> dict[str, Any]:
    """The gate on an evaluation (``{"holdout"|"recent": {"challenger", "champion", "rows",
    ["interval"]}, "validation"}``): {"passed", "failures" (one sentence each, naming the
    split, the metric and the threshold), "thresholds"}."""
    g = policy.gate
    failures: list[str] = []
    basis = evaluation.get("holdout") or evaluation.get("recent")
    if basis is None:
        failures.append("nothing to evaluate on: set evaluate.holdout or recent_seconds")
        return {"passed": False, "failures": failures}
    ch = basis["challenger"]
    for k, floor in g.min.items():
        v = ch.get(k)
        up = higher_is_better(k)
        if v is None or (v < floor if up else v > floor):
            failures.append(f"{k} {v} does not meet {'>=' if up else '<='} {floor}")
    improved = compared = 0
    for split in ("holdout", "recent"):
        done = _split(policy, split, evaluation.get(split), failures)
        if done is not None:
            compared += 1
            improved += done
    if compared and not improved and not g.allow_ties and not failures:
        failures.append("a tie: no split shows an improvement (gate.allow_ties: true "
                        "promotes ties)")
    val = evaluation.get("validation")
    if val and val.get("errors"):
        failures.append(f"data validation: {val['errors'][:3]}")
    rules = {s: vars(g.rule(s)) for s in ("holdout", "recent")}
    return {"passed": not failures, "failures": failures,
            "thresholds": {"min": g.min, "min_improvement": g.min_improvement,
                           "splits": rules, "confidence": g.confidence,
                           "allow_ties": g.allow_ties}}

def _split(policy: Policy, split: str, part: dict[str, Any] | None,
                failures: list[str]) -> bool | None:
    """Check one split's rule, appending failures; -> whether the challenger improved on
    it (None when the split was not compared)."""
    metric, rule = policy.evaluate.metric, policy.gate.rule(split)
    explicit = getattr(policy.gate, split) is not None
    if part is None:
        if explicit and rule.min_rows:
            failures.append(f"{split}: no labelled rows (min_rows {rule.min_rows})")
        return None
    if part["rows"] < rule.min_rows:
        failures.append(f"{split}: {part['rows']} rows < min_rows {rule.min_rows}")
        return None
    if "champion" not in part or metric not in part["challenger"] \
            or metric not in part["champion"]:
        return None
    sign = 1.0 if policy.higher_is_better else -1.0
    a, b = part["challenger"][metric], part["champion"][metric]
    delta = sign * (a - b)
    low = part["interval"][0] if part.get("interval") else delta
    said = f"{split} {metric}: challenger {a:.4f} vs champion {b:.4f}"
    if rule.min_improvement is not None and low < rule.min_improvement:
        bound = f", interval low {low:.4f}" if part.get("interval") else ""
        failures.append(f"{said}, improvement {delta:.4f}{bound} < {rule.min_improvement}")
    if rule.max_regression is not None and -delta > rule.max_regression:
        failures.append(f"{said}, regression {-delta:.4f} > {rule.max_regression}")
    return bool(delta > 0)
