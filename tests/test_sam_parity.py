"""Parity with Meta's reference ``segment_anything`` on the same (shrunken, random) weights.

A tiny ViT-B-style SAM is built from ``segment_anything``'s public modules, saved as a
Meta ``.pth`` and loaded through ``sc.load_engine(path)``; every prompt type is compared
with ``SamPredictor.predict`` and automatic masks with ``SamAutomaticMaskGenerator``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from predictor_cases import PARITY_IMAGES, predictor_cases
from tiny_models import tiny_meta_sam

import sam_compose as sc
from sam_compose.geometry import pairwise_mask_iou

segment_anything = pytest.importorskip("segment_anything")
skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def ref_model():
    model = tiny_meta_sam(embed_dim=32, depth=3, heads=2, global_attn=(1,), seed=3)
    with torch.no_grad():  # positive IoU predictions, so IoU thresholds (only > 0 apply) filter
        model.mask_decoder.iou_prediction_head.layers[-1].bias += 1.0
    return model


@pytest.fixture(scope="module")
def ckpt(ref_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("sam") / "sam_tiny.pth"
    torch.save(ref_model.state_dict(), str(path))
    return path


@pytest.fixture(scope="module")
def engine(ckpt):
    return sc.load_engine(str(ckpt), device="cpu")


def _check(res: sc.Masks, ref_masks, ref_scores, ref_logits, what: str) -> None:
    span = float(ref_logits.max() - ref_logits.min())
    err = float(np.abs(res.logits - ref_logits).max()) / span
    assert err < 1e-3, f"{what}: low-res logits differ by {err:.2e} of the logit range"
    assert np.abs(res.scores - ref_scores).max() < 1e-3, f"{what}: scores {res.scores} vs {ref_scores}"
    assert res.masks.shape == ref_masks.shape
    agree = float((res.masks == ref_masks).mean())
    assert agree > 0.999, f"{what}: masks agree on only {agree:.5f} of pixels"


@pytest.mark.parametrize("kind", sorted(PARITY_IMAGES))
def test_predictor_parity(kind, engine, ref_model):
    from segment_anything import SamPredictor

    image = PARITY_IMAGES[kind]()
    h, w = image.shape[:2]
    pred = SamPredictor(ref_model)
    pred.set_image(image)
    engine.reset_stats()
    prompts = []
    calls = 0
    for multimask in (False, True):
        for j, (name, prompt, kw) in enumerate(predictor_cases(h, w)):
            if kind != "landscape" and (j + multimask) % 2:
                continue  # full cross product on one image; alternate on the others (reference is slow)
            calls += 1
            ref_m, ref_s, ref_l = pred.predict(multimask_output=multimask, **kw)
            res = engine.segment(image, prompt, multimask=multimask)
            _check(res, ref_m, ref_s, ref_l, f"{kind}/{name}/multimask={multimask}")
            assert (res.prompt_index == 0).all() and len(res) == (3 if multimask else 1)
            prompts.append(prompt)
        # refinement: feed the previous low-res logits back as mask_input
        prev = ref_l[np.argmax(ref_s)][None]
        p = prompts[-1].replace(mask=prev)
        ref_m, ref_s, ref_l = pred.predict(
            box=p.box,
            point_coords=p.points,
            point_labels=np.array(p.labels),
            mask_input=prev,
            multimask_output=multimask,
        )
        res = engine.segment(image, p, multimask=multimask)
        _check(res, ref_m, ref_s, ref_l, f"{kind}/mask refinement/multimask={multimask}")
        calls += 1
    # one embedding for the image however many prompts followed
    st = engine.stats
    assert st.embeddings_computed <= 1 and st.embeddings_computed + st.embedding_cache_hits == calls


def test_batched_prompts_match_single_calls(engine, ref_model):
    """Several prompts in one call (grouped into batched decoder calls) = one call each."""
    from segment_anything import SamPredictor

    image = skdata.chelsea()
    h, w = image.shape[:2]
    cases = list(predictor_cases(h, w))
    pred = SamPredictor(ref_model)
    pred.set_image(image)
    prev = [
        pred.predict(point_coords=np.array([[x, 100.0]]), point_labels=np.array([1]))[2][:1] for x in (100.0, 300.0)
    ]
    prompts = [c[1] for c in cases] + [
        sc.Prompt(points=[[30, 40]]),
        sc.Prompt(points=[[400, 250]]),
        sc.Prompt(points=[[120, 90]], mask=prev[0][0]),
        sc.Prompt(points=[[310, 120]], mask=prev[1][0]),
    ]
    res = engine.segment(image, prompts, multimask=True)
    assert len(res) == 3 * len(prompts)
    assert res.prompt_index.tolist() == [i for i in range(len(prompts)) for _ in range(3)]
    for i, p in enumerate(prompts):
        kw = dict(
            box=p.box,
            point_coords=p.points,
            mask_input=None if p.mask is None else p.mask[None],
            point_labels=None if p.labels is None else np.array(p.labels),
        )
        ref_m, ref_s, ref_l = pred.predict(multimask_output=True, **kw)
        rows = res.prompt_index == i
        _check(res[rows], ref_m, ref_s, ref_l, f"batched prompt {i}")


def test_float_image_matches_uint8(engine):
    image = skdata.chelsea()
    p = sc.Prompt(points=[[200, 150]])
    a = engine.segment(image, p)
    b = engine.segment(image.astype(np.float32) / 255.0, p)
    assert np.array_equal(a.masks, b.masks)


def _match_rate(ref_anns, res: sc.Masks) -> float:
    ref = np.stack([a["segmentation"] for a in ref_anns])
    iou = pairwise_mask_iou(ref, res.masks)
    return float((iou.max(1) >= 0.9).mean())


def test_automatic_masks_parity(engine, ref_model):
    from segment_anything import SamAutomaticMaskGenerator

    image = np.ascontiguousarray(skdata.astronaut()[::2, ::2])
    kw = dict(
        points_per_side=4, points_per_batch=8, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0
    )
    probe = engine.generate(image, **kw)
    assert len(probe) == 48  # 16 points x 3 candidates, nothing filtered
    # permissive thresholds that still drop some candidates (random weights: low scores)
    kw.update(
        pred_iou_thresh=float(np.quantile(probe.scores, 0.2)),
        stability_score_thresh=float(np.quantile(probe.rows["stability_score"], 0.2)),
    )
    ref = SamAutomaticMaskGenerator(ref_model, **kw).generate(image)
    res = engine.generate(image, **kw)
    assert 10 < len(ref) < 48
    assert _match_rate(ref, res) >= 0.95
    assert abs(len(res) - len(ref)) <= 1
    # scores line up with the reference's predicted IoU and stability
    assert np.allclose(
        sorted(a["predicted_iou"] for a in ref)[-len(res) :][: len(ref)], np.sort(res.scores)[-len(ref) :], atol=1e-3
    )


@pytest.mark.slow
def test_automatic_masks_parity_with_filters_crops_and_cleanup(engine, ref_model):
    from segment_anything import SamAutomaticMaskGenerator

    image = np.ascontiguousarray(skdata.astronaut()[::4, ::4])
    probe = engine.generate(
        image, points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0
    )
    # thresholds that drop some candidates yet leave several in every crop
    kw = dict(
        points_per_side=4,
        crop_n_points_downscale_factor=2,
        pred_iou_thresh=float(np.quantile(probe.scores, 0.25)),
        stability_score_thresh=0.0,
        box_nms_thresh=0.95,
        crop_n_layers=1,
        crop_nms_thresh=0.95,
        min_mask_region_area=20,
    )
    ref = SamAutomaticMaskGenerator(ref_model, **kw).generate(image)
    res = engine.generate(image, **kw)
    assert len(ref) > 0
    assert _match_rate(ref, res) >= 0.95
    assert abs(len(res) - len(ref)) <= max(1, len(ref) // 20)
    assert res.logits is None and res.rows["crop_box"].shape == (len(res), 4)


def test_automatic_mask_rows_follow_their_masks(engine):
    """Per-row values of an automatic-mask result stay with their row through indexing,
    slicing, boolean selection, best() and concatenation."""
    image = np.ascontiguousarray(skdata.astronaut()[::4, ::4])
    res = engine.generate(image, points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)
    assert set(res.rows) == {"stability_score", "point_coords", "crop_box"}
    assert "stability_score" not in dict(res.data)  # whole-result facts only

    def check(sub, rows):
        assert len(sub) == len(rows)
        for name, full in res.rows.items():
            assert np.array_equal(sub.rows[name], full[rows]), name
        assert np.array_equal(sub.masks, res.masks[rows])
        assert np.allclose(sub.scores, res.scores[rows])

    order = np.argsort(-res.scores)
    check(res[3], [3])
    check(res[2:9:3], np.arange(len(res))[2:9:3])
    check(res[res.scores > np.median(res.scores)], np.flatnonzero(res.scores > np.median(res.scores)))
    check(res[order[:5]], order[:5])  # truncation to the top 5
    check(res.best(), [int(np.argmax(res.scores))])
    both = sc.Masks.concat([res[order[:2]], res[order[-3:]]])
    check(both, np.concatenate([order[:2], order[-3:]]))
    with pytest.warns(DeprecationWarning, match="Masks.rows"):
        assert np.array_equal(res.data["crop_boxes"], res.rows["crop_box"])
