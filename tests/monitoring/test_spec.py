"""Monitor specs and trigger event types stay in step with what the code computes and
emits: a rule on a metric no monitor computes, or a trigger on an event no store appends,
would never fire."""

from __future__ import annotations

import re
from pathlib import Path

from loopml.monitoring.alerts import METRICS
from loopml.pipelines.triggers import EVENT_PREFIXES, EVENT_TYPES

SRC = Path(__file__).resolve().parents[2] / "src" / "loopml"


def test_metric_table_matches_compute_window() -> None:
    text = "".join((SRC / "monitoring" / f).read_text() for f in ("monitor.py", "staleness.py"))
    computed = set(re.findall(r'(?:metrics|m)\["([a-z_]+\.[a-z0-9_]+)"\]', text))
    computed |= set(re.findall(r'\{"([a-z_.0-9]+)": float', text))  # dict literals
    assert computed == set(METRICS), computed ^ set(METRICS)


def test_event_types_match_the_stores() -> None:
    emitted: set[str] = set()
    for f in SRC.rglob("*.py"):
        emitted |= set(re.findall(r'(?:_event\(conn, |append_event\()"([a-z_]+\.[a-z_]+)"',
                                  f.read_text()))
    assert emitted, "the pattern found no events"
    unknown = {e for e in emitted if e not in EVENT_TYPES and not e.startswith(EVENT_PREFIXES)}
    assert not unknown


def test_check_sources(tmp_path) -> None:
    import pytest

    from loopml.errors import InvalidConfig
    from loopml.monitoring.spec import MonitorSpec, check_sources

    (tmp_path / "deployment=fraud").mkdir()
    ok = MonitorSpec("m", "fraud", str(tmp_path))
    check_sources([ok], [], "f.yaml")
    check_sources([MonitorSpec("m", "in-store", str(tmp_path / "later"))], ["in-store"], "f.yaml")
    with pytest.raises(InvalidConfig, match=r"monitors\[0\].deployment: .*did you mean 'fraud'"):
        check_sources([MonitorSpec("m", "frod", str(tmp_path))], [], "f.yaml")
    with pytest.raises(InvalidConfig, match=r"monitors\[0\].reference_profile: no such file"):
        check_sources([MonitorSpec("m", "fraud", str(tmp_path), reference_profile="x.json")],
                      [], "f.yaml")


def test_trigger_event_types() -> None:
    import pytest

    from loopml.errors import InvalidParameterValue
    from loopml.pipelines.triggers import validate_trigger
    from loopml.store.pipelines_base import Trigger

    def check(kind: str) -> None:
        validate_trigger(Trigger("t", "m:p", "event", {"types": [kind]}))

    for ok in ("alert.firing", "loop.promoted", "myapp.refreshed", "x.y"):
        check(ok)
    for bad, hint in (("model_version.craeted", "did you mean 'model_version.created'"),
                      ("modle_version.created", "did you mean 'model_version.created'"),
                      ("alert.fire", "did you mean 'alert.firing'"), ("firing", "")):
        with pytest.raises(InvalidParameterValue, match=f"unknown event type.*{hint}"):
            check(bad)
