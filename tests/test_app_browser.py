"""The demo in a real headless browser: Playwright driving Debian's Chromium (/usr/bin/chromium).

One server and one browser per module. The tests load the page, pick an example photo,
click on the object and check the returned overlay pixel by pixel; two browser contexts
(two sessions) click at once and must not see each other's points.
"""

from __future__ import annotations

import browser_pages as web
import numpy as np
import pytest
from browser_pages import browser_fixture  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser
web.require_browser()


@pytest.fixture(scope="module")
def server():
    from sam_compose.app import build_app

    with web.serve(build_app("opencv")) as url:
        yield url


def _load_example(page, name: str) -> None:
    page.click(f"#example-{name}")
    web.wait_status(page, f"Loaded sample:{name}")
    page.wait_for_selector("#result-image img")


def _wait_new_result(page, old_src: str | None) -> None:
    page.wait_for_function(
        "old => { const i = document.querySelector('#result-image img'); return i && i.src && i.src !== old; }",
        arg=old_src or "",
        timeout=web.TIMEOUT_MS,
    )


def _click_and_wait(page, fx: float, fy: float, expect: str) -> str:
    """Click at (fx, fy) of the result picture; wait for ``expect`` in the status and a new picture."""
    old_src = page.locator("#result-image img").get_attribute("src")
    web.click_image(page, fx, fy)
    status = web.wait_status(page, expect)
    _wait_new_result(page, old_src)
    return status


def test_pick_example_click_object_and_see_the_overlay(browser, server):
    from sam_compose.samples import sample_image
    from sam_compose.visualize import colour

    context, page = web.open_page(browser, server)
    try:
        _load_example(page, "horse")
        original = sample_image("horse")
        before = web.result_pixels(page)
        assert before.shape == original.shape
        assert np.abs(before.astype(int) - original.astype(int)).max() <= 2  # plain photo before any click
        status = _click_and_wait(page, 0.5, 0.5, "mask(s)")  # on the horse's body
        assert "1 point(s) (+1/-0)" in status and "ms" in status  # latency is shown
        after = web.result_pixels(page).astype(np.float32)
        changed = np.abs(after - original.astype(np.float32)).max(axis=2) > 8
        assert changed.mean() > 0.02, "the overlay shows no mask"
        # most changed pixels are the photo tinted half-way towards the first palette colour
        expected = original.astype(np.float32) * 0.5 + np.array(colour(0), np.float32) * 0.5
        tinted = (np.abs(after - expected).max(axis=2) <= 3) & changed
        assert tinted.sum() > 0.6 * changed.sum()
        # the tint covers the clicked place
        h, w = original.shape[:2]
        assert tinted[int(0.5 * h) - 20 : int(0.5 * h) + 20, int(0.5 * w) - 20 : int(0.5 * w) + 20].mean() > 0.5
    finally:
        context.close()


def test_two_sessions_at_once_do_not_see_each_others_points(browser, server):
    ctx_a, page_a = web.open_page(browser, server)
    ctx_b, page_b = web.open_page(browser, server)
    try:
        page_a.click("#example-chelsea")
        page_b.click("#example-chelsea")
        web.wait_status(page_a, "Loaded sample:chelsea")
        web.wait_status(page_b, "Loaded sample:chelsea")
        page_a.wait_for_selector("#result-image img")
        page_b.wait_for_selector("#result-image img")
        src_a = page_a.locator("#result-image img").get_attribute("src")
        src_b = page_b.locator("#result-image img").get_attribute("src")
        web.click_image(page_a, 0.45, 0.5)  # both sessions click at about the same time
        web.click_image(page_b, 0.7, 0.5)
        web.wait_status(page_a, "1 point(s)")
        web.wait_status(page_b, "1 point(s)")
        _wait_new_result(page_a, src_a)
        _wait_new_result(page_b, src_b)
        page_a.get_by_label("negative point").check()
        status_a = _click_and_wait(page_a, 0.1, 0.1, "2 point(s) (+1/-1)")
        status_b = web.read_status(page_b)
        assert "1 point(s) (+1/-0)" in status_b, status_b  # B never saw A's second point
        assert "2 point(s)" in status_a
    finally:
        ctx_a.close()
        ctx_b.close()


def test_click_before_any_upload_shows_a_friendly_message(browser, server):
    context, page = web.open_page(browser, server)
    try:
        page.click("#automatic")
        page.get_by_text("no image yet").first.wait_for(timeout=web.TIMEOUT_MS)
        # the page keeps working afterwards
        _load_example(page, "coins")
        assert "Loaded sample:coins" in web.read_status(page)
    finally:
        context.close()


def test_non_image_upload_shows_a_friendly_message(browser, server, tmp_path):
    fake = tmp_path / "holiday.png"
    fake.write_text("this is a text file with an image name")
    context, page = web.open_page(browser, server)
    try:
        page.locator("#input-image input[type=file]").set_input_files(str(fake))
        page.get_by_text("holiday.png is not an image").first.wait_for(timeout=web.TIMEOUT_MS)
        text = tmp_path / "notes.txt"
        text.write_text("plain text")
        page.locator("#input-image input[type=file]").set_input_files(str(text))
        page.get_by_text("Invalid file type").first.wait_for(timeout=web.TIMEOUT_MS)
        _load_example(page, "coffee")  # the page keeps working
    finally:
        context.close()


@pytest.mark.slow
def test_video_tab_tracks_a_clicked_object_in_the_example_video(browser, server):
    context, page = web.open_page(browser, server)
    try:
        page.get_by_role("tab", name="Video").click()
        page.click("#video-example-cross")
        page.wait_for_selector("#video-frame img")
        frame = page.locator("#video-frame img")
        box = frame.bounding_box()
        page.wait_for_function("document.body.innerText.includes('Example video')", timeout=web.TIMEOUT_MS)
        # pick frame 30 in the number box next to the slider, then click the first disc there
        from sam_compose.adapters.outputs.tracking.synth import synthetic_video

        truth = synthetic_video("cross", n_frames=40, size=(240, 320), seed=1)
        number = page.get_by_label("number input for Prompt on frame")
        number.fill("30")
        number.press("Enter")
        page.wait_for_function("document.body.innerText.includes('Frame 30')", timeout=web.TIMEOUT_MS)
        ys, xs = np.nonzero(truth.masks[30, 0])
        frame.click(position={"x": box["width"] * np.median(xs) / 320, "y": box["height"] * np.median(ys) / 240})
        page.wait_for_function("document.body.innerText.includes('Prompt set')", timeout=web.TIMEOUT_MS)
        page.click("#track")
        page.wait_for_function("document.body.innerText.includes('Tracked 10 frames')", timeout=web.TIMEOUT_MS)
        src = page.locator("#video-out video").get_attribute("src")
        assert src and page.request.get(src).ok
    finally:
        context.close()
