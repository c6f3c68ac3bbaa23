"""SQLite durability is explicit: FULL by default, NORMAL on request, anything else an error."""

from __future__ import annotations

import pytest

from loopml.errors import InvalidParameterValue
from loopml.store._engine import SYNCHRONOUS_ENV, create_engine

_LEVEL = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _level(uri: str) -> str:
    eng = create_engine(uri)
    with eng.connect() as c:
        v = c.exec_driver_sql("PRAGMA synchronous").scalar()
    eng.dispose()
    return _LEVEL[int(v)]


def test_full_by_default(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(SYNCHRONOUS_ENV, raising=False)
    assert _level(f"sqlite:///{tmp_path / 'a.db'}") == "FULL"


def test_normal_when_asked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(SYNCHRONOUS_ENV, "normal")
    assert _level(f"sqlite:///{tmp_path / 'a.db'}") == "NORMAL"


def test_a_typo_fails_loudly(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(SYNCHRONOUS_ENV, "FULLL")
    with pytest.raises(InvalidParameterValue, match=SYNCHRONOUS_ENV):
        create_engine(f"sqlite:///{tmp_path / 'a.db'}")
