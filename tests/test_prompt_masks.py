"""Prior masks: mask_to_prompt puts the mask in SAM's padded low-res frame as logits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sam_compose.adapters.prompts import mask_to_prompt, refine_with_mask
from sam_compose.adapters.prompts.masks import read_mask
from sam_compose.adapters.prompts.request import prompts_from_request
from sam_compose.errors import ImageError, PromptError
from sam_compose.geometry import LOWRES_SIZE, from_lowres, lowres_shape, mask_iou
from sam_compose.types import Prompt


def test_binary_mask_lands_in_the_padded_frame(scene):
    size = scene.image.shape[:2]  # 480 x 640: landscape, so the frame has padding at the bottom
    m = scene.masks[0]
    p = mask_to_prompt(m, image_size=size)
    assert p.mask.shape == (LOWRES_SIZE, LOWRES_SIZE) and p.mask.dtype == np.float32
    lh, lw = lowres_shape(size)
    assert (lh, lw) == (192, 256)
    assert np.all(p.mask[lh:, :] == -10.0)  # padding is confident background
    assert p.mask.max() == 10.0 and p.mask.min() == -10.0
    assert mask_iou(from_lowres(p.mask, size) > 0, m) >= 0.97
    ys, xs = np.nonzero(m)
    np.testing.assert_allclose(p.box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    x, y = p.points[0]
    assert m[int(y), int(x)] and p.labels.tolist() == [1]
    assert p.data["adapter"] == "mask" and p.data["kind"] == "binary"
    only = mask_to_prompt(m, image_size=size, box=False, points=0)
    assert only.box is None and only.points is None and np.array_equal(only.mask, p.mask)


def test_soft_masks_logits_and_integer_masks(scene):
    size = scene.image.shape[:2]
    m = scene.masks[1]
    soft = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2)
    ps = mask_to_prompt(soft, image_size=size)
    assert ps.data["kind"] == "soft"
    assert mask_iou(from_lowres(ps.mask, size) > 0, m) >= 0.95
    full_logits = (m.astype(np.float32) * 2 - 1) * 7.0
    pl = mask_to_prompt(full_logits, image_size=size)
    assert pl.mask.max() == pytest.approx(7.0) and mask_iou(from_lowres(pl.mask, size) > 0, m) >= 0.97
    p255 = mask_to_prompt(m.astype(np.uint8) * 255, image_size=size)
    np.testing.assert_array_equal(p255.mask, mask_to_prompt(m, image_size=size).mask)
    p3 = mask_to_prompt(torch.from_numpy(m)[None], image_size=size)  # (1, H, W) tensors too
    np.testing.assert_array_equal(p3.mask, p255.mask)


def test_lowres_logits_pass_through_unchanged(scene, opencv_engine):
    size = scene.image.shape[:2]
    res = opencv_engine.segment(scene.image, Prompt(box=scene.boxes[0]))
    logits = res.logits[0]
    p = mask_to_prompt(logits, image_size=size)
    assert np.array_equal(p.mask, logits) and p.data["kind"] == "lowres_logits"
    assert p.box is not None and p.points is not None  # derived from the logits at the image size
    q = mask_to_prompt(res)  # a one-row Masks: its logits pass through, its size is known
    assert np.array_equal(q.mask, logits)
    r = mask_to_prompt(logits)  # without image_size: logits only
    assert np.array_equal(r.mask, logits) and r.box is None
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 5, (256, 256)).astype(np.float32)
    np.testing.assert_array_equal(mask_to_prompt(raw, image_size=(100, 300)).mask, raw)


def test_bad_masks_give_clear_errors(scene):
    size = scene.image.shape[:2]
    m = scene.masks[0]
    with pytest.raises(PromptError, match=r"prior mask is 320x240 \(W x H\) but the image is 640x480"):
        mask_to_prompt(m[::2, ::2], image_size=size)
    with pytest.raises(PromptError, match=r"2-D \(H, W\).*single-channel"):
        mask_to_prompt(np.repeat(m[..., None], 3, axis=2), image_size=size)
    with pytest.raises(PromptError, match="empty"):
        mask_to_prompt(np.zeros(size, bool), image_size=size)
    with pytest.raises(PromptError, match="NaN"):
        mask_to_prompt(np.full(size, np.nan), image_size=size)
    with pytest.raises(PromptError, match="needs image_size"):
        mask_to_prompt(m)
    with pytest.raises(PromptError, match="no positive value"):
        mask_to_prompt(np.full((256, 256), -3.0, np.float32))
    with pytest.raises(PromptError, match="takes one mask"):
        from sam_compose.masks import Masks

        mask_to_prompt(Masks(scene.masks))


def test_read_mask_formats(tmp_path, scene):
    m = scene.masks[2]
    cv2.imwrite(str(tmp_path / "m.png"), m.astype(np.uint8) * 255)
    assert np.array_equal(read_mask(tmp_path / "m.png"), m)
    cv2.imwrite(str(tmp_path / "m01.png"), m.astype(np.uint8))
    assert np.array_equal(read_mask(tmp_path / "m01.png"), m)
    cv2.imwrite(str(tmp_path / "m16.png"), m.astype(np.uint16) * 65535)
    assert np.array_equal(read_mask(tmp_path / "m16.png"), m)
    cv2.imwrite(str(tmp_path / "m16_255.png"), m.astype(np.uint16) * 255)  # 8-bit values in a 16-bit file
    assert np.array_equal(read_mask(tmp_path / "m16_255.png"), m)
    soft = cv2.GaussianBlur(m.astype(np.uint8) * 255, (0, 0), 1.5)
    cv2.imwrite(str(tmp_path / "soft.png"), soft)
    assert mask_iou(read_mask(tmp_path / "soft.png"), m) > 0.95
    rgba = np.zeros((*m.shape, 4), np.uint8)
    rgba[..., 3] = m * 255  # a brush layer: colour constant, alpha carries the mask
    cv2.imwrite(str(tmp_path / "brush.png"), rgba)
    assert np.array_equal(read_mask(tmp_path / "brush.png"), m)
    np.save(tmp_path / "m.npy", m)
    assert np.array_equal(read_mask(tmp_path / "m.npy"), m)
    with pytest.raises(ImageError, match="not found"):
        read_mask(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageError, match="could not read mask"):
        read_mask(tmp_path / "text.png")
    p = mask_to_prompt(tmp_path / "m.png", image_size=m.shape)
    assert p.data["source"].endswith("m.png")


class SpyEngine:
    """Delegates to a real engine and records every prompt it receives."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []
        self.spec = engine.spec

    def segment(self, image, prompt, multimask=False):
        res = self.engine.segment(image, prompt, multimask=multimask)
        self.calls.append((prompt, multimask, res))
        return res


def test_refinement_feeds_each_result_back(scene, opencv_engine):
    m = scene.masks[0]
    rough = cv2.dilate(m.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)  # a sloppy prior
    spy = SpyEngine(opencv_engine)
    res = refine_with_mask(scene.image, rough, engine=spy, iterations=3, stop_iou=1.01)
    assert len(spy.calls) == 3 and [c[1] for c in spy.calls] == [True, False, False]
    for (_, _, prev), (nxt, _, _) in zip(spy.calls, spy.calls[1:]):
        assert np.array_equal(nxt.mask, prev.best().logits[0])  # the previous result's logits, unchanged
    assert len(res) == 1 and res.data["refinement"]["iterations"] == 3
    assert mask_iou(res.masks[0], m) >= 0.85
    assert mask_iou(res.masks[0], m) > mask_iou(rough, m)
    early = refine_with_mask(scene.image, rough, engine=SpyEngine(opencv_engine), iterations=5, stop_iou=0.0)
    assert early.data["refinement"]["iterations"] == 2
    with pytest.raises(PromptError, match="at least 1"):
        refine_with_mask(scene.image, rough, engine=opencv_engine, iterations=0)
    with pytest.warns(DeprecationWarning, match="engine=engine"):  # the old order still works
        old = refine_with_mask(opencv_engine, scene.image, rough, iterations=1)
    assert np.array_equal(old.masks, refine_with_mask(scene.image, rough, engine="opencv", iterations=1).masks)


def test_request_front_door_uses_the_mask(scene):
    size = scene.image.shape[:2]
    alone = prompts_from_request(scene.image, mask=scene.masks[0])
    assert len(alone) == 1 and alone[0].mask is not None and alone[0].box is not None
    with_box = prompts_from_request(scene.image, boxes=[scene.boxes[0].tolist()], mask=scene.masks[0])
    assert len(with_box) == 1 and np.array_equal(with_box[0].box, scene.boxes[0])
    assert np.array_equal(with_box[0].mask, mask_to_prompt(scene.masks[0], image_size=size).mask)


def test_request_front_door_rejects_non_numeric_points(scene):
    with pytest.raises(PromptError, match=r"points must be numbers"):
        prompts_from_request(scene.image, points=[["a", "b"]])


# --- the reference implementation ----------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    """A shrunken random SAM ViT-B from segment_anything's own builder, saved as a .pth."""
    from tiny_models import tiny_meta_sam

    sam = tiny_meta_sam(embed_dim=32, depth=2, heads=2, global_attn=(1,), seed=0, randomize_positions=False)
    path = tmp_path_factory.mktemp("sam") / "sam_vit_tiny.pth"
    torch.save(sam.state_dict(), path)
    return sam, path


@pytest.mark.parametrize("size", [(480, 640), (300, 200)])
def test_frame_matches_the_reference_postprocessing(tiny_sam, size):
    """SamPredictor maps mask_input back to the image exactly as our frame says it should."""
    from segment_anything.utils.transforms import ResizeLongestSide

    sam, _ = tiny_sam
    h, w = size
    m = np.zeros(size, bool)
    cv2.ellipse(m.view(np.uint8), (w // 3, h // 2), (w // 6, h // 4), 20, 0, 360, 1, -1)
    p = mask_to_prompt(m, image_size=size)
    input_size = ResizeLongestSide(sam.image_encoder.img_size).get_preprocess_shape(h, w, sam.image_encoder.img_size)
    with torch.no_grad():
        # the reference upsamples low-res logits: 256 -> 1024, crop the input size, resize to the original
        up = sam.postprocess_masks(torch.tensor(p.mask)[None, None], tuple(input_size), size)[0, 0].numpy()
    assert mask_iou(up > 0, m) >= 0.97
    stretched = cv2.resize(m.astype(np.float32), (256, 256), interpolation=cv2.INTER_AREA) * 20 - 10
    with torch.no_grad():
        naive = sam.postprocess_masks(torch.from_numpy(stretched)[None, None], tuple(input_size), size)[0, 0].numpy()
    assert mask_iou(naive > 0, m) < 0.9  # the common mistake (issues #169, #242) really misplaces it


def _reference_predict(sam, image, prompt, multimask=False):
    from segment_anything import SamPredictor

    pred = SamPredictor(sam)
    pred.set_image(image)
    masks, scores, low = pred.predict(
        point_coords=None if prompt.points is None else np.array(prompt.points),
        point_labels=None if prompt.labels is None else np.array(prompt.labels),
        box=None if prompt.box is None else np.array(prompt.box),
        mask_input=np.array(prompt.mask[None]),
        multimask_output=multimask,
    )
    return masks, scores, low


def test_prior_mask_through_our_sam_engine_matches_reference(tiny_sam, scene):
    """The prompt made from a prior mask gives our SAM engine the reference SamPredictor's result."""
    from sam_compose import load_engine

    sam, path = tiny_sam
    image = np.ascontiguousarray(scene.image[::2, ::2])  # 240 x 320 keeps the tiny encoder quick
    m = scene.masks[0][::2, ::2]
    prompt = mask_to_prompt(m, image_size=image.shape[:2])
    ref_masks, ref_scores, ref_low = _reference_predict(sam, image, prompt)
    eng = load_engine(str(path), device="cpu")
    res = eng.segment(image, prompt)
    rng = float(ref_low.max() - ref_low.min())
    assert np.abs(res.logits[0] - ref_low[0]).max() <= 1e-3 * max(rng, 1.0)
    assert np.mean(res.masks[0] == ref_masks[0]) > 0.999
    assert abs(float(res.scores[0]) - float(ref_scores[0])) <= 1e-3


def test_refinement_loop_matches_the_reference_loop(tiny_sam, scene):
    """refine_with_mask on our SAM engine == the same loop written with SamPredictor."""
    from segment_anything import SamPredictor

    from sam_compose import load_engine

    sam, path = tiny_sam
    image = np.ascontiguousarray(scene.image[::2, ::2])
    prompt = mask_to_prompt(scene.masks[1][::2, ::2], image_size=image.shape[:2])
    eng = load_engine(str(path), device="cpu")
    ours = refine_with_mask(image, prompt, engine=eng, iterations=3, stop_iou=1.01, multimask_first=True)
    pred = SamPredictor(sam)
    pred.set_image(image)
    mask_input, masks = prompt.mask[None], None
    for i in range(3):
        masks, scores, low = pred.predict(
            point_coords=np.array(prompt.points),
            point_labels=np.array(prompt.labels),
            box=np.array(prompt.box),
            mask_input=np.array(mask_input),
            multimask_output=i == 0,
        )
        best = int(np.argmax(scores))
        masks, mask_input = masks[best], low[best][None]
    assert np.mean(ours.masks[0] == masks) > 0.999
    np.testing.assert_allclose(ours.logits[0], mask_input[0], atol=1e-3 * max(1.0, float(np.ptp(mask_input))))


# --- CLI --------------------------------------------------------------------------------------
def _cli():
    exe = Path(sys.executable).with_name("sam-compose")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sam_compose.cli"]


def test_cli_mask(tmp_path, scene):
    img, mpath = tmp_path / "scene.png", tmp_path / "prior.png"
    cv2.imwrite(str(img), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    rough = cv2.dilate(scene.masks[1].astype(np.uint8), np.ones((9, 9), np.uint8))
    cv2.imwrite(str(mpath), rough * 255)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    r = subprocess.run(
        _cli() + ["segment", str(img), "--engine", "opencv", "--mask", str(mpath), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["masks"]) == 1
    got = read_mask(doc["masks"][0]["path"])
    assert mask_iou(got, scene.masks[1]) >= 0.85
    cv2.imwrite(str(mpath), rough[::2, ::2] * 255)
    bad = subprocess.run(
        _cli() + ["segment", str(img), "--engine", "opencv", "--mask", str(mpath)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "prior mask is 320x240" in lines[0] and "640x480" in lines[0]


def test_mask_prompt_node_file_and_feedback(tmp_path, scene):
    import sam_compose as sc

    img_path, m_path = tmp_path / "scene.png", tmp_path / "prior.png"
    cv2.imwrite(str(img_path), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(m_path), scene.masks[0].astype(np.uint8) * 255)
    g = sc.Graph()
    img = g.add("load_image", path=str(img_path))
    prior = g.add("mask_prompt", image=img, path=str(m_path))
    seg = g.add("segment", image=img, prompts=prior, engine="opencv")
    again = g.add("mask_prompt", image=img, masks=seg)  # feed the result back
    rep = g.run(keep_values=True)
    (p,) = rep.value(prior)
    np.testing.assert_array_equal(p.mask, mask_to_prompt(scene.masks[0], image_size=scene.image.shape[:2]).mask)
    assert mask_iou(rep.value(seg).masks[0], scene.masks[0]) >= 0.9
    (q,) = rep.value(again)
    assert np.array_equal(q.mask, rep.value(seg).logits[0])  # logits pass through unchanged
    both = sc.Graph()
    i2 = both.add("load_image", path=str(img_path))
    n = both.add(
        "mask_prompt",
        image=i2,
        masks=both.add("segment", image=i2, prompts=both.add("box_prompt", boxes=[[1, 1, 50, 50]]), engine="opencv"),
        path=str(m_path),
    )
    report = both.run(keep_values=True)
    assert "either the path param or the masks input" in report["nodes"][str(n)]["error"]


def test_noisy_prior_mask_is_cleaned_into_the_object(opencv_engine):
    """A disk with 3% of all pixels flipped (a thresholded heat map) still prompts the disk."""
    from sam_compose.adapters.prompts.mask_clean import clean_mask
    from sam_compose.samples import sample_image

    img = sample_image("coffee").copy()
    h, w = img.shape[:2]
    disk = np.zeros((h, w), np.uint8)
    cv2.circle(disk, (w // 2 + 40, h // 2), min(h, w) // 5, 1, -1)
    disk = disk > 0
    img[disk] = (0.4 * img[disk] + 0.6 * np.array([60, 170, 90])).astype(np.uint8)
    noisy = disk ^ (np.random.default_rng(0).random((h, w)) < 0.03)
    raw = mask_to_prompt(noisy, image_size=(h, w), clean=False)
    assert raw.box[2] - raw.box[0] > 0.95 * w  # one speck per corner: the raw box is the whole image
    p = mask_to_prompt(noisy, image_size=(h, w))
    ys, xs = np.nonzero(disk)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    assert np.abs(p.box - box).max() <= 3
    x, y = p.points[0]
    assert disk[int(y), int(x)]
    assert mask_iou(from_lowres(p.mask, (h, w)) > 0, disk) >= 0.95
    res = opencv_engine.segment(img, p)
    assert mask_iou(res.masks[0], disk) >= 0.85
    # the cleaning itself: specks out, holes filled, nothing else changed
    cleaned = clean_mask(noisy)
    assert mask_iou(cleaned, disk) >= 0.97
    assert np.array_equal(clean_mask(disk), disk)
    assert not clean_mask(np.zeros((4, 4), bool)).any()


def test_all_ones_and_all_zeros_prior_masks(scene, opencv_engine):
    size = scene.image.shape[:2]
    with pytest.raises(PromptError, match="empty"):
        mask_to_prompt(np.zeros(size, bool), image_size=size)
    p = mask_to_prompt(np.ones(size, bool), image_size=size)
    assert p.box.tolist() == [0, 0, size[1], size[0]]
    res = opencv_engine.segment(scene.image, p, multimask=True)
    assert res.masks.shape == (3, *size) and np.isfinite(res.scores).all()
    assert ((res.scores >= 0) & (res.scores <= 1)).all()
