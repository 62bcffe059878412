"""load_image: conversions that must work, and inputs that must fail with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sam_compose import ImageError, load_image


def test_rgb_array_passes_through_without_copy():
    arr = np.zeros((20, 30, 3), np.uint8)
    assert load_image(arr) is arr


def test_grayscale_rgba_16bit_and_float_are_converted(tmp_path):
    gray = (np.arange(20 * 30) % 256).reshape(20, 30).astype(np.uint8)
    out = load_image(gray)
    assert out.shape == (20, 30, 3) and (out[..., 0] == gray).all() and (out[..., 2] == gray).all()

    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :15, 3] = 255  # left half opaque red, right half transparent -> white
    out = load_image(rgba)
    assert tuple(out[0, 0]) == (200, 0, 0) and tuple(out[0, 29]) == (255, 255, 255)

    sixteen = np.full((20, 30), 65535, np.uint16)
    sixteen[:, :10] = 257 * 100
    p = tmp_path / "deep.png"
    Image.fromarray(sixteen).save(p)
    out = load_image(p)
    assert out.dtype == np.uint8 and out[0, 0, 0] == 100 and out[0, 20, 1] == 255

    flt = np.full((20, 30, 3), 0.5, np.float32)
    assert load_image(flt)[0, 0, 0] == 128

    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert tuple(load_image(tmp_path / "rgba.png")[0, 29]) == (255, 255, 255)


def test_sample_images_and_pil():
    img = load_image("sample:coffee")
    assert img.shape == (400, 600, 3) and img.dtype == np.uint8
    assert load_image(Image.fromarray(img)).shape == img.shape
    with pytest.raises(ImageError, match="unknown sample image"):
        load_image("sample:nope")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.png", "not found"),
        (lambda d: (d / "text.png").write_text("hello, not an image") and d / "text.png", "not an image"),
        (lambda d: d, "is a folder"),
    ],
)
def test_bad_files(tmp_path, make, message):
    with pytest.raises(ImageError, match=message):
        load_image(make(tmp_path))


def test_truncated_jpeg(tmp_path):
    src = tmp_path / "full.jpg"
    Image.fromarray(load_image("sample:chelsea")).save(src, quality=90)
    data = src.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="truncated|decode"):
        load_image(cut)


@pytest.mark.parametrize("shape", [(0, 0, 3), (1, 1, 3), (5, 100, 3)])
def test_tiny_images_are_refused(shape):
    with pytest.raises(ImageError, match="at least 8x8"):
        load_image(np.zeros(shape, np.uint8))


def test_huge_image_refused_from_header_without_decoding(tmp_path):
    # A 20000x20000 PNG compresses to a few hundred KB; the refusal must come from the header.
    p = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(p)
    with pytest.raises(ImageError, match="over the limit"):
        load_image(p)


def test_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("SAM_COMPOSE_MAX_PIXELS", "100")
    with pytest.raises(ImageError, match="SAM_COMPOSE_MAX_PIXELS"):
        load_image(np.zeros((20, 20, 3), np.uint8))


@pytest.mark.parametrize(
    "arr, message",
    [
        (np.zeros((10, 10, 2), np.uint8), "expected"),
        (np.full((10, 10, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((10, 10, 3), np.nan, np.float32), "NaN"),
        (np.full((10, 10, 3), 300, np.int32), "0..255"),
    ],
)
def test_bad_arrays(arr, message):
    with pytest.raises(ImageError, match=message):
        load_image(arr)


def test_unsupported_type():
    with pytest.raises(ImageError, match="cannot read an image"):
        load_image(42)
