"""The dashboard in Debian's Chromium: every page opens, search, compare, lineage, the
pipeline DAG and re-run, approvals with CSRF, artifact safety, sign-in, and 100 XSS
payloads that must stay text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.ui.conftest import PAYLOADS, Populated


def _open(page: Any, url: str) -> Any:
    resp = page.goto(url)
    assert resp is not None and resp.status == 200, (url, resp and resp.status)
    return resp


def test_every_page_opens_with_screenshots(populated: Populated, page: Any, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = populated.server.url
    pages = ["/", "/ui/experiments", f"/ui/experiments/{populated.experiment_id}",
             f"/ui/runs/{populated.run_ids[0]}", "/ui/models", f"/ui/models/{populated.model}",
             "/ui/pipelines", f"/ui/pipelines/{populated.pipeline_run_id}", "/ui/deployments",
             "/ui/monitors", "/ui/loop"]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    for i, path in enumerate(pages):
        _open(page, base + path)
        assert page.locator("nav").count() == 1
        shot = tmp_path / f"page-{i}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 2000
    assert errors == []
    # Run detail: metric charts and the artifact browser's safe previews.
    _open(page, f"{base}/ui/runs/{populated.run_ids[0]}")
    assert page.locator("#charts svg.chart").count() == 2
    page.click("#artifacts >> text=notes")
    page.click("#artifacts >> text=readme.txt")
    assert "hello <b>not bold</b>" in page.inner_text("#preview pre")
    _open(page, f"{base}/ui/runs/{populated.run_ids[0]}?path=table.csv")
    assert page.inner_text("#preview table") .count("<script>x</script>") == 1
    _open(page, f"{base}/ui/runs/{populated.run_ids[0]}?path=plot.png")
    assert page.evaluate("document.querySelector('#preview img').naturalWidth") == 1
    # Deployments and monitors show windows, drift cells and charts.
    _open(page, f"{base}/ui/monitors?name=dash-live")
    assert page.locator("#drift td.drift").count() == 2
    _open(page, f"{base}/ui/deployments")
    assert "models:/dash-model/1" in page.inner_text("main")
    assert "req/s" in page.inner_text("main") and "100.1" in page.inner_text("main")


def test_search_sort_paginate_and_compare(populated: Populated, page: Any) -> None:
    base = populated.server.url
    _open(page, f"{base}/ui/experiments/{populated.experiment_id}")
    assert page.locator("#runs tbody tr").count() == 50
    assert page.locator("#next-page").count() == 1
    page.fill("input[name=filter]", "metrics.acc > 0.75 AND (params.model = 'lr' OR tags.team LIKE 'ml-a')")
    page.fill("input[name=order_by]", "metrics.acc DESC")
    page.fill("input[name=cols]", "metrics.acc,params.model,tags.team")
    page.click("#search button")
    rows = page.locator("#runs tbody tr")
    assert 0 < rows.count() < 50
    first = float(rows.nth(0).locator("td").nth(4).inner_text())
    second = float(rows.nth(1).locator("td").nth(4).inner_text())
    assert first >= second
    page.fill("input[name=filter]", "metrics.acc >>> 1")
    page.click("#search button")
    assert page.locator("#search-error").count() == 1
    _open(page, f"{base}/ui/experiments/{populated.experiment_id}")
    page.click("#next-page")
    assert page.locator("#runs tbody tr").count() == 10
    _open(page, f"{base}/ui/experiments/{populated.experiment_id}")
    boxes = page.locator("#runs input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare-form button[type=submit]")
    assert "Compare 2 runs" in page.inner_text("h1")
    assert page.locator(".charts svg.chart").count() == 2  # one per metric
    assert page.locator("#parallel polyline").count() == 2  # one per run
    assert page.locator("#compare tbody th", has_text="params.lr").count() == 1


def test_lineage_and_pipeline_rerun(populated: Populated, page: Any) -> None:
    base = populated.server.url
    _open(page, f"{base}/ui/models/{populated.model}")
    assert page.locator("#lineage svg .node").count() >= 3
    assert "@champion" in page.inner_text("#versions")
    page.click("#lineage a >> nth=0")
    assert page.url.startswith(base + "/ui/")
    _open(page, f"{base}/ui/pipelines/{populated.pipeline_run_id}")
    assert page.locator("#dag .node").count() == 4
    assert page.locator("#steps tbody tr").count() == 4
    before = len(httpx.get(f"{base}/api/loopml/v1/pipelines/runs").json()["runs"])
    page.click("#rerun button")
    assert page.url.endswith(f"/ui/pipelines/{populated.pipeline_run_id}")
    import time

    deadline = time.time() + 60
    while time.time() < deadline:
        if len(httpx.get(f"{base}/api/loopml/v1/pipelines/runs").json()["runs"]) > before:
            break
        time.sleep(0.2)
    assert len(httpx.get(f"{base}/api/loopml/v1/pipelines/runs").json()["runs"]) == before + 1


def test_csrf_and_approval(populated: Populated, page: Any) -> None:
    base = populated.server.url
    r = httpx.post(f"{base}/ui/pipelines/{populated.pipeline_run_id}/rerun", data={"csrf": "x"},
                   cookies={"loopml_csrf": "y"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = httpx.post(f"{base}/ui/loop/{'a' * 32}/approve")
    assert r.status_code == 403
    _open(page, f"{base}/ui/loop")
    page.click("#loops form button")
    assert page.url.endswith("/ui/loop")
    assert "dashboard" in httpx.get(f"{base}/api/loopml/v1/loops/{'a' * 32}").json()["loop"]["approved_by"]


def test_artifacts_download_as_attachments(populated: Populated) -> None:
    base, rid = populated.server.url, populated.run_ids[0]
    r = httpx.get(f"{base}/ui/artifact/{rid}", params={"path": "evil.html"})
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"] == "application/octet-stream"
    svg = httpx.get(f"{base}/ui/preview/{rid}", params={"path": "evil.svg"})
    assert svg.status_code == 400 and "not a PNG" in svg.text
    png = httpx.get(f"{base}/ui/preview/{rid}", params={"path": "plot.png"})
    assert png.headers["content-type"] == "image/png"
    bad = httpx.get(f"{base}/ui/artifact/{rid}", params={"path": "../../etc/passwd"})
    assert bad.status_code == 400
    page = httpx.get(f"{base}/ui/experiments")
    assert "script-src" not in page.headers["content-security-policy"]  # no script at all
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_xss_payloads_stay_text(populated: Populated, page: Any) -> None:
    assert len(PAYLOADS) >= 100
    base = populated.server.url
    run = populated.xss_run_id
    urls = ["/ui/experiments", f"/ui/experiments/{populated.xss_experiment_id}?cols="
            + ",".join(f"params.p{j}" for j in range(0, 30)),
            f"/ui/runs/{run}", f"/ui/models/{populated.model}", "/ui/models", "/ui/loop",
            f"/ui/compare?runs={run},{populated.run_ids[0]}"]
    for path in urls:
        page.goto(base + path)
        assert page.evaluate("window.__xss") is None, path
        assert page.evaluate("document.querySelectorAll('script, iframe, object, embed, "
                             "img[src=x], svg [onload], details, marquee, video, input[autofocus], "
                             "meta[http-equiv]').length") == 0, path
        assert page.dialogs == []  # type: ignore[attr-defined]
    page.goto(f"{base}/ui/runs/{run}")
    text = page.inner_text("main")
    for pl in PAYLOADS[:20]:
        assert pl.strip()[:30] in text  # shown literally


def test_sign_in_when_auth_is_on(tmp_path, browser: Any) -> None:  # type: ignore[no-untyped-def]
    from tests.server.conftest import start_server

    srv = start_server(tmp_path / "auth", token="s3cret")
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(f"{srv.url}/ui/models")
        assert "/ui/login" in page.url
        page.fill("input[name=token]", "wrong")
        page.click("main form button")
        assert "Wrong token" in page.inner_text("main")
        page.fill("input[name=token]", "s3cret")
        page.click("main form button")
        assert page.url.endswith("/ui/models") and "Registered models" in page.inner_text("h1")
        cookies = {c["name"]: c["value"] for c in ctx.cookies()}
        # The sign-in cookie works on dashboard pages only, never on the JSON API.
        api = httpx.get(f"{srv.url}/api/2.0/mlflow/experiments/search",
                        cookies={"loopml_token": cookies["loopml_token"]})
        assert api.status_code == 401
        ctx.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("path,status", [("/ui/runs/" + "0" * 32, 404),
                                         ("/ui/models/nope", 404),
                                         ("/ui/pipelines/" + "0" * 32, 404),
                                         ("/ui/compare?runs=x", 400)])
def test_errors_are_pages(populated: Populated, path: str, status: int) -> None:
    r = httpx.get(populated.server.url + path)
    assert r.status_code == status and "<main>" in r.text
