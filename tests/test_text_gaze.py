"""Text x gaze: the named thing that was looked at, through the Python API, a graph, the CLI and the
agent tools, on synthetic scenes with a deterministic colour scorer standing in for CLIP."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from text_gaze_scenes import ColourKindScorer, fixation_trace, person_with_shirt, two_mugs_and_a_box

import sam_compose
from sam_compose.adapters.prompts import NoMatchError, text_gaze_prompts
from sam_compose.adapters.prompts.gaze import Fixation, GazeSamples, NoFixationError
from sam_compose.adapters.prompts.gaze.synth import write_generic
from sam_compose.adapters.prompts.text_gaze_candidates import engine_supports_text
from sam_compose.errors import PromptError
from sam_compose.geometry import mask_iou
from sam_compose.image_io import save_png


@pytest.fixture(scope="module")
def mugs():
    return two_mugs_and_a_box()


@pytest.fixture(scope="module")
def person():
    return person_with_shirt()


@pytest.fixture
def colour_clip(monkeypatch):
    """CLIP replaced by the colour scorer wherever a CLIP spec is resolved (CLI, tools, graphs)."""
    from sam_compose.adapters.prompts import clip

    scorer = ColourKindScorer()
    monkeypatch.setattr(clip, "shared_clip", lambda spec=None, **kw: scorer)
    return scorer


def fuse(scene, text, targets, engine, **kw):
    kw.setdefault("background", "mask")
    return text_gaze_prompts(scene.image, text, fixation_trace(targets), engine=engine, scorer=ColourKindScorer(), **kw)


def segmented(scene, prompt, engine):
    return engine.segment(scene.image, prompt).masks[0]


def test_two_of_the_named_kind_the_looked_at_one_wins(mugs, opencv_engine):
    for looked, other in (("mug_right", "mug_left"), ("mug_left", "mug_right")):
        (p,) = fuse(mugs, "the mug", [(*mugs.centre(looked), 0.6)], opencv_engine)
        m = segmented(mugs, p, opencv_engine)
        assert mask_iou(m, mugs.masks[looked]) >= 0.9 and mask_iou(m, mugs.masks[other]) == 0
        d = p.data
        assert d["adapter"] == "text_gaze" and d["phrase"] == "mug"
        assert (
            d["text_score"] >= 0.9
            and d["gaze_score"] >= 0.9
            and d["score"] == pytest.approx(d["text_score"] * d["gaze_score"], abs=1e-3)
        )
        assert "looked at for" in d["why"] and d["candidates"] >= 3
        assert "beat another 'mug' that was looked at less" in d["why"]  # the other mug
        assert d["runner_up"]["text_score"] >= 0.5 and d["runner_up"]["gaze_score"] < 0.1
        assert d["gaze"]["dwell_inside_s"] > 0.5 and d["gaze"]["accuracy_px"] > 0


def test_named_kind_wins_over_a_longer_look_at_another_kind(mugs, opencv_engine):
    targets = [(*mugs.centre("box"), 0.9), (*mugs.centre("mug_left"), 0.2)]
    (p,) = fuse(mugs, "mug", targets, opencv_engine)
    assert mask_iou(segmented(mugs, p, opencv_engine), mugs.masks["mug_left"]) >= 0.9
    assert p.data["gaze_score"] < 0.5 < p.data["text_score"]  # the shorter look, the right words
    looked = p.data["longest_look"]  # the box: looked at longer, not named
    assert looked["gaze_score"] > p.data["gaze_score"] and looked["text_score"] < p.data["text_score"]
    assert "beat something looked at longer" in p.data["why"]
    # the same gaze with the other word picks the long look
    (b,) = fuse(mugs, "box", targets, opencv_engine)
    assert mask_iou(segmented(mugs, b, opencv_engine), mugs.masks["box"]) >= 0.9


def test_words_choose_part_or_whole_at_one_fixation(person, opencv_engine):
    targets = [(*person.centre("shirt"), 0.6)]
    (whole,) = fuse(person, "person", targets, opencv_engine)
    (part,) = fuse(person, "shirt", targets, opencv_engine)
    assert mask_iou(segmented(person, whole, opencv_engine), person.masks["person"]) >= 0.9
    assert mask_iou(segmented(person, part, opencv_engine), person.masks["shirt"]) >= 0.9
    assert whole.data["gaze_score"] == pytest.approx(part.data["gaze_score"], abs=0.05)  # same place
    assert whole.data["candidate"]["area"] > 3 * part.data["candidate"]["area"]


def test_gaze_as_a_file_samples_or_fixations(mugs, opencv_engine, tmp_path):
    c = mugs.centre("mug_right")
    trace = fixation_trace([(*c, 0.6)])
    samples = GazeSamples(t=trace[:, 0], x=trace[:, 1], y=trace[:, 2])
    path = write_generic(tmp_path / "g.csv", samples, units="px", names=("t", "x_px", "y_px"))
    fix = [Fixation(x=c[0], y=c[1], start=0.0, end=0.6, duration=0.6)]
    # a recording of a 2x bigger scene camera showing the image: scene_size maps it
    big = GazeSamples(t=trace[:, 0], x=trace[:, 1] * 2, y=trace[:, 2] * 2, scene_size=(480, 640))
    for gaze, kw in ((path, {}), (samples, {}), (fix, {}), (big, {})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the CSV's scene size is the image's: said once
            (p,) = text_gaze_prompts(
                mugs.image, "mug", gaze, engine="opencv", scorer=ColourKindScorer(), background="mask", **kw
            )
        assert mask_iou(segmented(mugs, p, opencv_engine), mugs.masks["mug_right"]) >= 0.9


def test_native_text_engines_plug_in(mugs, opencv_engine):
    """An engine with native text (SAM 3) adds its instances as candidates through one hook: here
    the engine's point prompts only give specks, so the instances must come from the words."""
    from sam_compose.masks import Masks

    class NativeText:
        supports_text = True
        name = spec = "fake-sam3"

        def __init__(self):
            self.asked = []

        def segment(self, image, prompts, multimask=False):
            h, w = image.shape[:2]
            rows = []
            for p in prompts:
                x, y = (int(v) for v in p.points[0])
                m = np.zeros((h, w), bool)
                m[y - 1 : y + 2, x - 1 : x + 2] = True
                rows += [m] * (3 if multimask else 1)
            k = 3 if multimask else 1
            return Masks(
                np.stack(rows), scores=np.full(len(rows), 0.5), prompt_index=np.repeat(np.arange(len(prompts)), k)
            )

        def segment_text(self, image, phrase):
            self.asked.append(phrase)
            rows = [m for name, m in mugs.masks.items() if mugs.kinds[name] == phrase]
            return Masks(np.stack(rows), scores=np.ones(len(rows)))

    eng = NativeText()
    assert engine_supports_text(eng) and not engine_supports_text(opencv_engine)
    (p,) = text_gaze_prompts(
        mugs.image,
        "mug",
        fixation_trace([(*mugs.centre("mug_left"), 0.5)]),
        engine=eng,
        scorer=ColourKindScorer(),
        background="mask",
        proposals="none",
    )
    assert eng.asked == ["mug"]
    assert p.data["candidate"]["sources"] == ["native-text:mug"]
    assert mask_iou(segmented(mugs, p, opencv_engine), mugs.masks["mug_left"]) >= 0.9


# ------------------------------------------------------------------ inputs to try
def test_text_that_matches_nothing_looked_at_says_so(mugs, opencv_engine):
    with pytest.raises(NoMatchError, match=r"'box' matches nothing that was looked at.*best match for 'box'"):
        fuse(mugs, "box", [(*mugs.centre("mug_right"), 0.6)], opencv_engine)
    with pytest.raises(NoMatchError):
        fuse(mugs, "giraffe", [(*mugs.centre("mug_right"), 0.6)], opencv_engine)


def test_negative_phrase_matching_the_looked_at_object(mugs, opencv_engine):
    with pytest.raises(NoMatchError, match="negative phrase 'cup'"):
        fuse(mugs, "mug, -cup", [(*mugs.centre("mug_right"), 0.6)], opencv_engine)


def test_gaze_outside_the_image_and_no_valid_sample(mugs, opencv_engine):
    outside = fixation_trace([(2000.0, 3000.0, 0.6)])
    with pytest.raises(NoFixationError, match="outside"):
        text_gaze_prompts(mugs.image, "mug", outside, engine=opencv_engine, scorer=ColourKindScorer())
    blank = GazeSamples(t=np.arange(200) / 200, x=np.full(200, np.nan), y=np.full(200, np.nan))
    with pytest.raises(NoFixationError, match="none of the 200 samples is valid"):
        text_gaze_prompts(mugs.image, "mug", blank, engine=opencv_engine, scorer=ColourKindScorer())
    with pytest.raises(PromptError, match="stopwords|empty"):
        fuse(mugs, "the", [(*mugs.centre("mug_right"), 0.6)], opencv_engine)


def test_twenty_phrases_score_once(mugs, opencv_engine):
    scorer = ColourKindScorer()
    words = ["mug"] + [f"thing{i}" for i in range(19)]
    with pytest.warns(UserWarning, match="thing0"):
        prompts = text_gaze_prompts(
            mugs.image,
            ", ".join(words),
            fixation_trace([(*mugs.centre("mug_right"), 0.6)]),
            engine=opencv_engine,
            scorer=scorer,
            background="mask",
        )
    assert len(scorer.calls) == 1 and len(scorer.calls[0][1]) == 20 + 3  # the phrases and the neutral ones
    assert [p.data["phrase"] for p in prompts] == ["mug"] and len(prompts[0].data["unmatched"]) == 19


def test_gaze_timestamps_in_ns_s_and_ms(mugs, opencv_engine):
    trace = fixation_trace([(*mugs.centre("mug_left"), 0.6)])
    for scale, unit in ((1.0, None), (1e3, "ms"), (1e9, "ns")):
        arr = trace.copy()
        arr[:, 0] = arr[:, 0] * scale + (1.7e18 if unit == "ns" else 0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (p,) = text_gaze_prompts(
                mugs.image, "mug", arr, engine=opencv_engine, scorer=ColourKindScorer(), background="mask"
            )
        said = [str(w.message) for w in caught if "sample interval suggests" in str(w.message)]
        assert (len(said) == 1 and unit in said[0]) if unit else not said
        assert p.data["gaze"]["dwell_total_s"] == pytest.approx(0.6, abs=0.05)
        assert mask_iou(segmented(mugs, p, opencv_engine), mugs.masks["mug_left"]) >= 0.9


# ------------------------------------------------------------------ everywhere a user is
def _files(scene, tmp_path, targets):
    img = save_png(tmp_path / "scene.png", scene.image)
    trace = fixation_trace(targets)
    samples = GazeSamples(t=trace[:, 0], x=trace[:, 1], y=trace[:, 2], scene_size=scene.image.shape[:2])
    gaze = write_generic(tmp_path / "gaze.csv", samples, units="px", names=("t", "x_px", "y_px"))
    return img, gaze


def test_graph_text_gaze_prompt_node(mugs, tmp_path, colour_clip):
    img, gaze = _files(mugs, tmp_path, [(*mugs.centre("box"), 0.9), (*mugs.centre("mug_right"), 0.2)])
    graph = sam_compose.Graph.from_dict(
        {
            "nodes": {
                "img": {"type": "load_image", "params": {"path": str(img)}},
                "gaze": {"type": "load_gaze", "params": {"path": str(gaze), "scene_size": list(mugs.image.shape[:2])}},
                "look": {
                    "type": "text_gaze_prompt",
                    "inputs": {"image": "img", "gaze": "gaze"},
                    "params": {"text": "the mug", "background": "mask"},
                },
                "seg": {
                    "type": "segment",
                    "inputs": {"image": "img", "prompts": "look"},
                    "params": {"engine": "opencv"},
                },
            }
        }
    )
    report = graph.run(keep_values=True)
    assert report.ok, report.errors
    masks = report["outputs"]["seg"]
    assert len(masks) == 1 and mask_iou(masks.masks[0], mugs.masks["mug_right"]) >= 0.9
    look = report.value("look")[0]
    assert look.data["text_score"] > 0.5 and "why" in look.data
    bad = graph.copy()
    bad.set_param("look.text", "giraffe")
    rep = bad.run()
    assert not rep.ok and "matches nothing that was looked at" in rep.errors["look"]


def test_cli_text_and_gaze_is_one_query_union_flag_keeps_both(mugs, tmp_path, capsys, colour_clip):
    from sam_compose.cli import main

    img, gaze = _files(mugs, tmp_path, [(*mugs.centre("mug_left"), 0.6)])
    args = [
        "segment",
        str(img),
        "--engine",
        "opencv",
        "--text",
        "mug",
        "--gaze",
        str(gaze),
        "--gaze-option",
        f"scene_size={list(mugs.image.shape[:2])}",
        "--gaze-option",
        'background="mask"',
    ]
    assert main(args + ["--out", str(tmp_path / "o")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["masks"]) == 1 and doc["prompts"][0]["data"]["adapter"] == "text_gaze"
    from PIL import Image

    png = np.asarray(Image.open(doc["masks"][0]["path"])) > 127
    assert mask_iou(png, mugs.masks["mug_left"]) >= 0.9
    # --union: the text's own region(s) plus the gaze's own point, as before
    assert (
        main(
            [
                "segment",
                str(img),
                "--engine",
                "opencv",
                "--text",
                "mug",
                "--gaze",
                str(gaze),
                "--union",
                "--gaze-option",
                f"scene_size={list(mugs.image.shape[:2])}",
            ]
        )
        == 0
    )
    union = json.loads(capsys.readouterr().out)
    adapters = [p["data"].get("adapter") for p in union["prompts"]]
    assert "text" in adapters and "gaze" in adapters and "text_gaze" not in adapters
    # text nobody looked at: one line on stderr, exit 2
    assert (
        main(
            [
                "segment",
                str(img),
                "--engine",
                "opencv",
                "--text",
                "box",
                "--gaze",
                str(gaze),
                "--gaze-option",
                f"scene_size={list(mugs.image.shape[:2])}",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matches nothing that was looked at" in err[0]
    assert main(["segment", str(img), "--engine", "opencv", "--text", "mug", "--union"]) == 2


def test_agent_tool_segment_image_takes_text_and_gaze(mugs, tmp_path, colour_clip):
    from sam_compose.integrations.service import AgentService

    img, gaze = _files(mugs, tmp_path, [(*mugs.centre("box"), 0.9), (*mugs.centre("mug_left"), 0.25)])
    svc = AgentService(engine="opencv", allowed_roots=[tmp_path], output_dir=tmp_path / "out")
    out = svc.segment_image(image=str(img), text="mug", gaze=str(gaze))
    assert len(out.masks) == 1 and mask_iou(out.masks.masks[0], mugs.masks["mug_left"]) >= 0.8
    assert "phrase 'mug'" in out.text and "looked at" in out.text
