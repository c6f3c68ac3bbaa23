"""loopml._gc: the collector settings server processes run with."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from loopml._gc import tune_for_serving


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_freezes_the_heap_and_raises_the_young_threshold(restore_gc: None) -> None:
    tune_for_serving()
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()  # cycles are still collected


def test_zero_keeps_cpythons_defaults(restore_gc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_GC_THRESHOLD", "0")
    before = gc.get_threshold()
    tune_for_serving()
    assert gc.get_threshold() == before
