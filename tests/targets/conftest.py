from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tabular() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(500, 8, random_state=0)
    return x.astype(np.float32), y


@pytest.fixture(scope="session")
def logreg_folder(tmp_path_factory, tabular):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    from loopml.models import save_model

    x, y = tabular
    folder = tmp_path_factory.mktemp("m") / "logreg"
    save_model(LogisticRegression().fit(x[:300], y[:300]), folder, input_example=x[:3])
    return folder


@pytest.fixture(scope="session")
def mlp_folder(tmp_path_factory, tabular):  # type: ignore[no-untyped-def]
    """A small torch network: has MatMul/Gemm, so INT8 cells are built."""
    import torch

    from loopml.models import save_model

    torch.manual_seed(0)
    x, y = tabular
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt, yt = torch.as_tensor(x[:300]), torch.as_tensor(y[:300])
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    folder = tmp_path_factory.mktemp("m") / "mlp"
    save_model(net, folder, input_example=x[:3])
    return folder
