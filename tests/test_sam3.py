"""SAM 3 through transformers, on tiny random SAM 3 folders built in the test.

Our masks must equal what ``Sam3Processor`` + ``Sam3Model`` + ``post_process_instance_segmentation``
return for the same folder, image and prompt (text, text with example / counter-example boxes,
boxes alone); points and boxes go through ``Sam3TrackerModel`` and must equal its own forward +
``post_process_masks``. Plus the inputs to try: text on an engine without it, an empty text,
50 phrases at once, a phrase that matches nothing, exemplar boxes outside the image.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
skdata = pytest.importorskip("skimage.data")

from predictor_cases import assert_matches_transformers
from quiet_transformers import quiet_transformers  # noqa: F401  (autouse)
from tiny_models import SAM3_QUERIES, save_tiny_sam3

import sam_compose as sc
from sam_compose.errors import EngineError, PromptError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_sam3(tmp_path_factory.mktemp("sam3") / "sam3-tiny", video=True, seed=1)


@pytest.fixture(scope="module")
def engine(folder):
    eng = sc.load_engine(str(folder), device="cpu")
    assert type(eng).__name__ == "Sam3Engine" and eng.supports_text
    return eng


@pytest.fixture(scope="module")
def reference(folder):
    return T.Sam3Model.from_pretrained(str(folder)).eval(), T.Sam3Processor.from_pretrained(str(folder))


@pytest.fixture(scope="module")
def image():
    return skdata.chelsea()  # 300 x 451


def _expected(reference, image, threshold, **inputs):
    model, proc = reference
    enc = proc(images=image, return_tensors="pt", **inputs)
    with torch.inference_mode():
        out = model(**enc)
    r = proc.post_process_instance_segmentation(out, threshold=threshold, target_sizes=[image.shape[:2]])[0]
    order = np.argsort(-r["scores"].numpy(), kind="stable")
    all_scores = (out.pred_logits.sigmoid() * out.presence_logits.sigmoid())[0].numpy()
    return r["masks"].numpy().astype(bool)[order], r["scores"].numpy()[order], r["boxes"].numpy()[order], all_scores


def _same(res: sc.Masks, expected, what: str) -> None:
    masks, scores, boxes, _ = expected
    assert len(res) == len(masks), f"{what}: {len(res)} instances, transformers finds {len(masks)}"
    assert len(res) > 0, f"{what}: nothing found (the comparison would prove nothing)"
    np.testing.assert_allclose(res.scores, scores, atol=1e-5, err_msg=what)
    np.testing.assert_allclose(res.boxes, boxes, atol=1e-3, err_msg=what)
    assert float((res.masks == masks).mean()) > 0.999, what
    assert res.logits.shape == (len(res), 256, 256)


def _split_threshold(reference, image, **inputs) -> float:
    """A threshold that keeps about half of the queries (random weights: scores cluster)."""
    return float(np.median(_expected(reference, image, 0.0, **inputs)[3]))


def test_text_finds_every_instance_like_transformers(engine, reference, image):
    thr = _split_threshold(reference, image, text="cat")
    engine.concept_threshold = thr
    res = engine.segment(image, sc.Prompt(text="cat"))
    _same(res, _expected(reference, image, thr, text="cat"), "text")
    assert (res.prompt_index == 0).all() and list(res.rows["text"]) == ["cat"] * len(res)
    assert np.all(np.diff(res.scores) <= 0) and res.data["engine"] == "sam3"
    # the logits are in SAM's padded frame: fed back they give the same masks (as a prior)
    from sam_compose.geometry import logits_to_mask

    back = logits_to_mask(res.logits[0], image.shape[:2])
    assert float((back == res.masks[0]).mean()) > 0.97


def test_exemplar_boxes_positive_and_negative(engine, reference, image):
    boxes = [[60.0, 40.0, 300.0, 280.0], [330.0, 10.0, 440.0, 120.0]]
    inputs = dict(text="cat", input_boxes=[boxes], input_boxes_labels=[[1, 0]])
    thr = _split_threshold(reference, image, **inputs)
    engine.concept_threshold = thr
    res = engine.segment(image, sc.Prompt(text="cat", exemplars=boxes, exemplar_labels=[1, 0]))
    _same(res, _expected(reference, image, thr, **inputs), "text + exemplars")
    # exemplars alone (the processor's "visual" phrase)
    inputs = dict(input_boxes=[boxes[:1]], input_boxes_labels=[[1]])
    thr = _split_threshold(reference, image, **inputs)
    engine.concept_threshold = thr
    _same(
        engine.segment(image, sc.Prompt(exemplars=boxes[:1])),
        _expected(reference, image, thr, **inputs),
        "exemplars only",
    )


def test_points_and_boxes_go_through_the_tracker(engine, folder, image):
    key_mapping = {
        r"^detector_model\.vision_encoder\.backbone\.": "vision_encoder.backbone.",
        r"^tracker_neck\.": "vision_encoder.neck.",
        r"^tracker_model\.": "",
    }
    model = T.Sam3TrackerModel.from_pretrained(str(folder), key_mapping=key_mapping).eval()
    proc = T.Sam3TrackerProcessor(T.Sam3ImageProcessor.from_pretrained(str(folder)))
    assert_matches_transformers(engine, model, proc, image, score_atol=1e-4, min_agree=0.999)
    assert engine.tracker_engine().model.vision_encoder.backbone is engine.model.vision_encoder.backbone


def test_inputs_to_try(engine, reference, image, opencv_engine):
    with pytest.raises(sc.InputError, match="SAM 3"):
        opencv_engine.segment(image, sc.Prompt(text="cat"))
    with pytest.raises(PromptError, match="text is empty"):
        sc.Prompt(text="   ")
    # 50 phrases at once: one call, every prompt's instances, same as one call each
    engine.concept_threshold = _split_threshold(reference, image, text="cat")
    phrases = [f"thing {i}" for i in range(48)] + ["cat", "dog"]
    res = engine.segment(image, [sc.Prompt(text=p) for p in phrases])
    assert set(res.prompt_index.tolist()) <= set(range(50))
    for i in (0, 48, 49):
        one = engine.segment(image, sc.Prompt(text=phrases[i]))
        rows = res.prompt_index == i
        assert rows.sum() == len(one) and np.allclose(res.scores[rows], one.scores, atol=1e-5)
        assert set(res.rows["text"][rows]) <= {phrases[i]}
    # a phrase that matches nothing: an empty result, not an error
    engine.concept_threshold = 0.999
    none = engine.segment(image, sc.Prompt(text="zebra crossing"))
    assert len(none) == 0 and none.masks.shape == (0, *image.shape[:2])
    # exemplar boxes outside the image: refused; partly outside: clipped with a warning
    with pytest.raises(PromptError, match="outside"):
        engine.segment(image, sc.Prompt(text="cat", exemplars=[[500, 400, 600, 500]]))
    with pytest.warns(UserWarning, match="clipped"):
        engine.segment(image, sc.Prompt(text="cat", exemplars=[[-20, -20, 100, 100]]))
    engine.concept_threshold = 0.5


def test_detector_only_folder(tmp_path, image):
    folder = save_tiny_sam3(tmp_path / "det", video=False)
    eng = sc.load_engine(str(folder), device="cpu")
    eng.concept_threshold = 0.0
    assert len(eng.segment(image, sc.Prompt(text="cat"))) == SAM3_QUERIES  # every query
    with pytest.raises(EngineError, match="sam3_video"):
        eng.segment(image, sc.Prompt(points=[[10, 10]]))


def test_hub_id_loads_from_the_cache_and_offline_says_how_to_get_it(folder, tmp_path, monkeypatch, image):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError, match="sam-compose models download sam3"):
        sc.load_engine("facebook/sam3", device="cpu")
    repo = tmp_path / "hub" / "models--facebook--sam3"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("r1")
    snap = repo / "snapshots" / "r1"
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = sc.load_engine("sam3", device="cpu")
    assert eng.name == "sam3" and eng.supports_text


def test_text_routes_use_the_engine_when_it_has_text(engine, folder, image, tmp_path, capsys):
    """text_to_prompts / text_to_masks / the text node / the CLI's --text take SAM 3's own route."""
    import json

    from sam_compose.adapters.prompts import text_to_prompts
    from sam_compose.adapters.prompts.text import text_to_masks

    engine.concept_threshold = 0.0
    prompts = text_to_prompts(image, "cat, dog", engine=engine)
    assert [p.text for p in prompts] == ["cat", "dog"] and all(p.data["route"] == "native" for p in prompts)
    res = text_to_masks(image, "cat", engine=engine)
    assert len(res) == SAM3_QUERIES and (res.prompt_index == 0).all()  # every instance, not the best one
    # a negative phrase drops the instances it matches (here: the same concept, so all of them)
    assert len(text_to_masks(image, "cat", engine=engine, negative="cat")) == 0
    with pytest.raises(PromptError, match="route='native'"):
        text_to_prompts(image, "cat", engine="opencv", route="native")
    # the CLI: --engine <SAM 3 folder> --text
    from sam_compose.cli import main

    sc.shared_engine(str(folder), device="cpu").concept_threshold = 0.0
    png = tmp_path / "cat.png"
    from PIL import Image

    Image.fromarray(image).save(png)
    assert main(["segment", str(png), "--engine", str(folder), "--device", "cpu", "--text", "cat"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["masks"]) == SAM3_QUERIES
    engine.concept_threshold = 0.5
