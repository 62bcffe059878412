"""Text prompts: selection logic with a deterministic scorer, and the open_clip path end to end
with a tiny random open_clip model (no download)."""

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

from sam_compose.adapters.prompts import text_to_prompts
from sam_compose.adapters.prompts.text import crop_regions, parse_phrases, propose_regions, text_to_masks
from sam_compose.errors import EngineError, PromptError
from sam_compose.geometry import mask_iou
from sam_compose.samples import synthetic_scene

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def text_scene():
    return synthetic_scene(seed=3, size=(240, 320))


@pytest.fixture(scope="module")
def regions(text_scene, opencv_engine):
    """The engine's mask proposals, computed once and reused by the selection tests."""
    return propose_regions(text_scene.image, engine=opencv_engine, proposals="masks")


class ColourScorer:
    """Deterministic stand-in for CLIP on crops with a grey background (background="mask"):
    phrase 'objN' matches object N, 'thing' any object. Score = F1 between the crop's visible
    (non-grey) pixels and the object's pixels of that colour: high only for a crop showing the
    whole object and nothing else, as a good CLIP match would."""

    logit_scale = 100.0

    def __init__(self, scene):
        self.colours = [np.median(scene.image[m], axis=0) for m in scene.masks]
        self.areas = [int(m.sum()) for m in scene.masks]
        self.calls = []

    def _f1(self, crop, k):
        c = crop.astype(np.float32)
        visible = np.abs(c - (124, 116, 104)).sum(axis=2) > 0
        hit = ((np.abs(c - self.colours[k]).sum(axis=2) < 120) & visible).sum()
        precision, recall = hit / max(visible.sum(), 1), hit / self.areas[k]
        return 2 * precision * recall / max(precision + recall, 1e-9)

    def __call__(self, crops, phrases):
        self.calls.append((len(crops), list(phrases)))
        out = np.zeros((len(crops), len(phrases)))
        for j, ph in enumerate(phrases):
            objs = range(len(self.colours)) if ph == "thing" else [int(ph[3:])]
            for i, c in enumerate(crops):
                out[i, j] = max(self._f1(c, k) for k in objs)
        return out


def _best_iou(prompt, scene, engine):
    res = engine.segment(scene.image, prompt)
    return max(mask_iou(res.masks[0], m) for m in scene.masks), int(
        np.argmax([mask_iou(res.masks[0], m) for m in scene.masks])
    )


def test_phrase_parsing_and_bad_text():
    assert parse_phrases("a cat, the dog; -a bird") == (["cat", "dog"], ["bird"])
    assert parse_phrases("mug", negative="cup, plate") == (["mug"], ["cup", "plate"])
    for bad, msg in [("", "empty"), ("   ,  ;", "empty"), ("the of a", "only stopwords"), ("-dog", "only negative")]:
        with pytest.raises(PromptError, match=msg):
            parse_phrases(bad)
    with pytest.raises(PromptError, match="only stopwords"):
        text_to_prompts(np.zeros((64, 64, 3), np.uint8), "the", scorer=lambda c, p: np.zeros((len(c), len(p))))


def test_selection_picks_the_described_object(text_scene, opencv_engine, regions):
    scorer = ColourScorer(text_scene)
    for k in range(len(text_scene.masks)):
        prompts = text_to_prompts(
            text_scene.image,
            f"obj{k}",
            engine=opencv_engine,
            scorer=scorer,
            background="mask",
            regions=None if k == 0 else regions,
        )
        assert len(prompts) == 1
        p = prompts[0]
        assert p.data["phrase"] == f"obj{k}" and 0 < p.data["score"] <= 1 and p.labels.tolist() == [1]
        x, y = p.points[0]
        assert text_scene.masks[k][int(y), int(x)]  # the positive point lies on the object
        iou, which = _best_iou(p, text_scene, opencv_engine)
        assert which == k and iou >= 0.85


def test_grid_proposals_without_engine(text_scene, opencv_engine):
    scorer = ColourScorer(text_scene)
    p = text_to_prompts(text_scene.image, "obj1", scorer=scorer, grid_scales=(1, 2, 3, 4, 6))[0]
    assert p.data["proposal"] == "grid"
    cx, cy = p.points[0]
    assert (
        text_scene.masks[1][int(cy), int(cx)]
        or mask_iou(opencv_engine.segment(text_scene.image, p).masks[0], text_scene.masks[1]) > 0.5
    )


def test_several_phrases_negatives_topk_threshold(text_scene, opencv_engine, regions):
    scorer = ColourScorer(text_scene)
    both = text_to_prompts(text_scene.image, "obj0, obj2", scorer=scorer, background="mask", regions=regions)
    assert [p.data["phrase"] for p in both] == ["obj0", "obj2"]
    assert [_best_iou(p, text_scene, opencv_engine)[1] for p in both] == [0, 2]
    # one call scores every region against every phrase (batched), negatives included
    scorer.calls.clear()
    first = text_to_prompts(text_scene.image, "thing", scorer=scorer, background="mask", regions=regions)[0]
    winner = _best_iou(first, text_scene, opencv_engine)[1]
    avoided = text_to_prompts(
        text_scene.image, f"thing, -obj{winner}", scorer=scorer, background="mask", regions=regions
    )
    assert scorer.calls[-1][1] == ["thing", f"obj{winner}"]
    assert len(avoided) == 1 and avoided[0].data["negative"] == [f"obj{winner}"]
    assert _best_iou(avoided[0], text_scene, opencv_engine)[1] != winner
    three = text_to_prompts(text_scene.image, "thing", scorer=scorer, top_k=3, background="mask", regions=regions)
    assert sorted(_best_iou(p, text_scene, opencv_engine)[1] for p in three) == [0, 1, 2]  # no duplicates
    assert [p.data["rank"] for p in three] == [0, 1, 2]

    def flat(crops, phrases):
        return np.full((len(crops), len(phrases)), 0.3)

    with pytest.warns(UserWarning, match="nothing selected"):
        assert text_to_prompts(text_scene.image, "thing", scorer=flat, threshold=0.5) == []
    with pytest.raises(PromptError, match="regions is empty"):
        text_to_prompts(text_scene.image, "thing", scorer=scorer, regions=[])
    with pytest.raises(PromptError, match="scorer returned shape"):
        text_to_prompts(text_scene.image, "thing", scorer=lambda c, p: np.zeros((1, 1)))


def test_text_to_masks(text_scene, opencv_engine):
    res = text_to_masks(
        text_scene.image, "obj2", engine=opencv_engine, scorer=ColourScorer(text_scene), background="mask"
    )
    assert len(res) == 1 and res.data["selections"][0]["phrase"] == "obj2"
    assert mask_iou(res.masks[0], text_scene.masks[2]) >= 0.85


def test_crops_handle_the_background(text_scene, opencv_engine):
    regions = propose_regions(text_scene.image, engine=opencv_engine, proposals="masks")
    r = next(r for r in regions if mask_iou(r.mask, text_scene.masks[0]) > 0.8)
    grey = crop_regions(text_scene.image, [r], background="mask", context=0.0)[0]
    plain = crop_regions(text_scene.image, [r], background="none", context=0.0)[0]
    assert grey.shape[0] == grey.shape[1] and grey.shape == plain.shape
    outside_grey = (np.abs(grey.astype(int) - (124, 116, 104)).sum(axis=2) == 0).mean()
    assert outside_grey > 0.1 and not np.array_equal(grey, plain)
    with pytest.raises(PromptError, match="background must be"):
        crop_regions(text_scene.image, [r], background="erase")
    with pytest.raises(PromptError, match="proposals must be"):
        propose_regions(text_scene.image, proposals="sam")
    with pytest.raises(PromptError, match="needs an engine"):
        propose_regions(text_scene.image, proposals="masks")


# --- open_clip, end to end with random tiny weights ----------------------------------------------
@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    import open_clip

    from sam_compose.adapters.prompts.clip import load_clip

    cfg_dir = tmp_path_factory.mktemp("clipcfg")
    (cfg_dir / "sam-compose-tiny-clip.json").write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(cfg_dir)  # open_clip's model config registry
    torch.manual_seed(0)
    return load_clip("sam-compose-tiny-clip", pretrained="random", batch_size=4)


def test_clip_scorer_matches_open_clip_computation(tiny_clip, text_scene):
    from PIL import Image

    crops = crop_regions(text_scene.image, propose_regions(text_scene.image, proposals="grid", grid_scales=(1, 2)))
    sims = tiny_clip(crops, ["red square", "dog"])
    assert sims.shape == (len(crops), 2)
    m = tiny_clip.model
    with torch.no_grad():
        img = torch.nn.functional.normalize(
            m.encode_image(torch.stack([tiny_clip.preprocess(Image.fromarray(c)) for c in crops])), dim=-1
        )
        tok = tiny_clip.tokenizer([t.format("dog") for t in tiny_clip.templates])
        txt = torch.nn.functional.normalize(torch.nn.functional.normalize(m.encode_text(tok), dim=-1).mean(0), dim=0)
    np.testing.assert_allclose(sims[:, 1], (img @ txt).numpy(), atol=1e-5)


@pytest.mark.filterwarnings("ignore:text .* nothing selected")
def test_open_clip_path_end_to_end(tiny_clip, text_scene, opencv_engine):
    prompts = text_to_prompts(
        text_scene.image,
        "a red square, a blue circle, -grass",
        engine=opencv_engine,
        clip=tiny_clip,
        top_k=2,
        proposals="both",
        grid_scales=(1, 2),
    )
    assert 1 <= len(prompts) <= 4
    assert {p.data["phrase"] for p in prompts} <= {"red square", "blue circle"}
    res = opencv_engine.segment(text_scene.image, prompts)  # the engine accepts them
    assert len(res) == len(prompts)
    scores = [p.data["score"] for p in prompts]
    assert all(0 < s <= 1 for s in scores)


def test_clip_folder_round_trip_and_env(tiny_clip, tmp_path, text_scene):
    from sam_compose.adapters.prompts.clip import load_clip, save_clip

    folder = save_clip(tiny_clip, tmp_path / "tiny_clip", TINY_CFG)
    again = load_clip(f"local-dir:{folder}")
    crops = crop_regions(text_scene.image, propose_regions(text_scene.image, proposals="grid", grid_scales=(1,)))
    np.testing.assert_allclose(again(crops, ["cat"]), tiny_clip(crops, ["cat"]), atol=1e-5)
    assert load_clip(str(folder)).name.startswith("local-dir:")


def test_missing_clip_weights_fail_fast_naming_the_download(tmp_path, monkeypatch, no_network):
    from sam_compose.adapters.prompts.clip import load_clip

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.delenv("SAM_COMPOSE_CLIP", raising=False)
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(
        EngineError,
        match=r"laion2b_s34b_b79k.*laion/CLIP-ViT-B-32-laion2B-s34B-b79K.*sam-compose models download clip-vit-b-32",
    ):
        load_clip()
    assert no_network == []
    with pytest.raises(EngineError, match="unknown open_clip model"):
        load_clip("ViT-Nope", pretrained="random")
    with pytest.raises(EngineError, match="not an open_clip folder"):
        load_clip(f"local-dir:{tmp_path}")
    with pytest.raises(EngineError, match="not in the Hugging Face cache"):
        load_clip("hf-hub:someone/not-cached")


# --- CLI ------------------------------------------------------------------------------------------
def _cli():
    exe = Path(sys.executable).with_name("sam-compose")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "sam_compose.cli"]


def test_cli_text_offline_error(tmp_path, text_scene):
    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), cv2.cvtColor(text_scene.image, cv2.COLOR_RGB2BGR))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "empty"))
    env.pop("SAM_COMPOSE_CLIP", None)
    r = subprocess.run(
        _cli() + ["segment", str(img), "--engine", "opencv", "--text", "a red square"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and r.stdout == ""
    line = r.stderr.strip().splitlines()
    assert len(line) == 1 and "CLIP weights for ViT-B-32" in line[0] and "SAM_COMPOSE_CLIP" in line[0]


@pytest.mark.slow
def test_cli_text_with_a_local_clip_folder(tmp_path, tiny_clip, text_scene):
    from sam_compose.adapters.prompts.clip import save_clip

    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), cv2.cvtColor(text_scene.image, cv2.COLOR_RGB2BGR))
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env["SAM_COMPOSE_CLIP"] = "local-dir:" + str(save_clip(tiny_clip, tmp_path / "clip", TINY_CFG))
    r = subprocess.run(
        _cli()
        + ["segment", str(img), "--engine", "opencv", "--text", "square, circle", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    phrases = [p["data"]["phrase"] for p in doc["prompts"]]
    assert 1 <= len(doc["masks"]) == len(phrases) <= 2 and set(phrases) <= {"square", "circle"}
    assert all(Path(m["path"]).is_file() for m in doc["masks"])


def test_text_prompt_node_with_a_local_clip(tmp_path, tiny_clip, text_scene, monkeypatch):
    import sam_compose as sc
    from sam_compose.adapters.prompts.clip import save_clip

    folder = save_clip(tiny_clip, tmp_path / "clip", TINY_CFG)
    img_path = tmp_path / "scene.png"
    cv2.imwrite(str(img_path), cv2.cvtColor(text_scene.image, cv2.COLOR_RGB2BGR))
    g = sc.Graph()
    img = g.add("load_image", path=str(img_path))
    tp = g.add("text_prompt", image=img, text="square, -circle", clip=f"local-dir:{folder}", proposals="grid")
    seg = g.add("segment", image=img, prompts=tp, engine="opencv")
    rep = g.run(keep_values=True)
    prompts = rep.value(tp)
    assert len(prompts) == 1 and prompts[0].data["phrase"] == "square" and prompts[0].data["negative"] == ["circle"]
    assert len(rep.value(seg)) == 1
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty"))
    off = sc.Graph()
    n = off.add(
        "text_prompt", image=off.add("load_image", path=str(img_path)), text="cat", clip="ViT-B-32:laion2b_s34b_b79k"
    )
    report = off.run(keep_values=True)
    assert "CLIP weights for ViT-B-32" in report["nodes"][str(n)]["error"]


# --- the zero-shot detector route (tiny random OWLv2, no download) --------------------------------
def _tiny_clip_tokenizer_files(folder):
    """A character-level CLIP BPE vocabulary: every byte symbol, alone and word-final."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs + [256 + i for i in range(256 - len(bs))]  # the other bytes map past 255, as in CLIP
    chars = [chr(c) for c in cs]
    vocab = {}
    for suffix in ("", "</w>"):
        for c in chars:
            vocab.setdefault(c + suffix, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return vocab


@pytest.fixture(scope="module")
def tiny_owl(tmp_path_factory):
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    folder = tmp_path_factory.mktemp("owlv2")
    vocab = _tiny_clip_tokenizer_files(folder)
    eos = vocab["<|endoftext|>"]
    cfg = Owlv2Config(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=32,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=eos,
            pad_token_id=eos,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = Owlv2ForObjectDetection(cfg).eval()
    with torch.no_grad():  # random box regressions saturate; zero them so boxes are OWLv2's grid prior
        model.box_head.dense2.weight.zero_()
        model.box_head.dense2.bias.zero_()
    model.save_pretrained(folder)
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    Owlv2Processor(
        image_processor=Owlv2ImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok
    ).save_pretrained(folder)
    return folder


def test_detector_route_matches_the_detector_output(tiny_owl, text_scene):
    from PIL import Image
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    from sam_compose.adapters.prompts.detectors import detect_with_text

    prompts = detect_with_text(text_scene.image, "cat, -dog", detector=str(tiny_owl), threshold=0.0, top_k=3)
    assert 1 <= len(prompts) <= 3
    assert all(p.data["phrase"] == "cat" and p.data["route"] == "detector" for p in prompts)
    scores = [p.data["score"] for p in prompts]
    assert scores == sorted(scores, reverse=True)
    # the same model and processor by hand: the best "cat" box, in the padded-square frame of OWLv2
    model = AutoModelForZeroShotObjectDetection.from_pretrained(tiny_owl, local_files_only=True).eval()
    proc = AutoProcessor.from_pretrained(tiny_owl, local_files_only=True)
    h, w = text_scene.image.shape[:2]
    inputs = proc(
        text=[["a photo of a cat", "a photo of a dog"]],
        images=Image.fromarray(text_scene.image),
        return_tensors="pt",
        padding="max_length",
        max_length=32,
    )
    with torch.no_grad():
        out = model(**inputs)
    res = proc.post_process_grounded_object_detection(out, threshold=0.0, target_sizes=[(max(h, w), max(h, w))])[0]
    boxes = res["boxes"].numpy().copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    inside = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)  # not in the square's padding
    cat = (res["labels"].numpy() == 0) & inside
    best = int(np.flatnonzero(cat)[np.argmax(res["scores"].numpy()[cat])])
    np.testing.assert_allclose(prompts[0].box, boxes[best], atol=1e-3)
    assert prompts[0].data["score"] == pytest.approx(float(res["scores"][best]), abs=1e-5)
    assert boxes[cat].shape[0] >= 1 and len(prompts) == min(3, int(cat.sum()))
    via_text = text_to_prompts(text_scene.image, "cat", detector=str(tiny_owl), threshold=0.0)
    assert len(via_text) == 1 and via_text[0].box is not None


def test_missing_detector_names_the_download(no_network):
    from sam_compose.adapters.prompts.detectors import load_detector

    with pytest.raises(EngineError, match="sam-compose models download google/owlv2-base-patch16-ensemble"):
        load_detector("owlv2")
    assert no_network == []


@pytest.fixture(scope="module")
def tiny_grounding_dino(tmp_path_factory):
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    folder = tmp_path_factory.mktemp("gdino")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "cat", "dog", "red", "square"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    cfg = GroundingDinoConfig(
        backbone_config=SwinConfig(
            image_size=32,
            patch_size=4,
            embed_dim=8,
            depths=[1, 1],
            num_heads=[1, 1],
            window_size=2,
            out_features=["stage1", "stage2"],
        ),
        text_config=BertConfig(
            vocab_size=len(words),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            max_position_embeddings=32,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=6,
        num_feature_levels=2,
        encoder_n_points=1,
        decoder_n_points=1,
        max_text_len=32,
        use_timm_backbone=False,
    )
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(cfg).eval().save_pretrained(folder)
    GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 32, "longest_edge": 64}),
        tokenizer=BertTokenizer(str(folder / "vocab.txt")),
    ).save_pretrained(folder)
    return folder


def test_grounding_dino_route(tiny_grounding_dino, text_scene):
    from PIL import Image

    from sam_compose.adapters.prompts.detectors import detect_phrases, detect_with_text, load_detector

    model, proc = load_detector(str(tiny_grounding_dino))
    dets = detect_phrases(text_scene.image, ["cat", "dog"], model, proc, threshold=0.0)
    h, w = text_scene.image.shape[:2]
    inputs = proc(images=Image.fromarray(text_scene.image), text="cat. dog.", return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    ref = proc.post_process_grounded_object_detection(
        out, inputs["input_ids"], threshold=0.0, text_threshold=0.0, target_sizes=[(h, w)]
    )[0]
    ref_boxes = ref["boxes"].numpy().copy()
    ref_boxes[:, [0, 2]] = ref_boxes[:, [0, 2]].clip(0, w)
    ref_boxes[:, [1, 3]] = ref_boxes[:, [1, 3]].clip(0, h)
    assert len(dets) >= 1
    probs = out.logits.sigmoid()[0].numpy()
    ids = inputs["input_ids"][0].tolist()
    cat_tok, dog_tok = (
        ids.index(proc.tokenizer.convert_tokens_to_ids("cat")),
        ids.index(proc.tokenizer.convert_tokens_to_ids("dog")),
    )
    for box, score, phrase in dets:
        q = int(np.argmin(np.abs(ref_boxes - box).sum(axis=1)))
        np.testing.assert_allclose(box, ref_boxes[q], atol=1e-3)  # the processor's own boxes
        expect = "cat" if probs[q, cat_tok] >= probs[q, dog_tok] else "dog"
        assert phrase == expect and score == pytest.approx(float(max(probs[q, cat_tok], probs[q, dog_tok])), abs=1e-5)
    prompts = detect_with_text(text_scene.image, "cat, dog", detector=str(tiny_grounding_dino), threshold=0.0)
    assert 1 <= len(prompts) <= 2 and len({p.data["phrase"] for p in prompts}) == len(prompts)
