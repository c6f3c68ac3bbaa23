"""The online feature store contract every backend passes (in-process, Redis). Subclass and
provide a ``make_store`` fixture: ``make_store(views, clock) -> OnlineStore`` (an empty
store; the fixture closes and clears what it made)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from loopml.errors import InvalidParameterValue
from loopml.features import FeatureView

T0 = (time.time_ns() // 1_000_000_000) * 1000  # ~now: Redis expires keys (ts + ttl) by its wall clock


def _views() -> list[FeatureView]:
    return [FeatureView(name="stats", entity="machine", ttl=3_600_000,
                        features={"temp": "float64", "n": "int64", "state": "str", "on": "bool"}),
            FeatureView(name="forever", entity="machine", features={"temp": "float64"}),
            FeatureView(name="site", entity="site", features={"load": "float32"})]


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class FeatureStoreContract:
    @pytest.fixture
    def env(self, make_store: Any) -> tuple[Any, _Clock]:
        clock = _Clock()
        return make_store(_views(), clock), clock

    def test_write_read_types_and_order(self, env: Any) -> None:
        store, _ = env
        assert store.write("stats", ["m1", "m2"], {"temp": np.array([70.5, 80.0]), "n": np.array([3, 4]),
                                                   "state": ["ok", "hot"], "on": [True, False]},
                           event_ms=[T0, T0]) == 2
        assert store.read("stats", ["m2", "m1", "m9"]) == [[80.0, 4, "hot", False], [70.5, 3, "ok", True], None]
        assert store.read("stats", ["m1"], ["state", "temp"]) == [["ok", 70.5]]
        got = store.read("stats", ["m1"], ["n"])[0][0]
        assert isinstance(got, int) and not isinstance(got, bool)

    def test_latest_event_time_wins_and_replay_is_idempotent(self, env: Any) -> None:
        store, _ = env
        store.write("stats", ["m1"], {"temp": [1.0], "n": [1]}, event_ms=T0)
        store.write("stats", ["m1"], {"temp": [0.5], "n": [0]}, event_ms=T0 - 1)  # older: ignored
        assert store.read("stats", ["m1"], ["temp", "n"]) == [[1.0, 1]]
        store.write("stats", ["m1"], {"temp": [2.0], "n": [2]}, event_ms=T0 + 1)
        store.write("stats", ["m1"], {"temp": [2.0], "n": [2]}, event_ms=T0 + 1)  # replayed batch
        assert store.read("stats", ["m1"], ["temp", "n", "state"]) == [[2.0, 2, None]]  # missing: null

    def test_ttl_by_event_time(self, env: Any) -> None:
        store, clock = env
        store.write("stats", ["m1"], {"temp": [1.0]}, event_ms=T0)
        store.write("forever", ["m1"], {"temp": [5.0]}, event_ms=T0 - 10**9)
        clock.now = T0 + 3_600_000  # exactly ttl old: still valid
        assert store.read("stats", ["m1"], ["temp"]) == [[1.0]]
        clock.now = T0 + 3_600_001
        assert store.read("stats", ["m1"], ["temp"]) == [None]
        assert store.read("forever", ["m1"]) == [[5.0]]  # no ttl: never expires

    def test_get_online_features(self, env: Any) -> None:
        store, _ = env
        store.write("stats", ["m1", "m2"], {"temp": [1.0, 2.0], "n": [1, 2]}, event_ms=T0)
        store.write("forever", ["m1"], {"temp": [9.0]}, event_ms=T0)
        store.write("site", ["s1"], {"load": [0.5]}, event_ms=T0)
        out = store.get_online_features({"machine": ["m2", "m1", "m3"], "site": ["s1", "s1", "s2"]},
                                        ["stats:n", "stats:temp", "forever:temp", "site:*"])
        assert out == {"machine": ["m2", "m1", "m3"], "site": ["s1", "s1", "s2"], "n": [2, 1, None],
                       "stats:temp": [2.0, 1.0, None], "forever:temp": [None, 9.0, None],
                       "load": [0.5, 0.5, None]}
        full = store.get_online_features({"machine": ["m1"]}, ["stats:n"], full_names=True)
        assert full == {"machine": ["m1"], "stats:n": [1]}

    def test_many_entities_and_delete(self, env: Any) -> None:
        store, _ = env
        keys = [f"k{i}" for i in range(2500)]  # more than one server-side batch
        store.write("stats", np.array(keys, dtype=object), {"n": np.arange(2500)}, event_ms=np.full(2500, T0))
        rows = store.read("stats", keys, ["n"])
        assert [r[0] for r in rows] == list(range(2500))
        store.delete("stats", ["k0", "nope"])
        assert store.read("stats", ["k0", "k1"], ["n"]) == [None, [1]]

    def test_bad_input(self, env: Any) -> None:
        store, _ = env
        with pytest.raises(InvalidParameterValue, match="Unknown feature view"):
            store.read("nope", ["m1"])
        with pytest.raises(InvalidParameterValue, match="no feature"):
            store.read("stats", ["m1"], ["tmp"])
        with pytest.raises(InvalidParameterValue, match="no feature"):
            store.write("stats", ["m1"], {"tmp": [1.0]}, event_ms=T0)
        with pytest.raises(InvalidParameterValue, match="2 values for 1 keys"):
            store.write("stats", ["m1"], {"temp": [1.0, 2.0]}, event_ms=T0)
        with pytest.raises(InvalidParameterValue, match="keyed by 'site'"):
            store.get_online_features({"machine": ["m1"]}, ["site:load"])

    def test_schema_change_reads_as_missing(self, env: Any, make_store: Any) -> None:
        store, clock = env
        store.write("forever", ["m1"], {"temp": [1.0]}, event_ms=T0)
        changed = [FeatureView(name="forever", entity="machine", features={"temp": "float64", "x": "int64"})]
        other = make_store(changed, clock, share=store)
        assert other.read("forever", ["m1"]) == [None]


__all__ = ["FeatureStoreContract"]
