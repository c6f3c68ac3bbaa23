"""`loopml serve --features`: /invocations rows carrying an entity key get the view's online
features joined before predict; request values win; unknown entities give a clear 400."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from starlette.testclient import TestClient

from loopml import models
from loopml.features.enrich import FeatureEnricher
from loopml.serving.repository import ServingSettings
from loopml.serving.server import ServeOptions, build_app


def test_invocations_enriched_from_the_online_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = pd.DataFrame({"temp": [1.0, 2.0, 3.0, 4.0], "load": [0.0, 1.0, 0.0, 1.0]})
    reg = LinearRegression().fit(x, 2 * x["temp"] + 10 * x["load"])
    models.save_model(reg, tmp_path / "m", input_example=x.head(2))
    views = tmp_path / "features.yaml"
    views.write_text("views:\n  - {name: stats, entity: machine, features: {temp: float64, load: float64}}\n")
    opts = ServeOptions(grpc_port=None, features=str(views), feature_view="stats")
    app = build_app({"m": str(tmp_path / "m")}, ServingSettings(), opts)
    enrich = _enricher(app)
    assert isinstance(enrich, FeatureEnricher)
    enrich.store.write("stats", ["m1", "m2"], {"temp": [3.0, 1.0], "load": [1.0, 0.0]}, event_ms=0)
    with TestClient(app, base_url="http://localhost") as c:
        r = c.post("/invocations", json={"dataframe_records": [{"machine": "m1"}, {"machine": "m2"},
                                                               {"machine": "m2", "load": 1.0}]})
        assert r.status_code == 200, r.text
        assert np.allclose(r.json()["predictions"], [16.0, 2.0, 12.0])  # the request's load wins
        r = c.post("/invocations", json={"dataframe_records": [{"machine": "nobody"}]})
        assert r.status_code == 400  # no stored features: the signature check names the problem


def _enricher(app):  # type: ignore[no-untyped-def]
    """The ServingState the app closes over (found through the route endpoints)."""
    for route in app.routes:
        fn = getattr(route, "endpoint", None)
        for cell in getattr(fn, "__closure__", None) or ():
            val = cell.cell_contents
            if hasattr(val, "enrich") and hasattr(val, "repo"):
                return val.enrich
    return None
