"""SAM-HQ parity with ``segment-anything-hq`` on the same (shrunken, random) weights.

A tiny SAM-HQ is built from ``segment_anything_hq``'s public modules with its ViT-B wiring
at a smaller width, saved as its ``.pth`` files are (a bare state dict) and loaded through
``sc.load_engine(path)``; every prompt type is compared with its ``SamPredictor.predict``,
with and without ``hq_token_only``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything_hq")
pytest.importorskip("skimage.data")

from predictor_cases import PARITY_IMAGES, predictor_cases
from tiny_models import tiny_meta_sam_hq

import sam_compose as sc


@pytest.fixture(scope="module")
def ref_model():
    model = tiny_meta_sam_hq(embed_dim=32, depth=3, heads=2, global_attn=(1,), seed=7)
    with torch.no_grad():  # HQ layers are zero-initialised in places; give every tensor some weight
        g = torch.Generator().manual_seed(8)
        for name, p in model.mask_decoder.named_parameters():
            if any(k in name for k in ("hf_", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")):
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


@pytest.fixture(scope="module")
def engine(ref_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("hq") / "sam_hq_vit_tiny.pth"
    torch.save(ref_model.state_dict(), str(path))
    eng = sc.load_engine(str(path), device="cpu")
    assert eng.name == "sam_hq"
    return eng


def _check(res: sc.Masks, ref, what: str) -> None:
    ref_masks, ref_scores, ref_logits = ref
    row = 0  # multimask: our rows come best first; the reference returns that one
    span = float(ref_logits.max() - ref_logits.min())
    err = float(np.abs(res.logits[row] - ref_logits[0]).max()) / span
    assert err < 1e-3, f"{what}: low-res logits differ by {err:.2e} of the logit range"
    assert abs(float(res.scores[row]) - float(ref_scores[0])) < 1e-3, f"{what}: {res.scores} vs {ref_scores}"
    agree = float((res.masks[row] == ref_masks[0]).mean())
    assert agree > 0.999, f"{what}: masks agree on only {agree:.5f} of pixels"


@pytest.mark.parametrize("hq_token_only", [False, True])
def test_predictor_parity(hq_token_only, engine, ref_model):
    from segment_anything_hq import SamPredictor

    image = PARITY_IMAGES["portrait" if hq_token_only else "landscape"]()
    h, w = image.shape[:2]
    pred = SamPredictor(ref_model)
    pred.set_image(image)
    engine.hq_token_only = hq_token_only
    try:
        for multimask in (False, True):
            for j, (name, prompt, kw) in enumerate(predictor_cases(h, w)):
                if (j + multimask) % 2 or (hq_token_only and j > 1):
                    continue  # alternate cases (the reference's 3x3 HQ convolutions are slow on CPU)
                ref = pred.predict(multimask_output=multimask, hq_token_only=hq_token_only, **kw)
                res = engine.segment(image, prompt, multimask=multimask)
                assert len(res) == (3 if multimask else 1)
                if multimask:
                    assert np.all(np.diff(res.scores) <= 0)  # best first
                _check(res, ref, f"hq_token_only={hq_token_only}/{name}/multimask={multimask}")
            # refinement with the previous logits
            p = prompt.replace(mask=res.logits[0])
            ref = pred.predict(
                multimask_output=multimask,
                hq_token_only=hq_token_only,
                box=p.box,
                point_coords=p.points,
                point_labels=np.array(p.labels),
                mask_input=p.mask[None],
            )
            _check(engine.segment(image, p, multimask=multimask), ref, f"refinement/multimask={multimask}")
    finally:
        engine.hq_token_only = False
    assert engine.describe()["hq_token_only"] is False


def test_hq_checkpoint_named_like_sam_loads_as_hq_with_a_warning(ref_model, tmp_path):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(ref_model.state_dict(), str(path))
    with pytest.warns(UserWarning, match="named like a SAM checkpoint but its tensors are SAM-HQ"):
        eng = sc.load_engine(str(path), device="cpu")
    assert eng.name == "sam_hq"
