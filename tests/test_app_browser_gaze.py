"""The demo's Gaze tab in a real headless browser: a clicked gaze path plus a phrase segments the named
thing that was looked at (Playwright driving Debian's Chromium, CLIP replaced by a colour scorer)."""

from __future__ import annotations

import io
import os
import socket

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SAM_COMPOSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium not found at {CHROMIUM}; install it with `apt-get install -y chromium`",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server():
    from text_gaze_scenes import ColourKindScorer

    from sam_compose.adapters.prompts import clip
    from sam_compose.app import build_app

    scorer = ColourKindScorer()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clip, "shared_clip", lambda spec=None, **kw: scorer)
        demo = build_app("opencv")
        _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                                quiet=True, show_error=True)
        yield url
        demo.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _wait_status(page, text: str) -> str:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text,
                           timeout=TIMEOUT_MS)
    return page.inner_text("#status")


def _click(page, x: float, y: float, size: tuple[int, int]) -> None:
    img = page.locator("#result-image img")
    box = img.bounding_box()
    h, w = size
    img.click(position={"x": box["width"] * (x + 0.5) / w, "y": box["height"] * (y + 0.5) / h})


def _pixels(page) -> np.ndarray:
    from PIL import Image

    src = page.locator("#result-image img").get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))


def test_gaze_path_with_a_phrase_segments_the_named_thing_looked_at(browser, server, tmp_path):
    from text_gaze_scenes import two_mugs_and_a_box

    from sam_compose.image_io import save_png

    scene = two_mugs_and_a_box()
    path = save_png(tmp_path / "mugs.png", scene.image)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(server)
        page.wait_for_selector("#example-chelsea")
        page.locator("#input-image input[type=file]").set_input_files(str(path))
        _wait_status(page, "Loaded")
        page.wait_for_selector("#result-image img")
        page.get_by_label("gaze path").check()
        size = scene.image.shape[:2]
        for name in ("box", "mug_right"):  # the eyes rest on the box, then on the right mug
            n = 1 if name == "box" else 2
            _click(page, *scene.centre(name), size)
            _wait_status(page, f"Gaze path: {n} fixation centre(s)")
        page.get_by_text("Gaze", exact=True).first.click()  # open the accordion
        page.fill("#gaze-text textarea", "the mug")
        page.click("#gaze-path")
        status = _wait_status(page, "mask(s)")
        assert '"the mug"' in status and "1 mask(s)" in status, status
        out = _pixels(page).astype(np.int16)
        changed = np.abs(out - scene.image.astype(np.int16)).max(axis=2) > 30
        assert changed[scene.masks["mug_right"]].mean() > 0.8  # the named thing looked at is tinted
        assert changed[scene.masks["box"]].mean() < 0.2  # the other looked-at thing is not
        assert changed[scene.masks["mug_left"]].mean() < 0.2  # nor the other mug
    finally:
        context.close()
