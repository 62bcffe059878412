"""SAM 2.1 parity with Meta's reference ``sam2`` package on the same (shrunken, random) weights.

A hiera-tiny-family SAM 2.1 is built by ``sam2.build_sam.build_sam2`` from Meta's own
``sam2.1_hiera_t.yaml`` with smaller widths and depths (``tiny_models.SAM2_TINY_OVERRIDES``),
saved as Meta saves checkpoints (``{"model": state_dict}`` in a ``.pt``) and loaded through
``sc.load_engine(path)``: our converter renames the keys to ``transformers.Sam2Model`` and
infers the architecture from the tensors. Every prompt type is compared with
``SAM2ImagePredictor.predict`` on CPU.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")
skdata = pytest.importorskip("skimage.data")

from predictor_cases import PARITY_IMAGES, predictor_cases
from tiny_models import save_meta_sam2_checkpoint, tiny_meta_sam2

import sam_compose as sc
from sam_compose.engines.sam.transforms import padded_to_sam2_logits
from sam_compose.errors import EngineError


@pytest.fixture(scope="module")
def ref_model():
    return tiny_meta_sam2(seed=2)


@pytest.fixture(scope="module")
def ckpt(ref_model, tmp_path_factory):
    return save_meta_sam2_checkpoint(ref_model, tmp_path_factory.mktemp("sam2") / "sam2.1_hiera_tiny_custom.pt")


@pytest.fixture(scope="module")
def engine(ckpt):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*custom SAM 2 architecture")
        return sc.load_engine(str(ckpt), device="cpu")


@pytest.fixture(scope="module")
def predictor(ref_model):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script in sam2's transforms
        return SAM2ImagePredictor(ref_model)


IMAGES = {k: PARITY_IMAGES[k] for k in ("landscape", "portrait")}


def _check(engine, image, prompt, multimask, ref, what: str) -> sc.Masks:
    ref_masks, ref_scores, ref_logits = ref
    res = engine.segment(image, prompt, multimask=multimask)
    lowres, _ = engine.decode_lowres(engine.embed(image), [prompt.validate_for(image.shape[:2])], multimask)
    ours = lowres[0].numpy()
    span = float(ref_logits.max() - ref_logits.min())
    err = float(np.abs(ours - ref_logits).max()) / span
    assert err < 1e-3, f"{what}: low-res logits differ by {err:.2e} of the logit range"
    assert np.abs(res.scores - ref_scores).max() < 1e-3, f"{what}: scores {res.scores} vs {ref_scores}"
    assert res.masks.shape == ref_masks.shape, what
    agree = float((res.masks == ref_masks.astype(bool)).mean())
    assert agree > 0.999, f"{what}: masks agree on only {agree:.5f} of pixels"
    assert len(res) == (3 if multimask else 1) and (res.prompt_index == 0).all()
    return res


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_image_predictor_parity(kind, engine, predictor):
    image = IMAGES[kind]()
    h, w = image.shape[:2]
    predictor.set_image(image)
    engine.reset_stats()
    for multimask in (False, True):
        last = None
        for j, (name, prompt, kw) in enumerate(predictor_cases(h, w)):
            if kind == "portrait" and (j + multimask) % 2:
                continue  # the full cross product on the landscape image; alternate cases on the portrait one
            ref = predictor.predict(multimask_output=multimask, **kw)
            last = _check(engine, image, prompt, multimask, ref, f"{kind}/{name}/multimask={multimask}")
        # refinement: the previous result's logits go back in as the mask prompt
        prev = last.logits[int(np.argmax(last.scores))]
        p = prompt.replace(mask=prev)
        model_frame = padded_to_sam2_logits(torch.from_numpy(prev)[None], (h, w)).numpy()
        ref = predictor.predict(
            box=p.box,
            point_coords=p.points,
            point_labels=np.array(p.labels),
            mask_input=model_frame,
            multimask_output=multimask,
        )
        _check(engine, image, p, multimask, ref, f"{kind}/refinement/multimask={multimask}")
    assert engine.stats.embeddings_computed == 1  # one embedding per image, however many prompts


def test_batched_prompts_match_single_calls(engine, predictor):
    image = skdata.chelsea()
    h, w = image.shape[:2]
    predictor.set_image(image)
    prompts = [c[1] for c in predictor_cases(h, w)] + [sc.Prompt(points=[[30, 40]]), sc.Prompt(points=[[400, 250]])]
    res = engine.segment(image, prompts, multimask=False)
    assert len(res) == len(prompts)
    for i, p in enumerate(prompts):
        ref_m, ref_s, _ = predictor.predict(
            box=p.box,
            point_coords=p.points,
            multimask_output=False,
            point_labels=None if p.labels is None else np.array(p.labels),
        )
        assert abs(float(res.scores[i]) - float(ref_s[0])) < 1e-3
        assert float((res.masks[i] == ref_m[0].astype(bool)).mean()) > 0.999


def test_checkpoint_inputs_to_try(ref_model, ckpt, tmp_path):
    # a SAM 2 .pt renamed .pth loads as what its tensors are
    renamed = tmp_path / "sam2_model.pth"
    renamed.write_bytes(ckpt.read_bytes())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*custom SAM 2 architecture")
        eng = sc.load_engine(str(renamed), device="cpu")
    assert eng.name == "sam2"
    # a checkpoint with a missing key names it (Meta's name)
    sd = {k: v for k, v in ref_model.state_dict().items() if k != "sam_mask_decoder.iou_token.weight"}
    torch.save({"model": sd}, tmp_path / "broken.pt")
    with pytest.raises(EngineError, match="sam_mask_decoder.iou_token.weight"):
        sc.load_engine(str(tmp_path / "broken.pt"), device="cpu")
    sd = {k: v for k, v in ref_model.state_dict().items() if not k.startswith("image_encoder.trunk.blocks.2.")}
    torch.save({"model": sd}, tmp_path / "gap.pt")
    with pytest.raises(EngineError, match="image_encoder.trunk.blocks.2"):
        sc.load_engine(str(tmp_path / "gap.pt"), device="cpu")
