"""Gaze -> prompts -> masks: ordering, provenance, mapping, video frames, calibration, end to end, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sam_compose
from sam_compose.adapters.prompts.gaze import (
    Fixation,
    GazeError,
    GazeSamples,
    NoFixationError,
    SceneToImage,
    assign_frames,
    calibrated_segment,
    gaze_segment,
    gaze_to_prompts,
    match_frames,
    read_frame_times,
    read_gaze,
)
from sam_compose.adapters.prompts.gaze.synth import synth_trace, write_generic
from sam_compose.geometry import mask_iou
from sam_compose.samples import sample_image, synthetic_scene
from sam_compose.types import Prompt

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def engine():
    return sam_compose.shared_engine("opencv")


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(seed=1)


def coin_mask(x: float, y: float) -> np.ndarray:
    """Hand-made ground truth on the real coins photograph: the Otsu blob (holes filled) under (x, y)."""
    from scipy import ndimage as ndi
    from skimage import filters, measure, morphology

    g = sample_image("coins")[..., 0]
    blobs = ndi.binary_fill_holes(morphology.opening(g > filters.threshold_otsu(g), morphology.disk(2)))
    lab = measure.label(blobs)
    return lab == lab[int(y), int(x)]


def test_prompts_ordered_by_dwell_with_provenance(scene):
    pts = [scene.interior_point(i) for i in range(3)]
    # object 2 looked at twice (refixation): its total dwell is the longest
    targets = [(*pts[0], 0.4), (*pts[2], 0.3), (*pts[1], 0.25), (pts[2][0] + 3, pts[2][1] - 2, 0.3)]
    samples, _truth = synth_trace(targets, scene_size=(480, 640), noise=0.8)
    prompts = gaze_to_prompts(samples, image=scene.image)
    assert len(prompts) == 3
    dwell = [p.data["dwell"] for p in prompts]
    assert dwell == sorted(dwell, reverse=True)
    first = prompts[0]
    assert first.data["adapter"] == "gaze" and len(first.data["fixations"]) == 2
    assert scene.masks[2][int(first.points[0][1]), int(first.points[0][0])]
    fx = first.data["fixation"]
    assert set(fx) == {"x", "y", "start", "end", "duration"} and fx["duration"] == pytest.approx(0.6, abs=0.06)
    assert [int(p.labels.sum()) for p in prompts] == [1, 1, 1]
    json.dumps([p.to_dict() for p in prompts])  # provenance is JSON-friendly
    assert len(gaze_to_prompts(samples, image=scene.image, max_prompts=2)) == 2
    assert len(gaze_to_prompts(samples, image=scene.image, min_dwell=0.35)) == 2


def test_negative_points_from_other_fixations(scene):
    pts = [scene.interior_point(i) for i in range(3)]
    samples, _ = synth_trace([(*pts[0], 0.5), (*pts[1], 0.3), (*pts[2], 0.2)], scene_size=(480, 640))
    prompts = gaze_to_prompts(samples, image=scene.image, negatives=True)
    for i, p in enumerate(prompts):
        assert p.labels.tolist() == [1, 0, 0]
        for (x, y), lab in zip(p.points, p.labels):
            inside = scene.masks[:, int(y), int(x)]
            assert inside[i] == bool(lab)  # positive on its object, negatives on the others


def test_synthetic_scene_each_fixation_gives_its_object(scene, engine):
    order = [1, 0, 2]
    samples, _ = synth_trace(
        [(*scene.interior_point(i), d) for i, d in zip(order, (0.6, 0.4, 0.25))],
        scene_size=(480, 640),
        noise=1.0,
        seed=3,
    )
    masks = engine.segment(scene.image, gaze_to_prompts(samples, image=scene.image))
    assert len(masks) == 3
    for row, obj in enumerate(order):
        assert mask_iou(masks.masks[row], scene.masks[obj]) >= 0.8


def test_real_photograph_coin(engine):
    """The scikit-image coins photograph: a fixation on a coin gives that coin (hand-made Otsu mask)."""
    image = sample_image("coins")
    # a head-mounted scene camera of 2x the image size that saw the photograph: gaze in its pixels
    samples, _ = synth_trace(
        [(348 * 2, 186 * 2, 0.5), (334 * 2, 44 * 2, 0.3)], scene_size=(606, 768), noise=2.0, seed=4
    )
    res = gaze_segment(image, samples, engine=engine)
    assert res.data["adapter"] == "gaze" and len(res) == 2
    assert mask_iou(res.masks[0], coin_mask(348, 186)) >= 0.8
    assert mask_iou(res.masks[1], coin_mask(334, 44)) >= 0.8


@pytest.mark.parametrize("name", ["coins_gaze.csv", "coins_neon_gaze.csv", "coins_tobii_gazedata.gz"])
def test_each_device_format_gives_the_right_masks(engine, name):
    """The demo recordings (Pupil Core, Neon, Tobii Glasses 3) of one viewing of the coins photograph."""
    image = sample_image("coins")
    samples = read_gaze(ROOT / "demos" / "gaze" / name)
    res = engine.segment(image, gaze_to_prompts(samples, image=image))
    assert len(res) == 2
    assert mask_iou(res.masks[0], coin_mask(348, 186)) >= 0.8  # 0.9 s there: first
    assert mask_iou(res.masks[1], coin_mask(334, 44)) >= 0.8


def test_object_pasted_on_photograph(engine):
    scene = synthetic_scene(seed=3, background=sample_image("coffee"))
    samples, _ = synth_trace([(*scene.interior_point(0), 0.5)], scene_size=(480, 640), noise=1.0)
    res = engine.segment(scene.image, gaze_to_prompts(samples, image=scene.image))
    assert mask_iou(res.masks[0], scene.masks[0]) >= 0.8


def test_scene_camera_mapping_with_resize_and_crop(scene):
    x, y = scene.interior_point(0)
    # the image is the region [100, 50, 420, 290] of a 1280x960 scene frame... resized to 640x480
    crop = (100.0, 50.0, 420.0, 290.0)
    m = SceneToImage(scene_size=(960, 1280), image_size=(480, 640), crop=crop)
    sx, sy = m.inverse(x, y)
    assert m(sx, sy) == pytest.approx((x, y))
    samples, _ = synth_trace([(float(sx), float(sy), 0.5)], scene_size=(960, 1280))
    (p,) = gaze_to_prompts(samples, image=scene.image, crop=crop)
    assert p.points[0] == pytest.approx((x, y), abs=0.5)
    # normalised recording (Tobii-like) maps by ratio whatever the scene camera's resolution
    s2 = GazeSamples.from_arrays(samples.t, samples.x / 1280, samples.y / 960, scene_size=(1440, 1920), units="norm")
    (p2,) = gaze_to_prompts(s2, image=scene.image, crop=(150, 75, 630, 435))
    assert p2.points[0] == pytest.approx((x, y), abs=0.5)


def test_gaze_entirely_outside_the_image(scene):
    samples, _ = synth_trace([(100, 100, 0.5), (300, 200, 0.4)], scene_size=(960, 1280))
    with pytest.raises(NoFixationError, match=r"no fixation found inside the 640x480 image: all 2 fixations"):
        gaze_to_prompts(samples, image=scene.image, crop=(640, 480, 1280, 960))
    # gaze outside the scene frame is invalid at the source: no fixation from off-scene samples
    off = GazeSamples(t=samples.t, x=samples.x + 5000, y=samples.y, scene_size=(960, 1280))
    with pytest.raises(NoFixationError, match="no fixation found"):
        gaze_to_prompts(off, image=scene.image)


def test_noise_never_becomes_a_prompt(scene):
    rng = np.random.default_rng(0)
    t = np.arange(2000) / 200
    noise = GazeSamples(t=t, x=rng.uniform(0, 640, t.size), y=rng.uniform(0, 480, t.size), scene_size=(480, 640))
    with pytest.raises(NoFixationError, match=r"no fixation found.*none rests long enough"):
        gaze_to_prompts(noise, image=scene.image)
    with pytest.raises(NoFixationError, match="empty"):
        gaze_to_prompts([], image=scene.image)
    with pytest.raises(GazeError, match="needs the image"):
        gaze_to_prompts(noise)


def test_gaze_of_a_wrong_type_is_a_gaze_error(scene):
    with pytest.raises(GazeError, match="list of Fixation, got int"):
        gaze_to_prompts(5, image=scene.image)


def test_fixation_list_input_and_video_frames(scene, tmp_path):
    fix = [
        Fixation(x=100, y=100, start=0.0, end=0.4, duration=0.4),
        Fixation(x=300, y=200, start=0.5, end=1.2, duration=0.7),
        Fixation(x=500, y=400, start=1.3, end=1.5, duration=0.2),
    ]
    prompts = gaze_to_prompts(fix, image_size=(480, 640))
    assert [tuple(p.points[0]) for p in prompts] == [(300, 200), (100, 100), (500, 400)]
    # video at 10 fps starting at t = 0: frame 3 shows 0.3..0.4 s, frame 8 shows 0.8..0.9 s
    (p3,) = gaze_to_prompts(fix, image_size=(480, 640), frame=3, fps=10)
    assert tuple(p3.points[0]) == (100, 100) and p3.data["fixations"][0]["frame"] == 3
    (p8,) = gaze_to_prompts(fix, image_size=(480, 640), frame=8, frame_times=np.arange(20) / 10)
    assert tuple(p8.points[0]) == (300, 200)
    with pytest.raises(NoFixationError, match="during video frame 17"):
        gaze_to_prompts(fix, image_size=(480, 640), frame=17, fps=10)
    idx = match_frames([0.05, 0.31, 1.99, 2.5, -1.0], np.arange(20) / 10)
    assert idx.tolist() == [0, 3, 19, -1, -1]
    assert match_frames([0.05, 0.31], fps=10, video_start=0.0).tolist() == [0, 3]
    with pytest.raises(GazeError, match="increase"):
        match_frames([0.1], [0.0, 0.2, 0.1])
    # frame timestamps from an export: Neon world_timestamps.csv (ns) and Pupil Core .npy (s)
    tmp = tmp_path
    (tmp / "world_timestamps.csv").write_text(
        "section id,recording id,timestamp [ns]\n" + "".join(f"s,r,{int(round(i * 1e8))}\n" for i in range(20))
    )
    np.save(tmp / "world_timestamps.npy", np.arange(20) / 10)
    for name in ("world_timestamps.csv", "world_timestamps.npy"):
        ft = read_frame_times(tmp / name)
        assert ft == pytest.approx(np.arange(20) / 10)
        (p8b,) = gaze_to_prompts(fix, image_size=(480, 640), frame=8, frame_times=ft)
        assert tuple(p8b.points[0]) == (300, 200)
    np.save(tmp / "bad.npy", np.array([0.0, 0.2, 0.1]))
    with pytest.raises(GazeError, match="must increase"):
        read_frame_times(tmp / "bad.npy")
    # fixations placed on the frame where they end (to start or refresh a track there)
    framed = assign_frames(fix, fps=10, n_frames=14)
    assert [f.frame for f in framed] == [4, 12]  # the third ends at 1.5 s, after the 14-frame video
    assert [f.frame for f in assign_frames(fix, fps=10, at="start")] == [0, 5, 13]


def spot_scene():
    """A 320x240 object (ellipse) carrying a small dark spot (a logo): a fixation on the spot."""
    import cv2

    rng = np.random.default_rng(0)
    h, w = 240, 320
    xx = np.mgrid[0:h, 0:w][1]
    img = np.zeros((h, w, 3), np.float32) + np.array([70, 110, 160]) + (xx[..., None] / w) * 30
    obj = np.zeros((h, w), np.uint8)
    cv2.ellipse(obj, (170, 120), (70, 50), 0, 0, 360, 1, -1)
    img[obj > 0] = [210, 180, 60]
    spot = np.zeros((h, w), np.uint8)
    cv2.circle(spot, (190, 110), 7, 1, -1)
    img[spot > 0] = [30, 30, 30]
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8), obj > 0


class _LogoEngine:
    """A point within 8 px of the logo selects the logo, any other point the object: the failure
    calibration guards against, made certain whatever a real engine does with this scene."""

    def __init__(self, obj: np.ndarray, logo: np.ndarray) -> None:
        self.obj, self.logo = obj, logo

    def segment(self, image, prompts, multimask=False):
        prompts = prompts if isinstance(prompts, list) else [prompts]
        rows = [self.logo if np.hypot(*(p.points[0] - (190, 110))) <= 8 else self.obj for p in prompts]
        return sam_compose.Masks(np.stack(rows), scores=np.ones(len(rows)), prompt_index=np.arange(len(rows)))


def test_calibration_aware_prompting_keeps_the_consistent_mask(engine):
    """The raw fixation lands on a logo; most points within the tracker's accuracy give the object."""
    import cv2

    image, truth = spot_scene()
    logo = cv2.circle(np.zeros(truth.shape, np.uint8), (190, 110), 7, 1, -1) > 0
    fix = [Fixation(x=190, y=110, start=0.0, end=0.5, duration=0.5)]
    (plain,) = gaze_to_prompts(fix, image=image)
    stub = _LogoEngine(truth, logo)
    assert mask_iou(stub.segment(image, plain).masks[0], truth) < 0.2  # the raw point gives the logo
    res, chosen = calibrated_segment(image, plain, engine=stub, accuracy=25.0, n=9)
    assert mask_iou(res.masks[0], truth) == 1.0
    info = chosen.data["calibration"]
    assert info["n"] == 9 and info["consistency"] >= 0.7 and info["agreement"] >= 0.5
    assert np.hypot(*(np.array(info["point"]) - (190, 110))) > 8  # a point off the logo was chosen
    # with a real engine the calibrated mask is the object too
    res, chosen = calibrated_segment(image, plain, engine=engine, accuracy=25.0, n=9)
    assert mask_iou(res.masks[0], truth) >= 0.8
    assert np.hypot(info["point"][0] - 190, info["point"][1] - 110) <= 25.0 + 1e-6
    # through gaze_to_prompts: the prompt carries the chosen point and the consistent mask's logits
    (cal,) = gaze_to_prompts(fix, image=image, engine=engine, accuracy=25.0, n_candidates=5)
    assert cal.mask is not None and cal.data["calibration"]["n"] == 5
    assert mask_iou(engine.segment(image, cal).masks[0], truth) >= 0.8
    with pytest.raises(GazeError, match="accuracy"):
        gaze_to_prompts(fix, image=image, engine=engine, accuracy=-1.0)


def test_prompts_from_request_takes_a_gaze_file(tmp_path, scene):
    from sam_compose.adapters.prompts.request import prompts_from_request

    samples, _ = synth_trace([(*scene.interior_point(1), 0.5)], scene_size=(480, 640))
    path = write_generic(tmp_path / "gaze.csv", samples, units="px", names=("t", "x_px", "y_px"))
    prompts = prompts_from_request(scene.image, gaze=str(path))
    assert len(prompts) == 1 and prompts[0].data["adapter"] == "gaze"
    assert isinstance(prompts[0], Prompt)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "sam_compose.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_cli_segment_with_gaze(tmp_path):
    # a screen-based recording in image pixels over the coins photograph: longest on the coin at (348, 186)
    samples, _ = synth_trace([(334, 44, 0.3), (348, 186, 0.6)], scene_size=(303, 384), noise=1.0, seed=5)
    samples.scene_size = None  # image pixels
    path = write_generic(tmp_path / "gaze.csv", samples, units="px", names=("t", "x_px", "y_px"))
    proc = _cli(
        "segment", "sample:coins", "--engine", "opencv", "--gaze", str(path), "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["masks"]) == 2
    assert doc["prompts"][0]["data"]["adapter"] == "gaze"
    from skimage.io import imread

    first = imread(doc["masks"][0]["path"]) > 0
    assert mask_iou(first, coin_mask(348, 186)) >= 0.8
    # bad gaze input: exit 2 and one line on stderr
    (tmp_path / "empty.csv").write_text("")
    bad = _cli("segment", "sample:coins", "--engine", "opencv", "--gaze", str(tmp_path / "empty.csv"), cwd=tmp_path)
    assert bad.returncode == 2 and "empty" in bad.stderr and bad.stdout == ""


def test_graph_nodes_load_gaze_and_gaze_prompt(tmp_path, scene):
    from sam_compose.image_io import save_png

    save_png(tmp_path / "scene.png", scene.image)
    samples, _ = synth_trace([(*scene.interior_point(2), 0.5), (*scene.interior_point(0), 0.3)], scene_size=(480, 640))
    write_generic(tmp_path / "gaze.csv", samples, units="px", names=("t", "x_px", "y_px"))
    graph = sam_compose.Graph.from_dict(
        {
            "nodes": {
                "img": {"type": "load_image", "params": {"path": str(tmp_path / "scene.png")}},
                "gaze": {"type": "load_gaze", "params": {"path": str(tmp_path / "gaze.csv"), "scene_size": [480, 640]}},
                "prompt": {
                    "type": "gaze_prompt",
                    "inputs": {"image": "img", "gaze": "gaze"},
                    "params": {"negatives": True},
                },
                "seg": {
                    "type": "segment",
                    "inputs": {"image": "img", "prompts": "prompt"},
                    "params": {"engine": "opencv"},
                },
            }
        }
    )
    report = graph.run()
    masks = report["outputs"]["seg"]
    assert len(masks) == 2
    assert mask_iou(masks.masks[0], scene.masks[2]) >= 0.8
    bad = sam_compose.Graph.from_dict(
        {"nodes": {"gaze": {"type": "load_gaze", "params": {"path": str(tmp_path / "gaze.csv"), "format": "eyelink"}}}}
    )
    with pytest.raises(Exception, match="eyelink|format"):
        bad.run()


def _video_gaze_graph(tmp_path, scene, n_frames, with_segment=False):
    """A folder of ``n_frames`` copies of the scene (10 fps) and a recording that looks at object 0
    for 0.2 s, then object 1 for 0.2 s; returns (graph, p0, p1)."""
    from sam_compose.image_io import save_png

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(n_frames):
        save_png(frames / f"{i:03d}.png", scene.image)
    p0, p1 = scene.interior_point(0), scene.interior_point(1)
    fix_s, _ = synth_trace([(*p0, 0.2), (*p1, 0.2)], scene_size=(480, 640), saccade=0.0, seed=1)
    write_generic(tmp_path / "gaze.csv", fix_s, units="px", names=("t", "x_px", "y_px"))
    nodes = {
        "vid": {"type": "load_video", "params": {"path": str(frames)}},
        "gaze": {"type": "load_gaze", "params": {"path": str(tmp_path / "gaze.csv"), "scene_size": [480, 640]}},
        "prompt": {
            "type": "gaze_prompt",
            "inputs": {"image": "vid", "gaze": "gaze"},
            "params": {"video_fps": 10.0, "min_duration": 0.05},
        },
    }
    if with_segment:
        nodes["seg"] = {
            "type": "segment",
            "inputs": {"image": "vid", "prompts": "prompt"},
            "params": {"engine": "opencv"},
        }
    return sam_compose.Graph.from_dict({"nodes": nodes}), p0, p1


def test_gaze_prompt_node_over_video_frames(tmp_path, scene):
    """Over a video (10 fps), each frame gets the fixation shown during it."""
    graph, p0, p1 = _video_gaze_graph(tmp_path, scene, 4)
    points = [out["prompt"][0].points[0].tolist() for out in graph.stream(outputs=["prompt"])]
    assert len(points) == 4
    for k, expect in enumerate([p0, p0, p1, p1]):  # frames 0-1 show 0.0-0.2 s, frames 2-3 0.2-0.4 s
        assert np.hypot(points[k][0] - expect[0], points[k][1] - expect[1]) < 3


def test_demo_graph_runs(tmp_path):
    path = ROOT / "demos" / "gaze" / "gaze_segment.json"
    graph = sam_compose.Graph.from_file(path)
    report = graph.run(outputs=["seg", "save"], out_dir=tmp_path)
    masks = report["outputs"]["seg"]
    assert (tmp_path / "gaze_overlay.png").is_file()
    assert len(masks) >= 1 and masks.masks[0].sum() > 500
    assert read_gaze(ROOT / "demos" / "gaze" / "coins_gaze.csv").n_valid > 100


def test_video_frames_nobody_looked_at_get_no_prompt_and_no_mask(tmp_path, scene):
    """Gaze covers the first 0.4 s of a 10 fps video; later frames give [] prompts and empty masks."""
    graph, _, _ = _video_gaze_graph(tmp_path, scene, 8, with_segment=True)
    outs = list(graph.stream(outputs=["prompt", "seg"]))
    assert len(outs) == 8
    counts = [len(o["prompt"]) for o in outs]
    assert counts[:4] == [1, 1, 1, 1] and counts[-2:] == [0, 0]  # frame 4 straddles the recording's end
    assert len(outs[0]["seg"]) == 1 and outs[0]["seg"].masks[0].sum() > 500
    assert len(outs[-1]["seg"]) == 0 and outs[-1]["seg"].image_size == scene.image.shape[:2]
