"""Finding 7: ``/segment`` silently downscaled images over 2048 px and answered in the smaller
frame: masks and RLE sizes did not match the uploaded image and nothing said so."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from sam_compose.app.api import ApiEndpoints
from sam_compose.app.handlers import SegmentHandlers
from sam_compose.app.sessions import DemoWorkspace


class _Evt:
    def __init__(self, index):
        self.index = index


@pytest.fixture
def big_upload(tmp_path):
    from pathlib import Path

    from gradio.utils import get_upload_folder

    img = np.full((300, 2600, 3), 40, np.uint8)
    img[100:200, 2300:2500] = (230, 40, 40)  # a red block near the right edge
    folder = Path(get_upload_folder()) / f"test-{tmp_path.name}"
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "wide.png"
    Image.fromarray(img).save(p)
    yield p
    p.unlink()
    folder.rmdir()


def test_segment_answers_in_the_uploaded_images_frame(big_upload, tmp_path):
    from pycocotools import mask as mask_utils

    api = ApiEndpoints("opencv", workspace=DemoWorkspace(tmp_path / "w"))
    overlay, result = api.segment(str(big_upload), '{"box": [2290, 90, 2510, 210]}')
    assert overlay.shape[:2] == (300, 2600)
    rle = result["masks"][0]["rle"]
    assert list(rle["size"]) == [300, 2600]
    mask = mask_utils.decode(
        {"size": rle["size"], "counts": rle["counts"].encode() if isinstance(rle["counts"], str) else rle["counts"]}
    ).astype(bool)
    ys, xs = np.nonzero(mask)
    assert xs.min() >= 2280 and xs.max() <= 2520 and ys.min() >= 90 and ys.max() <= 210
    assert result.get("image_size") == [300, 2600]


def test_the_page_says_when_it_downscales_and_downloads_are_at_full_size(big_upload, tmp_path):
    import zipfile

    ws = DemoWorkspace(tmp_path / "w")
    h = SegmentHandlers("opencv", workspace=ws)
    s = ws.new_session()
    s, _, _, status, _, _ = h.load(str(big_upload), s)
    assert "2600x300" in status and "2048" in status
    scale = s.image.shape[1] / 2600
    s, *_ = h.click(s, "positive point", False, _Evt([2400 * scale, 150 * scale]))
    _, zip_path = h.download(s)
    with zipfile.ZipFile(zip_path) as zf, zf.open("mask_0.png") as f:
        png = np.asarray(Image.open(f))
    assert png.shape == (300, 2600)
    _, xs = np.nonzero(png)
    assert xs.min() >= 2280 and xs.max() <= 2520
