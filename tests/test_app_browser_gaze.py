"""The demo's Gaze tab in a real headless browser: a clicked gaze path plus a phrase segments the named
thing that was looked at (Playwright driving Debian's Chromium, CLIP replaced by a colour scorer)."""

from __future__ import annotations

import browser_pages as web
import numpy as np
import pytest
from browser_pages import browser_fixture  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser
web.require_browser()


@pytest.fixture(scope="module")
def server():
    from text_gaze_scenes import ColourKindScorer

    from sam_compose.adapters.prompts import clip
    from sam_compose.app import build_app

    scorer = ColourKindScorer()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clip, "shared_clip", lambda spec=None, **kw: scorer)
        with web.serve(build_app("opencv")) as url:
            yield url


def test_gaze_path_with_a_phrase_segments_the_named_thing_looked_at(browser, server, tmp_path):
    from text_gaze_scenes import two_mugs_and_a_box

    from sam_compose.image_io import save_png

    scene = two_mugs_and_a_box()
    path = save_png(tmp_path / "mugs.png", scene.image)
    context, page = web.open_page(browser, server)
    try:
        page.locator("#input-image input[type=file]").set_input_files(str(path))
        web.wait_status(page, "Loaded")
        page.wait_for_selector("#result-image img")
        page.get_by_label("gaze path").check()
        size = scene.image.shape[:2]
        for name in ("box", "mug_right"):  # the eyes rest on the box, then on the right mug
            n = 1 if name == "box" else 2
            x, y = scene.centre(name)
            web.click_image(page, (x + 0.5) / size[1], (y + 0.5) / size[0])
            web.wait_status(page, f"Gaze path: {n} fixation centre(s)")
        page.get_by_text("Gaze", exact=True).first.click()  # open the accordion
        page.fill("#gaze-text textarea", "the mug")
        page.click("#gaze-path")
        status = web.wait_status(page, "mask(s)")
        assert '"the mug"' in status and "1 mask(s)" in status, status
        out = web.result_pixels(page).astype(np.int16)
        changed = np.abs(out - scene.image.astype(np.int16)).max(axis=2) > 30
        assert changed[scene.masks["mug_right"]].mean() > 0.8  # the named thing looked at is tinted
        assert changed[scene.masks["box"]].mean() < 0.2  # the other looked-at thing is not
        assert changed[scene.masks["mug_left"]].mean() < 0.2  # nor the other mug
    finally:
        context.close()
