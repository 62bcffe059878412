"""The demo in a real headless browser, for the browser tests (Playwright driving Debian's Chromium).

``require_browser()`` at a test module's top skips the module when Chromium or Playwright is
missing (CI installs them: ``apt-get install -y chromium``) and returns ``playwright.sync_api``;
the ``browser`` fixture is one Chromium per module (import ``browser_fixture`` into the test module);
``serve(demo)`` runs a built Gradio demo on a free local port for as long as its block lasts.
The page helpers find the demo's elements by their ``elem_id`` (``#status``, ``#result-image``).
"""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

CHROMIUM = os.environ.get("SAM_COMPOSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 90_000


def require_browser() -> Any:
    """``playwright.sync_api``; skips the calling test module when Chromium or Playwright is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"Chromium not found at {CHROMIUM}; install it with `apt-get install -y chromium`", allow_module_level=True
        )
    return pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """One headless Chromium for the module (import ``browser_fixture``; tests ask for ``browser``)."""
    sync_api = require_browser()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(demo: Any) -> Iterator[str]:
    """The URL of ``demo`` (a ``gr.Blocks``) served on 127.0.0.1 until the block ends."""
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, show_error=True
    )
    try:
        yield url
    finally:
        demo.close()


def open_page(browser: Any, url: str) -> tuple[Any, Any]:
    """A new browser context (a new session) and its page, showing the demo ready for input."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#example-chelsea")
    return context, page


def read_status(page: Any) -> str:
    return page.inner_text("#status")


def wait_status(page: Any, text: str) -> str:
    """The status line once it contains ``text``."""
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text, timeout=TIMEOUT_MS)
    return read_status(page)


def click_image(page: Any, fx: float, fy: float) -> None:
    """Click the result picture at (fx, fy), fractions of its width and height."""
    img = page.locator("#result-image img")
    box = img.bounding_box()
    img.click(position={"x": box["width"] * fx, "y": box["height"] * fy})


def result_pixels(page: Any) -> np.ndarray:
    """The result picture as served, (H, W, 3) uint8 RGB."""
    from PIL import Image

    src = page.locator("#result-image img").get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))
