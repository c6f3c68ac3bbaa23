"""recent_labelled with a holdout when no logged request has a label yet: an empty result,
not an AttributeError (an empty boolean mask once dropped every column)."""

from __future__ import annotations

from loopml.automation._evaluate import recent_labelled
from loopml.inference_log import InferenceLogWriter
from loopml.store import get_monitoring_store
from loopml.store.sql import SqlStore


def test_no_labels_with_holdout(tmp_path) -> None:
    w = InferenceLogWriter(tmp_path / "log")
    w.record("pm", "r1", "m", "1", {"x": [1.0]}, [0], 1.0)
    w.close()
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    mon = get_monitoring_store(store)
    for part in ("train", "holdout"):
        x, y = recent_labelled(str(tmp_path / "log"), "pm", mon, 0, part=part,
                               holdout_percent=20)
        assert len(x) == 0 and y == []
    store.close()
