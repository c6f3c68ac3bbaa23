"""/openapi.json and /docs of the model server, and schemathesis over it: no 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server.test_openapi import _documented, _fuzz

pytest.importorskip("schemathesis")


@pytest.fixture(scope="module")
def serving_url(tmp_path_factory) -> Iterator[str]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from loopml import models
    from tests.serving.conftest import start

    root = tmp_path_factory.mktemp("oa")
    x = np.random.default_rng(0).normal(size=(60, 4))
    models.save_model(LogisticRegression().fit(x, x[:, 0] > 0), root / "m", input_example=x[:3],
                      background=x[:20])
    s = start({"m": str(root / "m")}, root)
    yield s.url
    s.stop()


@pytest.mark.timeout(300)
def test_serving_description_and_schemathesis(serving_url: str) -> None:
    doc = _documented(serving_url)
    assert {"/v2/models/{name}/infer", "/v2/repository/index", "/invocations",
            "/v1/models/{name}:explain"} <= set(doc["paths"])
    infer = doc["paths"]["/v2/models/{name}/infer"]["post"]
    assert infer["requestBody"]["content"]["application/json"]["schema"]["required"] == \
        ["inputs"]
    page = httpx.get(f"{serving_url}/docs")
    assert page.status_code == 200 and "/v2/repository/index" in page.text
    # unload would take the model away from the rest of the run
    errors = _fuzz(serving_url, doc, lambda p: p.endswith("/unload"))
    assert not errors, "\n".join(errors)
