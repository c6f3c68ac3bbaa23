"""The labeling page in Debian's Chromium, keyboard only (HTML accesskey, no JavaScript):
label 10 rows (confirming or correcting the pre-label), skip, undo; the feedback store has
the labels and the page shows progress and the correction rate. Image rows show their
image (served only from the configured roots)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.labeling.conftest import write_log
from tests.server.conftest import LiveServer, start_server
from tests.ui.conftest import _png

# Chromium's access-key modifier: Alt on Linux and Windows (Control+Alt on macOS).
ALT, CTRL = 1, 2
MODIFIERS = CTRL | ALT if sys.platform == "darwin" else ALT


def press_access_key(page: Any, key: str) -> None:
    """Alt+``key`` as a real keyboard sends it. Playwright's ``keyboard.press("Alt+c")``
    sends no key text while Alt is held, and Chromium matches access keys on the key's
    unmodified text, so the press would never reach the page's accesskey; this sends the
    key-down with its text over the DevTools protocol (Input.dispatchKeyEvent)."""
    cdp = page.context.new_cdp_session(page)
    code = f"Key{key.upper()}" if key.isalpha() else f"Digit{key}"
    vk = ord(key.upper())
    cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "modifiers": MODIFIERS, "key": key,
                                        "code": code, "windowsVirtualKeyCode": vk,
                                        "text": key, "unmodifiedText": key})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "modifiers": MODIFIERS, "key": key,
                                        "code": code, "windowsVirtualKeyCode": vk})
    cdp.detach()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    from loopml.monitoring.monitor import MonitorSpec

    root = tmp_path_factory.mktemp("label-ui")
    imgs = root / "imgs"
    imgs.mkdir()
    for i in range(3):
        (imgs / f"{i}.png").write_bytes(_png())
    write_log(root / "log", "dep", n=20)
    write_log(root / "log", "pics", n=3, image_dir=imgs)
    specs = [MonitorSpec("dep-live", "dep", str(root / "log")),
             MonitorSpec("pics-live", "pics", str(root / "log"))]
    srv = start_server(root, monitor_specs=specs, label_image_roots=[str(imgs)])
    yield srv
    srv.stop()


def _rid(page: Any) -> str:
    return str(page.inner_text("#request-id"))


def test_label_ten_rows_with_the_keyboard(server: LiveServer, page: Any) -> None:
    from loopml.store import get_monitoring_store
    from loopml.store.rest import RestStore

    page.goto(f"{server.url}/ui/labeling/dep?strategy=margin")
    assert page.locator("#label-form button[accesskey]").count() >= 4  # 3 classes + confirm/skip
    labelled: dict[str, int] = {}
    for n in range(10):
        rid, pre = _rid(page), int(page.inner_text("#prelabel"))
        if n % 2:  # correct the pre-label: press the key of another class
            label = (pre + 1) % 3
            key = page.get_attribute(f"#classes button[value='{label}']", "accesskey")
        else:  # confirm it
            label, key = pre, "c"
        with page.expect_navigation():
            press_access_key(page, str(key))
        assert _rid(page) != rid
        labelled[rid] = label
    assert page.inner_text("#done") == "10"
    assert page.inner_text("#correction-rate") == "50%"
    # Skip one, then undo the skip: the same item comes back.
    skipped = _rid(page)
    with page.expect_navigation():
        press_access_key(page, "s")
    assert _rid(page) != skipped
    with page.expect_navigation():
        press_access_key(page, "u")
    assert _rid(page) == skipped and page.inner_text("#done") == "10"
    fb = get_monitoring_store(RestStore(server.url)).get_feedback(list(labelled))
    assert fb == labelled


def test_image_rows_show_the_image(server: LiveServer, page: Any) -> None:
    page.goto(f"{server.url}/ui/labeling/pics")
    assert page.evaluate("document.querySelector('#item-image').naturalWidth") == 1
    import httpx

    r = httpx.get(f"{server.url}/ui/labeling/image", params={"path": "/etc/passwd"})
    assert r.status_code == 404


def test_index_lists_the_deployments(server: LiveServer, page: Any) -> None:
    page.goto(f"{server.url}/ui/labeling")
    assert page.inner_text("#deployments").split() == ["dep", "pics"]
