"""The Gradio demo through gradio_client against a launched server, plus its session logic.

One server per module (opencv engine, 127.0.0.1, a free port). Images are small
synthetic scenes with exact masks so every result is checked against ground truth.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from sam_compose.app import build_app
from sam_compose.app.handlers import SegmentHandlers, brushed_mask
from sam_compose.app.service import parse_prompt_json, prepare_image
from sam_compose.app.state import SessionState, VideoState
from sam_compose.app.tab_handlers import TabHandlers
from sam_compose.errors import InputError, PromptError
from sam_compose.geometry import mask_iou
from sam_compose.image_io import save_png
from sam_compose.samples import synthetic_scene
from sam_compose.visualize import colour

ENDPOINTS = ("/segment", "/generate", "/track", "/inpaint", "/lift3d")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def small_scene():
    return synthetic_scene(seed=3, size=(240, 320))


@pytest.fixture(scope="module")
def assets(tmp_path_factory, small_scene):
    d = tmp_path_factory.mktemp("app_assets")
    save_png(d / "scene.png", small_scene.image)
    (d / "notes.txt").write_text("this is not an image\n")
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    # a square moving right over 10 frames
    writer = cv2.VideoWriter(str(d / "moving.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for i in range(10):
        frame = np.full((120, 160, 3), (40, 90, 40), np.uint8)
        cv2.rectangle(frame, (20 + 6 * i, 40), (60 + 6 * i, 80), (230, 60, 200), -1)
        writer.write(frame)
    writer.release()
    return d


@pytest.fixture
def upload_dir():
    """A folder inside Gradio's uploads folder: what the demo's events may read (as an upload)."""
    import shutil
    import uuid

    from gradio.utils import get_upload_folder

    d = Path(get_upload_folder()) / f"test-{uuid.uuid4().hex}"
    d.mkdir(parents=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    demo = build_app("opencv")
    port = _free_port()
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True
    )
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


def _rle_mask(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def _read_rgb(path: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


# --- API over HTTP ---------------------------------------------------------------------------
def test_api_lists_the_named_endpoints_with_descriptions(client):
    info = client.view_api(print_info=False, return_format="dict")
    named = info["named_endpoints"]
    for name in ENDPOINTS:
        assert name in named, f"{name} missing from {sorted(named)}"
        assert named[name]["description"], f"{name} has no docstring description"
    # UI events are private: nothing but the five endpoints is public
    assert set(named) == set(ENDPOINTS)


def test_segment_point_matches_the_known_mask_and_tints_the_overlay(client, assets, small_scene):
    from gradio_client import handle_file

    x, y = small_scene.interior_point(0)
    prompt = json.dumps({"points": [[x, y]], "labels": [1]})
    overlay_path, result = client.predict(handle_file(str(assets / "scene.png")), prompt, api_name="/segment")
    assert len(result["masks"]) == 1
    mask = _rle_mask(result["masks"][0]["rle"])
    assert mask.shape == small_scene.masks[0].shape
    assert mask_iou(mask, small_scene.masks[0]) >= 0.9
    assert result["timings_ms"]["engine"] == "opencv"
    shown = _read_rgb(overlay_path).astype(np.float32)
    original = small_scene.image.astype(np.float32)
    inside = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    expected = original[inside] * 0.5 + np.array(colour(0), np.float32) * 0.5
    close = np.abs(shown[inside] - expected).max(axis=1) <= 2  # tinted half-way towards the first palette colour
    assert close.mean() > 0.9  # (the clicked point and the score label cover the rest)
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert np.abs(shown[far] - original[far]).mean() < 3  # the rest is untouched


def test_segment_box_prompt(client, assets, small_scene):
    from gradio_client import handle_file

    box = [float(v) for v in small_scene.boxes[1]]
    _, result = client.predict(handle_file(str(assets / "scene.png")), json.dumps({"box": box}), api_name="/segment")
    assert mask_iou(_rle_mask(result["masks"][0]["rle"]), small_scene.masks[1]) >= 0.9


@pytest.mark.parametrize(
    "filename, prompt, expected",
    [
        ("notes.txt", '{"points": [[10, 10]]}', "not an image"),
        ("scene.png", '{"points": [[10, 10]', "not valid JSON"),
        ("scene.png", '{"points": [[900, 10]], "labels": [1]}', "outside"),
        ("scene.png", "{}", "nothing to segment"),
        ("scene.png", '{"point": [1, 2]}', "unknown prompt key"),
        ("scene.png", "", "empty prompt"),
    ],
)
def test_segment_bad_input_gives_a_clear_message(client, assets, filename, prompt, expected):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=expected):
        client.predict(handle_file(str(assets / filename)), prompt, api_name="/segment")


def test_segment_refuses_an_image_over_the_pixel_limit(client, assets, monkeypatch):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    monkeypatch.setenv("SAM_COMPOSE_MAX_PIXELS", "50000")  # the server runs in this process
    with pytest.raises(AppError, match="over the limit"):
        client.predict(handle_file(str(assets / "scene.png")), '{"points": [[5, 5]]}', api_name="/segment")


def test_generate_finds_the_objects_and_rejects_unknown_params(client, assets, small_scene):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    _, result = client.predict(handle_file(str(assets / "scene.png")), "{}", api_name="/generate")
    masks = [_rle_mask(m["rle"]) for m in result["masks"]]
    assert masks, "automatic masks found nothing"
    for truth in small_scene.masks:  # every object is found by some automatic mask
        assert max(mask_iou(m, truth) for m in masks) >= 0.7
    with pytest.raises(AppError, match="does not take"):
        client.predict(handle_file(str(assets / "scene.png")), '{"bogus": 1}', api_name="/generate")


def test_inpaint_removes_the_selected_object(client, assets, small_scene):
    from gradio_client import handle_file

    x, y = small_scene.interior_point(0)
    out = client.predict(
        handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), "telea", 5, api_name="/inpaint"
    )
    result = _read_rgb(out).astype(np.float32)
    original = small_scene.image.astype(np.float32)
    obj = small_scene.masks[0]
    ring = cv2.dilate(obj.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~obj
    background = original[ring].mean(axis=0)
    # inside the object the colour moved from the object's towards the surrounding background
    assert (
        np.abs(result[obj].mean(axis=0) - background).sum() < np.abs(original[obj].mean(axis=0) - background).sum() / 2
    )
    far = ~cv2.dilate(obj.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert np.abs(result[far] - original[far]).mean() < 1.0


def test_lift3d_returns_a_glb_point_cloud(client, assets, small_scene):
    from gradio_client import handle_file

    from sam_compose.adapters.outputs.pointcloud_io import read_glb_points

    x, y = small_scene.interior_point(1)
    glb, summary = client.predict(
        handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), None, api_name="/lift3d"
    )
    assert Path(glb).suffix == ".glb"
    points, colours = read_glb_points(glb)
    assert len(points) == summary["points"] > 100
    assert colours is not None and len(colours) == len(points)
    assert "relief" in summary["depth"]  # no depth given, no estimator offline: the labelled illustration


def test_track_follows_a_moving_square(client, assets):
    from gradio_client import handle_file

    video, summary = client.predict(
        handle_file(str(assets / "moving.avi")), '{"points": [[40, 60]], "labels": [1]}', 0, api_name="/track"
    )
    assert summary["frames_tracked"] == 10
    assert summary["lost_on_frames"] == []
    path = video["video"] if isinstance(video, dict) else video
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == 10

    # the tint follows the square: tinted pixels (neither the plain square's nor the background's
    # colour) move right by ~6 px per frame
    def tinted_x(frame):
        f = frame.astype(np.float32)
        plain_square = np.abs(f - np.array((230, 60, 200), np.float32)).sum(axis=2) < 45
        background = np.abs(f - np.array((40, 90, 40), np.float32)).sum(axis=2) < 45
        tinted = ~plain_square & ~background
        assert tinted.sum() > 500, "no tinted object in the frame"
        return np.nonzero(tinted)[1].mean()

    assert tinted_x(frames[-1]) - tinted_x(frames[0]) == pytest.approx(54, abs=8)


def test_track_a_video_that_cannot_be_read(client, assets):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="video"):
        client.predict(handle_file(str(assets / "broken.mp4")), '{"points": [[5, 5]]}', 0, api_name="/track")
    with pytest.raises(AppError, match="outside the video"):
        client.predict(handle_file(str(assets / "moving.avi")), '{"points": [[40, 60]]}', 50, api_name="/track")


def test_many_clients_at_once_are_all_served(server, assets, small_scene):
    from gradio_client import Client, handle_file

    clients = [Client(server, verbose=False) for _ in range(3)]
    jobs = []
    for i, c in enumerate(clients):
        for k in range(2):
            x, y = small_scene.interior_point((i + k) % len(small_scene.masks))
            jobs.append(
                (
                    (i + k) % len(small_scene.masks),
                    c.submit(
                        handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), api_name="/segment"
                    ),
                )
            )
    for obj, job in jobs:
        _, result = job.result(timeout=240)
        assert mask_iou(_rle_mask(result["masks"][0]["rle"]), small_scene.masks[obj]) >= 0.9


# --- session logic (no server) -----------------------------------------------------------------
class _Evt(SimpleNamespace):
    pass


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


def test_a_full_queue_answers_with_a_clear_message(assets, small_scene):
    from gradio_client import Client, handle_file

    demo = build_app("opencv", concurrency=1, max_queue=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        x, y = small_scene.interior_point(0)
        jobs = [
            client.submit(handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), api_name="/segment")
            for _ in range(5)
        ]
        served, refused = 0, []
        for job in jobs:
            try:
                job.result(timeout=240)
                served += 1
            except Exception as exc:  # the client raises its own error type here
                refused.append(str(exc))
        assert served >= 1 and refused, (served, refused)
        assert all("queue" in r.lower() and "full" in r.lower() for r in refused), refused
    finally:
        demo.close()
