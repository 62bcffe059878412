"""The demo's session logic, called as Gradio calls it but without a server: each tab's
handlers, sessions that never share state, downloads, the example video, a SAM checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

from app_cases import Evt as _Evt

from sam_compose.app import build_app
from sam_compose.app.handlers import SegmentHandlers, brushed_mask
from sam_compose.app.service import parse_prompt_json, prepare_image
from sam_compose.app.state import SessionState, VideoState
from sam_compose.app.tab_handlers import TabHandlers
from sam_compose.errors import InputError, PromptError
from sam_compose.geometry import mask_iou
from sam_compose.image_io import save_png


def test_click_before_any_upload_says_what_to_do():
    h = SegmentHandlers("opencv")
    with pytest.raises(gr.Error, match="no image yet"):
        h.click(SessionState(), "positive point", False, _Evt(index=[10, 10]))
    with pytest.raises(gr.Error, match="no image yet"):
        h.automatic(SessionState(), 16)


def test_two_sessions_do_not_share_points(small_scene):
    h = SegmentHandlers("opencv")
    a, b = SessionState(), SessionState()
    for s in (a, b):
        s.set_image(small_scene.image, "scene")
    xa, ya = small_scene.interior_point(0)
    xb, yb = small_scene.interior_point(1)
    a, _, _, _ = h.click(a, "positive point", False, _Evt(index=[xa, ya]))
    a, _, _, _ = h.click(a, "negative point", False, _Evt(index=[5, 5]))
    b, _, status_b, _ = h.click(b, "positive point", False, _Evt(index=[xb, yb]))
    assert [p[2] for p in a.points] == [1, 0] and len(b.points) == 1
    assert "1 point(s)" in status_b
    assert mask_iou(a.result.masks[0], small_scene.masks[0]) >= 0.9
    assert mask_iou(b.result.masks[0], small_scene.masks[1]) >= 0.9
    assert a.session_id != b.session_id


def test_automatic_masks_are_drawn_as_filled_regions_without_boxes(small_scene):
    h = SegmentHandlers("opencv")
    s = SessionState()
    s.set_image(small_scene.image, "scene")
    s, picture, status, info = h.automatic(s, 16)
    assert status.startswith("answered in **") and "automatic mask(s)" in status  # the wait, then the engine's part
    res = s.result
    assert len(res) > 0 and len(info["masks"]) == len(res)
    covered = res.masks.any(axis=0)
    # no boxes, outlines or text outside the regions: uncovered pixels are the photograph's
    assert np.array_equal(picture[~covered], small_scene.image[~covered])
    for truth in small_scene.masks:  # every object is tinted: its pixels changed
        assert (picture[truth] != small_scene.image[truth]).any(axis=1).mean() > 0.9
    s, labelled, _, _ = h.show_labels(s, True)
    assert not np.array_equal(labelled, picture)  # numbers drawn on the regions
    s, plain, _, _ = h.show_labels(s, False)
    assert np.array_equal(plain, picture)


def test_box_needs_two_clicks_and_undo_removes_prompts(small_scene):
    s = SessionState()
    s.set_image(small_scene.image, "scene")
    assert s.add_click(100, 50, "box (2 clicks)") == "corner" and s.box is None
    assert s.add_click(20, 10, "box (2 clicks)") == "box"
    assert s.box == [20.0, 10.0, 100.0, 50.0]
    with pytest.raises(InputError, match="outside"):
        s.add_click(1000, 5, "positive point")
    s.add_click(30, 30, "positive point")
    s.undo()
    assert s.points == [] and s.box is not None
    s.undo()
    assert s.box is None


def test_large_image_is_downscaled_with_a_warning():
    big = np.zeros((300, 2600, 3), np.uint8)
    with pytest.warns(UserWarning, match="downscaled"):
        img, _ = prepare_image(big)
    assert max(img.shape[:2]) == 2048


def test_prompt_json_forms():
    assert parse_prompt_json('{"points": [[1, 2]], "labels": [1], "box": [0, 0, 5, 5]}') == {
        "points": [[1, 2]],
        "labels": [1],
        "boxes": [[0, 0, 5, 5]],
    }
    with pytest.raises(PromptError, match="JSON object"):
        parse_prompt_json("[1, 2]")


def test_text_without_clip_weights_gives_a_friendly_message(small_scene):
    h = SegmentHandlers("opencv")
    s = SessionState()
    s.set_image(small_scene.image, "scene")
    with pytest.raises(gr.Error) as info:
        h.text(s, "a red ellipse", False)
    msg = str(info.value).lower()
    assert "clip" in msg or "text prompts" in msg
    with pytest.raises(gr.Error, match="type what to segment"):
        h.text(s, "   ", False)


def test_brushed_strokes_become_a_prior_mask(small_scene):
    h, w = small_scene.image.shape[:2]
    layer = np.zeros((h, w, 4), np.uint8)
    layer[small_scene.masks[2]] = (255, 0, 255, 255)
    mask = brushed_mask({"background": small_scene.image, "layers": [layer], "composite": None}, (h, w))
    assert mask is not None and mask_iou(mask, small_scene.masks[2]) == 1.0
    assert brushed_mask({"background": None, "layers": [np.zeros((h, w, 4), np.uint8)]}, (h, w)) is None
    handlers = SegmentHandlers("opencv")
    s = SessionState()
    s.set_image(small_scene.image, "scene")
    s, _, status, _ = handlers.brush(s, {"layers": [layer]}, False)
    assert "prior mask" in status
    assert mask_iou(s.result.masks[0], small_scene.masks[2]) >= 0.8


def test_simulated_gaze_path_segments_the_fixated_object(small_scene):
    h = SegmentHandlers("opencv")
    s = SessionState()
    s.set_image(small_scene.image, "scene")
    x, y = small_scene.interior_point(1)
    for dx in (0, 3, -2):
        h.click(s, "gaze path", False, _Evt(index=[x + dx, y - dx]))
    s, picture, status, _ = h.gaze_path(s, False)
    assert "fixation" in status
    assert max(mask_iou(m, small_scene.masks[1]) for m in s.result.masks) >= 0.9
    assert picture.shape == small_scene.image.shape


def test_video_tab_rejects_a_video_without_frames(assets):
    t = TabHandlers("opencv")
    with pytest.raises(gr.Error, match="video"):
        t.video_upload(str(assets / "broken.mp4"), VideoState())
    with pytest.raises(gr.Error, match="no video yet"):
        t.track_clicked(VideoState())


def test_graph_tab_runs_a_demo_graph(tmp_path):
    from sam_compose.app import graphs

    names = graphs.list_graphs()
    assert "box_segment_overlay.json" in names
    report, images = graphs.run_graph(graphs.read_graph("box_segment_overlay.json"), tmp_path)
    assert report["ok"] is True and "seg" in report["nodes"]
    assert images and Path(images[0]).is_file()
    with pytest.raises(InputError, match="nodes"):
        graphs.parse_graph('{"graph": 1}')


def test_demo_command_rejects_a_bad_port(capsys):
    from sam_compose.cli import main

    assert main(["demo", "--port", "70000", "--engine", "opencv"]) == 2
    assert "--port" in capsys.readouterr().err


def test_gaze_recording_file_segments_the_looked_at_object(upload_dir, small_scene):
    from sam_compose.adapters.prompts.gaze.synth import synth_trace, write_generic

    h, w = small_scene.image.shape[:2]
    x, y = small_scene.interior_point(2)
    samples, _ = synth_trace([(x, y, 0.5), (x + 2, y + 1, 0.3)], scene_size=(h, w), noise=1.0, seed=2)
    path = write_generic(upload_dir / "gaze.csv", samples)
    handlers = SegmentHandlers("opencv")
    s = SessionState()
    s.set_image(small_scene.image, "scene")
    s, picture, status, _ = handlers.gaze_recording(s, str(path), False)
    assert "Gaze recording" in status
    assert max(mask_iou(m, small_scene.masks[2]) for m in s.result.masks) >= 0.9
    # fixations are drawn as heat: the picture differs from the plain result around the fixation
    from sam_compose.app.render import draw_result

    plain = draw_result(small_scene.image, s.result)
    yi, xi = int(y), int(x)
    assert (
        np.abs(picture[yi - 3 : yi + 4, xi - 3 : xi + 4].astype(int) - plain[yi - 3 : yi + 4, xi - 3 : xi + 4]).mean()
        > 10
    )


def test_clicks_reuse_one_embedding_per_image(small_scene, tmp_path, upload_dir):
    from sam_compose import shared_engine

    handlers = SegmentHandlers("opencv")
    engine = shared_engine("opencv")
    image = small_scene.image.copy()
    image[0, 0] = (image[0, 0].astype(int) + 1) % 256  # an image this engine has not seen yet
    path = upload_dir / "fresh.png"
    save_png(path, image)
    before = engine.stats.embeddings_computed
    s = SessionState()
    s, *_ = handlers.load(str(path), s)
    assert engine.stats.embeddings_computed == before + 1
    for k in range(3):
        x, y = small_scene.interior_point(k)
        s, _, status, _ = handlers.click(s, "positive point", False, _Evt(index=[x, y]))
        assert "(cached)" in status
    assert engine.stats.embeddings_computed == before + 1


def test_build_app_takes_a_spec_or_an_engine_instance():
    from sam_compose import load_engine

    engine = load_engine("opencv")
    assert SegmentHandlers(engine).engine is engine  # a private engine is used as given
    assert TabHandlers("opencv").engine_spec == "opencv"
    with pytest.raises(InputError, match="engine spec"):
        build_app(3)


def test_example_video_is_tracked_from_a_click():
    from sam_compose.adapters.outputs.tracking.synth import synthetic_video

    t = TabHandlers("opencv")
    vs, frame, _, _, path = t.video_example("motion", VideoState())
    assert vs.n_frames == 40 and Path(path).is_file() and frame.shape == (240, 320, 3)
    truth = synthetic_video("motion", n_frames=40, size=(240, 320), seed=1)
    vs, _, _ = t.video_frame(vs, 34)  # prompt on a late frame: the last 6 frames are tracked
    ys, xs = np.nonzero(truth.masks[34, 0])
    vs, _, _ = t.video_click(vs, "positive point", _Evt(index=[float(np.median(xs)), float(np.median(ys))]))
    video, summary, note = t.track_clicked(vs)
    assert summary["start_frame"] == 34 and summary["frames_tracked"] == 6 and Path(video).suffix == ".webm"
    assert "Tracked 6 frames" in note


@pytest.mark.slow
def test_demo_runs_on_a_sam_checkpoint(tmp_path, small_scene, upload_dir):
    """With SAM weights present (here a tiny random Meta-format checkpoint) the page uses the SAM engine."""
    pytest.importorskip("torch")
    pytest.importorskip("segment_anything")
    from tiny_models import save_tiny_meta_checkpoint

    ckpt = save_tiny_meta_checkpoint(tmp_path / "sam_vit_tiny.pth")
    save_png(upload_dir / "scene.png", small_scene.image)
    handlers = SegmentHandlers(str(ckpt))
    s = SessionState()
    s, *_ = handlers.load(str(upload_dir / "scene.png"), s)
    x, y = small_scene.interior_point(0)
    s, picture, status, info = handlers.click(s, "positive point", True, _Evt(index=[x, y]))
    assert handlers.engine.name != "opencv"
    assert f"engine {ckpt}" in status and "(cached)" in status
    assert len(s.result) == 1 and s.result.masks.shape[1:] == small_scene.image.shape[:2]  # best of 3 kept
    assert picture.shape == small_scene.image.shape and info["masks"][0]["score"] == pytest.approx(
        float(s.result.scores[0]), abs=1e-3
    )


def test_download_gives_coco_json_and_png_masks_that_read_back(small_scene, tmp_path):
    import zipfile

    from PIL import Image
    from pycocotools.coco import COCO

    handlers = SegmentHandlers("opencv")
    s = SessionState()
    s.set_image(small_scene.image, "sample:scene")
    with pytest.raises(gr.Error, match="segment something first"):
        handlers.download(s)
    x, y = small_scene.interior_point(1)
    s, *_ = handlers.click(s, "positive point", False, _Evt(index=[x, y]))
    coco_path, zip_path = handlers.download(s)
    coco = COCO(coco_path)
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == len(s.result) == 1
    assert np.array_equal(coco.annToMask(anns[0]).astype(bool), s.result.masks[0])
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.namelist() == ["mask_0.png"]
        zf.extract("mask_0.png", tmp_path)
    png = np.asarray(Image.open(tmp_path / "mask_0.png")) > 127
    assert np.array_equal(png, s.result.masks[0])


def test_output_tabs_before_any_result_say_what_to_do(small_scene):
    t = TabHandlers("opencv")
    with pytest.raises(gr.Error, match="no image yet"):
        t.inpaint_result(SessionState(), "telea", 5)
    s = SessionState()
    s.set_image(small_scene.image, "scene")
    with pytest.raises(gr.Error, match="segment an object first"):
        t.inpaint_result(s, "telea", 5)
    with pytest.raises(gr.Error, match="segment an object first"):
        t.lift_result(s, "auto", None)
    from sam_compose.masks import Masks

    s.result = Masks(small_scene.masks[:1])
    with pytest.raises(gr.Error, match="motorcycle_left"):
        t.lift_result(s, "stereo ground truth (motorcycle sample)", None)


def test_lift_uses_the_stereo_ground_truth_of_the_motorcycle_example():
    from sam_compose.adapters.outputs.pointcloud_io import read_glb_points
    from sam_compose.masks import Masks
    from sam_compose.samples import sample_image

    t = TabHandlers("opencv")
    s = SessionState()
    image = sample_image("motorcycle_left")
    s.set_image(image, "sample:motorcycle_left")
    m = np.zeros(image.shape[:2], bool)
    m[200:300, 250:400] = True  # a patch on the motorcycle
    s.result = Masks(m)
    glb, ply, summary = t.lift_result(s, "auto", None)
    assert "ground-truth disparity" in summary["depth"]
    points, _ = read_glb_points(glb, gltf_axes=True)
    assert len(points) == summary["points"] > 1000 and Path(ply).suffix == ".ply"
    assert 1.0 < summary["centroid"][2] < 5.0  # metres in front of the Middlebury rig
