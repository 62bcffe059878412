"""ONNX export of SAM-HQ and SAM 2.1 (image mode) from Meta-format checkpoints.

Tiny random models are built with the reference packages (``segment_anything_hq``, ``sam2``),
saved as their checkpoints are (``.pth`` / ``.pt``), loaded through ``sc.load_engine`` and
exported once per family. The ``onnx:`` engine must give the PyTorch engine's masks for every
prompt type, with and without multimask (> 99.9% of pixels, scores within 1e-3), and the
reference predictor's masks for points and boxes.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import sam_compose as sc

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
skdata = pytest.importorskip("skimage.data")


def _sam_hq(root):
    pytest.importorskip("segment_anything_hq")
    from segment_anything_hq import SamPredictor
    from tiny_models import tiny_meta_sam_hq

    model = tiny_meta_sam_hq(embed_dim=32, depth=2, heads=2, global_attn=(1,), seed=7)
    with torch.no_grad():  # HQ layers are zero-initialised in places; give every tensor some weight
        g = torch.Generator().manual_seed(8)
        for name, p in model.mask_decoder.named_parameters():
            if any(k in name for k in ("hf_", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")):
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    path = root / "sam_hq_vit_tiny.pth"
    torch.save(model.state_dict(), str(path))

    def reference(image, kw):
        pred = SamPredictor(model)
        pred.set_image(image)
        return pred.predict(multimask_output=False, hq_token_only=False, **kw)[0]

    return path, reference


def _sam2(root):
    pytest.importorskip("sam2")
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    from tiny_models import save_meta_sam2_checkpoint, tiny_meta_sam2

    model = tiny_meta_sam2(seed=2)
    path = save_meta_sam2_checkpoint(model, root / "sam2.1_hiera_tiny_custom.pt")

    def reference(image, kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            pred = SAM2ImagePredictor(model)
        pred.set_image(image)
        return pred.predict(multimask_output=False, **kw)[0] > 0.5

    return path, reference


@pytest.fixture(scope="module", params=["sam_hq", "sam2"])
def family(request, tmp_path_factory):
    from sam_compose.deploy import export_onnx

    root = tmp_path_factory.mktemp(request.param)
    ckpt, reference = (_sam_hq if request.param == "sam_hq" else _sam2)(root)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*custom SAM 2 architecture")
        torch_engine = sc.load_engine(str(ckpt), device="cpu")
        export_onnx(str(ckpt), root / "onnx")
    return request.param, torch_engine, sc.load_engine(f"onnx:{root / 'onnx'}"), root / "onnx", reference


def _prompts(h: int, w: int, prev: np.ndarray) -> list[sc.Prompt]:
    pts = np.array([[0.5 * w, 0.5 * h], [0.1 * w, 0.15 * h], [0.8 * w, 0.7 * h]])
    box = np.array([0.15 * w, 0.1 * h, 0.8 * w, 0.9 * h])
    return [
        sc.Prompt(points=pts, labels=[1, 0, 1]),
        sc.Prompt(box=box, points=pts[1:2], labels=[0]),
        sc.Prompt(points=pts[:1], mask=prev),
        sc.Prompt(mask=prev),
    ]


def test_masks_match_the_pytorch_engine(family):
    name, torch_engine, onnx_engine, _, _ = family
    image = skdata.chelsea()
    h, w = image.shape[:2]
    prev = torch_engine.segment(image, sc.Prompt(points=[[0.4 * w, 0.6 * h]])).logits[0]
    prompts = _prompts(h, w, prev)
    for multimask in (False, True):
        ref = torch_engine.segment(image, prompts, multimask=multimask)
        got = onnx_engine.segment(image, prompts, multimask=multimask)
        assert got.masks.shape == ref.masks.shape
        for i in range(len(prompts)):
            rows = ref.prompt_index == i
            agree = float((ref.masks[rows] == got.masks[rows]).mean())
            assert agree > 0.999, f"{name} prompt {i} multimask={multimask}: masks agree on {agree:.4%}"
            assert np.abs(ref.scores[rows] - got.scores[rows]).max() < 1e-3, (name, i, multimask)
    assert got.data["family"] == name


def test_masks_match_the_reference_predictor(family):
    name, _, onnx_engine, _, reference = family
    image = np.ascontiguousarray(skdata.astronaut()[:, 100:380])  # 512 x 280
    h, w = image.shape[:2]
    p = np.array([[0.5 * w, 0.4 * h]])
    box = np.array([0.15 * w, 0.1 * h, 0.8 * w, 0.9 * h])
    for prompt, kw in (
        (sc.Prompt(points=p), {"point_coords": p, "point_labels": np.array([1])}),
        (sc.Prompt(box=box), {"box": box}),
    ):
        ref = reference(image, kw)
        got = onnx_engine.segment(image, prompt).masks
        agree = float((ref == got).mean())
        assert agree > 0.999, f"{name}: exported model vs reference predictor agree on {agree:.4%}"


def test_manifest_frames(family):
    name, _, _, folder, _ = family
    manifest = json.loads((folder / "sam_onnx.json").read_text())
    assert manifest["model"]["family"] == name
    outs = [t["name"] for t in manifest["encoder"]["outputs"]]
    if name == "sam2":
        assert outs == ["high_res_feats_0", "high_res_feats_1", "image_embeddings"]
        assert manifest["postprocess"]["lowres_frame"] == "full" and manifest["prompts"]["pad_always"]
    else:
        assert outs == ["image_embeddings", "intermediate_embeddings"]
        assert manifest["postprocess"]["lowres_frame"] == "padded" and not manifest["prompts"]["pad_always"]
    dec_in = [t["name"] for t in manifest["decoder"]["inputs"]]
    assert dec_in == outs + ["point_coords", "point_labels", "mask_input", "has_mask_input"]


def test_the_split_decoder_matches_the_whole_decoder(family):
    from test_onnx_export import split_matches_the_whole_decoder

    split_matches_the_whole_decoder(family[2])
