"""Fixtures shared by the demo's tests: a small synthetic scene with exact masks, files to upload
(a photo, a moving-square video, things that are not images or videos), a folder inside
Gradio's uploads folder, and the event object Gradio hands to click handlers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from sam_compose.image_io import save_png
from sam_compose.samples import synthetic_scene


class Evt(SimpleNamespace):
    """Stands in for ``gr.SelectData``: ``index`` is the clicked (x, y)."""


@pytest.fixture(scope="module")
def small_scene():
    return synthetic_scene(seed=3, size=(240, 320))


@pytest.fixture(scope="module")
def assets(tmp_path_factory, small_scene):
    d = tmp_path_factory.mktemp("app_assets")
    save_png(d / "scene.png", small_scene.image)
    (d / "notes.txt").write_text("this is not an image\n")
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    # a square moving right over 10 frames
    writer = cv2.VideoWriter(str(d / "moving.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(10):
        frame = np.full((120, 160, 3), (40, 90, 40), np.uint8)
        cv2.rectangle(frame, (20 + 6 * i, 40), (60 + 6 * i, 80), (230, 60, 200), -1)
        writer.write(frame)
    writer.release()
    return d


@pytest.fixture
def upload_dir():
    """A folder inside Gradio's uploads folder: what the demo's events may read (as an upload)."""
    import shutil
    import uuid

    from gradio.utils import get_upload_folder

    d = Path(get_upload_folder()) / f"test-{uuid.uuid4().hex}"
    d.mkdir(parents=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)
