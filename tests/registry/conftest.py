from __future__ import annotations

import numpy as np
import pytest

from tests.server.conftest import live_server  # noqa: F401 - fixture re-export


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x, y
