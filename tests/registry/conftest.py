from __future__ import annotations

import numpy as np
import pytest

from tests.server.conftest import live_server  # noqa: F401 - fixture re-export


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x, y


@pytest.fixture
def embedded_home(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A fresh embedded store (SQLite + local artifacts) for the fluent API and the CLI."""
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    import loopml.tracking._fluent as fluent

    monkeypatch.setattr(fluent, "_client", None)
    monkeypatch.setattr(fluent, "_tracking_uri", None)
    return tmp_path / "home"
