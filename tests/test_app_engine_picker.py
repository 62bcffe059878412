"""The demo's engine picker: the list, switching engines, downloading from a stand-in hub.

The list is built without the network; picking a model that is not here downloads it from
the local stand-in for the Hugging Face Hub (tests/hub_standin.py, via ``HF_ENDPOINT``) with
a progress bar, then every tab uses it without a restart. One test drives the page in a real
headless browser (Playwright + Debian's Chromium), like tests/test_app_browser.py.
"""

from __future__ import annotations

import os
import socket

import pytest

pytest.importorskip("gradio")

from hub_standin import HubStandIn, files_of
from network_guard import refuse_network
from tiny_models import save_tiny_pretrained

from sam_compose.errors import EngineError

REPO = "facebook/sam-vit-base"
CHROMIUM = os.environ.get("SAM_COMPOSE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def repo_files(tmp_path_factory):
    return files_of(save_tiny_pretrained(tmp_path_factory.mktemp("tiny") / "sam", family="sam"))


@pytest.fixture(scope="module")
def online(tmp_path_factory):
    """An empty cache, online (the offline variables conftest sets are lifted for this module)."""
    import huggingface_hub.constants as c

    mp = pytest.MonkeyPatch()
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SAM_COMPOSE_OFFLINE"):
        mp.delenv(var, raising=False)
    mp.setattr(c, "HF_HUB_OFFLINE", False)
    mp.setattr(c, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("cache") / "hub"))
    yield mp
    mp.undo()


def test_the_list_and_switching_engines(online, repo_files):
    from sam_compose.app.engine_picker import OPENCV_LABEL, EnginePicker, list_choices
    from sam_compose.app.handlers import SegmentHandlers

    rows = list_choices()
    assert rows[0].label == OPENCV_LABEL and rows[0].cached
    base = next(r for r in rows if r.spec == "sam-vit-base")
    assert not base.cached and "download 375 MB" in base.label and "Apache-2.0" in base.label
    sam3 = next(r for r in rows if r.spec == "sam3")
    assert "text" in sam3.label and "SAM-License" in sam3.label
    seg = SegmentHandlers("opencv")
    picker = EnginePicker("opencv")
    seg.picker = picker
    assert seg.engine.name == "opencv"
    with HubStandIn({REPO: repo_files}) as hub:
        online.setenv("HF_ENDPOINT", hub.url)
        fractions = []
        line = picker.select(base.label, progress=lambda f, desc="": fractions.append(f))
    assert fractions and fractions[-1] == 1.0 and "sam-vit-base" in line
    assert seg.engine.name == "sam" and picker.spec == "sam-vit-base"  # switched without a restart
    assert any(r.spec == "sam-vit-base" and r.cached for r in list_choices())  # now on this machine
    # offline: one line, at once (without trying the network, so nothing is waited for)
    online.setenv("HF_HUB_OFFLINE", "1")
    choice = next(r for r in list_choices() if r.spec == "sam2.1-hiera-tiny").label
    with pytest.MonkeyPatch.context() as mp:
        attempts = refuse_network(mp)
        with pytest.raises(EngineError, match="offline mode is on"):
            picker.select(choice)
    assert not attempts
    online.delenv("HF_HUB_OFFLINE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not found at {CHROMIUM}")
def test_the_picker_downloads_in_the_browser(online, repo_files, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    import huggingface_hub.constants as c

    from sam_compose.app import build_app

    online.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))  # a fresh cache: the model is not here yet
    with HubStandIn({REPO: repo_files}) as hub:
        online.setenv("HF_ENDPOINT", hub.url)
        hub.delay = 0.02  # ~300 chunks: a few seconds, so the page shows the bar
        demo = build_app("opencv")
        _, url, _ = demo.launch(
            server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True, show_error=True
        )
        try:
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(90_000)
                page.goto(url)
                page.click("text=Engine: choose, download, switch")
                page.click("#engine-pick input")
                page.click("text=sam-vit-base · download 375 MB")
                page.click("#engine-use")
                page.wait_for_selector("text=/downloading facebook\\/sam-vit-base/")  # the progress bar's text
                page.wait_for_function(
                    "() => document.querySelector('#engine-status').innerText.includes('every tab uses it')"
                )
                assert "Engine: sam-vit-base" in page.inner_text("#engine-status")
                # the Segment tab now answers with SAM
                page.click("#example-chelsea")
                page.wait_for_function("() => document.querySelector('#status').innerText.includes('Loaded')")
                img = page.locator("#result-image img")
                box = img.bounding_box()
                img.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
                page.wait_for_function("() => document.querySelector('#status').innerText.includes('mask(s)')")
                browser.close()
        finally:
            demo.close()
    gets = [p for m, p, _ in hub.requests if m == "GET" and p.endswith("model.safetensors")]
    assert gets  # downloaded through the stand-in
    from sam_compose import shared_engine

    assert shared_engine("sam-vit-base").stats.segment_calls >= 1  # the click went to the downloaded SAM


def test_a_demo_reachable_from_other_machines_downloads_nothing(online):
    from sam_compose.app.command import is_loopback
    from sam_compose.app.engine_picker import EnginePicker, list_choices
    from sam_compose.errors import InputError

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    picker = EnginePicker("opencv", downloads=False)
    offered = picker.labels()
    assert offered and all(" · download " not in label for label in offered)  # only what is here
    far = next(r for r in list_choices() if r.spec == "sam2.1-hiera-tiny" and not r.cached)
    with pytest.MonkeyPatch.context() as mp:
        attempts = refuse_network(mp)
        with pytest.raises(InputError, match="does not download models.*--allow-downloads"):
            picker.select(far.label)  # a stranger posting a label that is not offered
    assert not attempts and picker.spec == "opencv" and not picker.chosen
    assert "opencv" in picker.select(picker.labels()[0])  # what is here still switches


def test_the_demo_command_turns_downloads_off_off_loopback(monkeypatch):
    from sam_compose.app import command

    seen = {}

    class _Demo:
        def launch(self, **kw):
            seen["launch"] = kw

    def fake_build_app(**kw):
        seen["build"] = kw
        return _Demo()

    monkeypatch.setattr("sam_compose.app.build_app", fake_build_app)
    import argparse

    parser = argparse.ArgumentParser()
    command.configure(parser)
    for argv, expected in (
        (["--engine", "opencv", "--no-browser"], True),
        (["--engine", "opencv", "--no-browser", "--host", "0.0.0.0"], False),
        (["--engine", "opencv", "--no-browser", "--share"], False),
        (["--engine", "opencv", "--no-browser", "--host", "0.0.0.0", "--allow-downloads"], True),
    ):
        assert command.main(parser.parse_args(argv)) == 0
        assert seen["build"]["allow_downloads"] is expected, argv
