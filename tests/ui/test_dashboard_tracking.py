"""Dashboard items for MLflow users, in Debian's Chromium: the mlflow client's "View run"
link lands on the run page, MLflow 3 logged models are listed and shown, runs comparison
draws parallel coordinates, charts take time axes, and runs/experiments are deleted and
restored from the pages."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import re
from typing import Any

import httpx
import pytest

from tests.ui.conftest import Populated

mlflow = pytest.importorskip("mlflow")


def _open(page: Any, url: str) -> None:
    resp = page.goto(url)
    assert resp is not None and resp.status == 200, (url, resp and resp.status)


@pytest.fixture(scope="module")
def mlflow_run(populated: Populated) -> dict[str, str]:
    """A run logged by the real mlflow client: a logged model, and the links it printed."""
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(populated.server.url)
    mlflow.set_experiment("dash-mlflow")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5)
        info = mlflow.sklearn.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]),
                                        name="clf", params={"depth": "3"})
        mlflow.log_metric("acc", 0.9, model_id=info.model_id)
    mlflow.set_tracking_uri(None)
    text = out.getvalue()
    link = re.search(r"View run \S+ at: (\S+)", text)
    exp_link = re.search(r"View experiment at: (\S+)", text)
    assert link and exp_link, text
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
            "model_id": info.model_id, "link": link.group(1), "exp_link": exp_link.group(1)}


def test_view_run_link_lands_on_the_run_page(mlflow_run: dict[str, str], page: Any) -> None:
    page.goto(mlflow_run["link"])
    page.wait_for_url(re.compile(r"/ui/runs/"))
    assert page.url.endswith(f"/ui/runs/{mlflow_run['run_id']}")
    assert "alpha" in page.inner_text("#params")
    page.goto(mlflow_run["exp_link"])
    page.wait_for_url(re.compile(r"/ui/experiments/\w+$"))
    assert page.url.endswith(f"/ui/experiments/{mlflow_run['experiment_id']}")


def test_root_script_is_the_only_one_allowed(populated: Populated) -> None:
    from loopml.ui._mlflow_links import SCRIPT

    r = httpx.get(populated.server.url + "/")
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert r.status_code == 200 and f"'sha256-{digest}'" in r.headers["content-security-policy"]
    other = httpx.get(populated.server.url + "/ui/experiments")
    assert "script-src" not in other.headers["content-security-policy"]


def test_logged_models_are_listed_and_shown(mlflow_run: dict[str, str], populated: Populated,
                                            page: Any) -> None:
    base = populated.server.url
    _open(page, f"{base}/ui/experiments/{mlflow_run['experiment_id']}")
    assert "clf" in page.inner_text("#logged-models")
    page.click("#logged-models >> text=clf")
    assert page.url.endswith(f"/ui/logged-models/{mlflow_run['model_id']}")
    assert "depth" in page.inner_text("#model-params")
    assert "acc" in page.inner_text("#model-metrics")
    page.click("#source-run")
    assert "clf" in page.inner_text("#run-models")


def test_compare_draws_parallel_coordinates_and_time_axes(populated: Populated, page: Any) -> None:
    base = populated.server.url
    ids = ",".join(populated.run_ids[:3])
    _open(page, f"{base}/ui/compare?runs={ids}")
    assert page.locator("#parallel polyline").count() == 3
    assert "params.lr" in page.text_content("#parallel")  # a param that differs between runs
    _open(page, f"{base}/ui/runs/{populated.run_ids[0]}?x=time")
    ticks = page.locator("#charts svg.chart text.tk").all_text_contents()
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in ticks), ticks
    r = httpx.get(f"{base}/ui/runs/{populated.run_ids[0]}?x=wallclock")
    assert r.status_code == 400 and "&#39;x&#39; parameter must be one of" in r.text


def test_delete_and_restore_from_the_pages(populated: Populated, page: Any) -> None:
    from loopml.tracking._client import TrackingClient

    client = TrackingClient(populated.server.url)
    exp = client.get_or_create_experiment("dash-lifecycle")
    rid = client.create_run(exp.experiment_id, "to-delete", {}).info.run_id
    base = populated.server.url
    _open(page, f"{base}/ui/runs/{rid}")
    page.click("#run-lifecycle button")
    assert page.locator("#run-deleted").count() == 1
    _open(page, f"{base}/ui/experiments/{exp.experiment_id}?view=deleted")
    assert "to-delete" in page.inner_text("#runs")
    _open(page, f"{base}/ui/runs/{rid}")
    page.click("#run-lifecycle button")
    assert page.locator("#run-deleted").count() == 0
    _open(page, f"{base}/ui/experiments/{exp.experiment_id}")
    page.click("#exp-lifecycle button")
    assert page.url.endswith("/ui/experiments?view=deleted")
    assert "dash-lifecycle" in page.inner_text("#experiments")
    _open(page, f"{base}/ui/experiments/{exp.experiment_id}")
    page.click("#exp-lifecycle button")
    assert page.locator("#exp-deleted").count() == 0
    forged = httpx.post(f"{base}/ui/runs/{rid}/delete", data={"csrf": "x"})
    assert forged.status_code == 403
