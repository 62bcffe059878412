"""Inpainting: known backgrounds are reconstructed, crop-and-paste equals the full-frame
result, the optional diffusers backend fails clearly and plugs in correctly, video runs
frame by frame, and the issue's bad inputs get clear outcomes."""

from __future__ import annotations

import sys
import types

import cv2
import numpy as np
import pytest

from sam_compose.adapters.outputs.inpainting import inpaint, inpaint_frames
from sam_compose.errors import EngineError, InputError, MissingDependencyError
from sam_compose.masks import Masks

TOL = 6.0
"""Mean absolute error allowed in a filled region, grey levels (2.4% of the range): Telea and
Navier-Stokes interpolate a steep gradient (0.5-0.75 levels per pixel here) slightly off."""


def gradient(h: int, w: int) -> np.ndarray:
    """A smooth RGB background: linear ramps in x, y and x + y."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([40 + 160 * x / w, 30 + 180 * y / h, 60 + 120 * (x + y) / (w + h)], -1).round().astype(np.uint8)


def disc(h: int, w: int, centre: tuple[int, int], r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, centre, r, 1, -1)
    return m.astype(bool)


@pytest.fixture(scope="module")
def scene():
    bg = gradient(240, 320)
    mask = disc(240, 320, (150, 110), 28) | disc(240, 320, (260, 190), 15)
    img = bg.copy()
    img[mask] = (220, 20, 20)  # a red object on the smooth background
    return bg, img, mask


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_background_reconstructed(scene, method):
    bg, img, mask = scene
    out = inpaint(img, Masks(mask), method=method)
    err = np.abs(out.astype(float) - bg.astype(float))[mask].mean()
    assert err < TOL, err  # within 2% of the range; the object (about 100 grey levels off) is gone
    assert np.abs(img.astype(float) - bg.astype(float))[mask].mean() > 50
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.array_equal(out[far], img[far])  # nothing else changes
    assert np.array_equal(img[mask][0], [220, 20, 20])  # the input is not modified


def test_dilation_removes_a_halo(scene):
    bg, img, mask = scene
    halo = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~mask
    dirty = img.copy()
    dirty[halo] = (120, 60, 60)  # an anti-aliased edge SAM's mask does not cover
    ring = halo
    tight = inpaint(dirty, mask, dilate=0)
    grown = inpaint(dirty, mask, dilate=4)
    e_tight = np.abs(tight.astype(float) - bg)[mask | ring].mean()
    e_grown = np.abs(grown.astype(float) - bg)[mask | ring].mean()
    assert e_grown < TOL and e_tight > 2 * e_grown, (e_tight, e_grown)


def test_feather_blends_without_a_seam(scene):
    bg, img, mask = scene
    hard = inpaint(img, mask, dilate=3, feather=0)
    soft = inpaint(img, mask, dilate=3, feather=6)

    def ellipse(r):
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))

    core = cv2.dilate(mask.astype(np.uint8), ellipse(3)).astype(bool)
    band = cv2.dilate(mask.astype(np.uint8), ellipse(9)).astype(bool) & ~core
    assert np.abs(soft[core].astype(float) - bg[core]).mean() < TOL  # the dilated mask is fully replaced
    assert np.array_equal(hard[band], img[band])  # without feathering the band is untouched
    changed = np.abs(soft[band].astype(int) - img[band].astype(int)).max(axis=-1) > 0
    assert changed.any()  # with it, the band mixes fill and original ...
    assert np.abs(soft[band].astype(float) - bg[band]).mean() < TOL  # ... and still matches the background
    outside = ~cv2.dilate(mask.astype(np.uint8), ellipse(10)).astype(bool)
    assert np.array_equal(soft[outside], img[outside])


@pytest.mark.parametrize("method", ["telea", "ns"])
@pytest.mark.parametrize("feather", [0, 5])
def test_crop_and_paste_equals_full_frame(method, feather):
    h, w = 1200, 1600
    bg = gradient(h, w)
    mask = disc(h, w, (300, 250), 25) | disc(h, w, (1300, 1000), 18) | disc(h, w, (320, 270), 10)
    img = bg.copy()
    img[mask] = (10, 200, 10)
    a = inpaint(img, mask, method=method, crop=True, feather=feather)
    b = inpaint(img, mask, method=method, crop=False, feather=feather)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_empty_mask_returns_copy(scene):
    _, img, _ = scene
    out = inpaint(img, np.zeros(img.shape[:2], bool))
    assert np.array_equal(out, img) and out is not img
    assert np.array_equal(inpaint(img, Masks.empty(img.shape[:2])), img)


def test_mask_covering_whole_image(scene):
    _, img, _ = scene
    with pytest.raises(InputError, match="whole image"):
        inpaint(img, np.ones(img.shape[:2], bool))
    almost = np.ones(img.shape[:2], bool)
    almost[0, 0] = False
    with pytest.raises(InputError, match="dilate"):
        inpaint(img, almost, dilate=3)
    assert inpaint(img, almost, dilate=0).shape == img.shape  # one known pixel: fills from it


def test_bad_arguments(scene):
    _, img, mask = scene
    with pytest.raises(InputError, match="method"):
        inpaint(img, mask, method="magic")
    with pytest.raises(InputError, match="radius"):
        inpaint(img, mask, radius=0)
    with pytest.raises(InputError, match="masks are"):
        inpaint(img, mask[:100])
    with pytest.raises(InputError, match="shape"):
        inpaint(img, np.zeros((2, 2, 2, 2)))


def test_frames_of_a_video():
    h, w = 120, 160
    bg = gradient(h, w)
    frames, masks = [], []
    for t in range(5):  # an object moving right
        m = disc(h, w, (40 + 15 * t, 60), 12)
        f = bg.copy()
        f[m] = (255, 0, 255)
        frames.append(f)
        masks.append(Masks(m))
    out = list(inpaint_frames(zip(frames, masks)))
    assert len(out) == 5
    for o, m in zip(out, masks):
        assert np.abs(o.astype(float) - bg)[m.masks[0]].mean() < TOL
    assert len(list(inpaint_frames(frames, masks, method="ns"))) == 5
    with pytest.raises(InputError, match="different lengths"):
        list(inpaint_frames(frames, masks[:3]))


def test_diffusers_missing_gives_clear_message(scene, monkeypatch):
    _, img, mask = scene
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"sam-compose\[diffusers\]"):
        inpaint(img, mask, method="diffusers")


def _fake_diffusers(monkeypatch, behaviour):
    calls = {}

    class FakePipe:
        @classmethod
        def from_pretrained(cls, model, local_files_only=False):
            calls["model"], calls["local_files_only"] = model, local_files_only
            if behaviour == "missing":
                raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")
            return cls()

        def to(self, device):
            calls["device"] = device
            return self

        def __call__(self, prompt, image, mask_image, num_inference_steps, generator, height, width):
            calls["size"], calls["prompt"] = image.size, prompt
            calls["mask_fraction"] = float(np.asarray(mask_image).astype(bool).mean())
            from PIL import Image

            return types.SimpleNamespace(images=[Image.new("RGB", image.size, (0, 0, 255))])

    module = types.ModuleType("diffusers")
    module.AutoPipelineForInpainting = FakePipe
    monkeypatch.setitem(sys.modules, "diffusers", module)
    from sam_compose.engines.hub import forget_shared_models

    forget_shared_models("diffusers")
    return calls


def test_diffusers_without_weights_offline(scene, monkeypatch, tmp_path):
    _, img, mask = scene
    _fake_diffusers(monkeypatch, "missing")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError, match="sam-compose models download"):
        inpaint(img, mask, method="diffusers", model="stabilityai/stable-diffusion-2-inpainting")
    with pytest.raises(EngineError, match="could not load"):
        inpaint(img, mask, method="diffusers", model=str(tmp_path))  # a local folder without weights


def test_diffusers_backend_plumbing(scene, monkeypatch, tmp_path):
    """With a stand-in pipeline (blue output) only the masked pixels change, at the right size."""
    _, img, mask = scene
    calls = _fake_diffusers(monkeypatch, "ok")
    out = inpaint(img, mask, method="diffusers", model=str(tmp_path), prompt="grass", dilate=0)
    assert calls["size"] == (512, 512) and calls["prompt"] == "grass" and 0 < calls["mask_fraction"] < 0.5
    assert np.all(out[mask] == (0, 0, 255))
    assert np.array_equal(out[~mask], img[~mask])


# --- node and demo graph ---------------------------------------------------------------


def test_coins_demo_removes_two_coins(tmp_path):
    import json
    from pathlib import Path

    import sam_compose as sc
    from sam_compose.adapters.outputs.exports import read_record
    from sam_compose.image_io import load_image

    demo = Path(__file__).resolve().parent.parent / "demos" / "inpaint_coins.json"
    report = sc.Graph.from_file(demo).run(out_dir=tmp_path, raise_on_error=True)
    before = load_image("sample:coins").astype(float)
    after = load_image(report["outputs"]["save"]).astype(float)
    masks, rec = read_record(report["outputs"]["record"])
    assert len(masks) == 2 and rec["engine"] is not None
    removed = masks.union()
    # the coins (bright) are replaced by the dark background around them
    assert after[removed].mean() < before[removed].mean() - 40
    ring = cv2.dilate(removed.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool) & ~cv2.dilate(
        removed.astype(np.uint8), np.ones((11, 11), np.uint8)
    ).astype(bool)
    assert abs(after[removed].mean() - before[ring].mean()) < 25
    far = ~cv2.dilate(removed.astype(np.uint8), np.ones((21, 21), np.uint8)).astype(bool)
    assert np.array_equal(after[far], before[far])
    assert json.loads(Path(report["outputs"]["record"]).read_text())["prompts"][0]["box"] == [300, 10, 368, 76]


def test_inpaint_node_defaults_and_choices():
    from sam_compose.nodes import registry
    from sam_compose.nodes.api import GraphError

    spec = registry.get("inpaint")
    assert spec.origin.startswith("sam_compose.nodes.outputs")
    params = spec.check_params({"method": "ns", "feather": 2})
    bg = gradient(240, 320)
    m = disc(240, 320, (150, 120), 12)
    img = bg.copy()
    img[m] = 0
    out = spec.instantiate(params)(image=img, masks=Masks(m))
    assert np.abs(out.astype(float) - bg)[m].mean() < TOL
    with pytest.raises(GraphError, match="method"):
        spec.check_params({"method": "magic"})


def test_video_demo_removes_tracked_objects_from_every_frame(tmp_path):
    """synthetic clip -> track -> inpaint per frame -> PNGs: the objects' pixels end up
    looking like the background around them in every frame."""
    from pathlib import Path

    import sam_compose as sc
    from sam_compose.adapters.outputs.tracking.synth import synthetic_video
    from sam_compose.image_io import load_image

    demo = Path(__file__).resolve().parent.parent / "demos" / "inpaint_video.json"
    sc.Graph.from_file(demo).run(out_dir=tmp_path, raise_on_error=True)
    video = synthetic_video("motion", n_frames=12, size=(120, 160), seed=0)
    files = sorted((tmp_path / "removed").glob("*.png"))
    assert len(files) == 12
    for t, f in enumerate(files):
        out = load_image(f).astype(float)
        frame = video.frames[t].astype(float)
        for m in video.masks[t]:
            if m.sum() < 30:
                continue
            ring = cv2.dilate(m.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~cv2.dilate(
                m.astype(np.uint8), np.ones((7, 7), np.uint8)
            ).astype(bool)
            before = np.abs(frame[m].mean(0) - frame[ring].mean(0)).max()
            after = np.abs(out[m].mean(0) - frame[ring].mean(0)).max()
            assert after < 20 and after < before / 2, (t, before, after)
