"""The ``track`` node in graphs: the demo graph end to end, gaze-driven tracks, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sam_compose as sc
from sam_compose.adapters.outputs.tracking.files import read_coco_video, read_mot
from sam_compose.adapters.outputs.tracking.synth import synthetic_video
from sam_compose.geometry import mask_iou

DEMO = Path(__file__).resolve().parents[1] / "demos" / "tracking" / "track_synthetic.json"


def test_demo_graph_writes_every_output(tmp_path):
    report = sc.Graph.from_file(DEMO).run(out_dir=tmp_path, cache=False)
    assert report.ok, report.errors
    out = tmp_path / "tracks"
    v = synthetic_video("motion", n_frames=30)
    coco = read_coco_video(out / "tracks.json")
    assert sorted(coco) == list(range(30))
    ious = [mask_iou(coco[t].get(k + 1, np.zeros(v.size, bool)), v.masks[t, k]) for t in range(30) for k in range(3)]
    assert np.mean(ious) >= 0.8
    assert read_mot(out / "tracks_mot.csv").shape[1] == 10
    assert len(list((out / "masks").glob("*.png"))) == 30
    assert (out / "overlay.mp4").stat().st_size > 1000
    last = report.value("track")
    assert last.ids.tolist() == [1, 2, 3] and last.data["frame"] == 29


def test_track_node_from_gaze_fixations(tmp_path):
    from sam_compose.adapters.prompts.gaze.samples import Fixation

    v = synthetic_video("motion", n_frames=10)
    ys, xs = np.nonzero(v.masks[0, 1])
    fix = [Fixation(x=float(xs.mean()), y=float(ys.mean()), start=0.0, end=0.2, duration=0.2)]
    g = sc.Graph.from_dict(
        {
            "nodes": {
                "video": {"type": "synthetic_video", "params": {"kind": "motion", "frames": 10}},
                "track": {"type": "track", "inputs": {"image": "video", "gaze": "gaze"}, "params": {"fps": 10}},
                "gaze": {"type": "load_gaze", "params": {"path": "unused.csv"}},
            }
        }
    )
    report = g.run(feed={"gaze": fix}, cache=False)
    assert report.ok, report.errors
    last = report.value("track")
    assert last.ids.tolist() == [1]
    assert mask_iou(last.masks[0], v.masks[9, 1]) >= 0.8


def test_track_node_errors(tmp_path):
    g = sc.Graph.from_dict(
        {
            "nodes": {
                "video": {"type": "synthetic_video", "params": {"frames": 3}},
                "track": {"type": "track", "inputs": {"image": "video"}},
            }
        }
    )
    report = g.run(cache=False)
    assert not report.ok and "nothing to track" in report.errors["track"]
    bad = sc.Graph.from_dict(
        {
            "nodes": {
                "video": {"type": "synthetic_video", "params": {"frames": 3}},
                "boxes": {"type": "box_prompt", "params": {"boxes": [[10, 22, 49, 51]]}},
                "track": {
                    "type": "track",
                    "inputs": {"image": "video", "prompts": "boxes"},
                    "params": {"save": "t", "formats": "coco,gif"},
                },
            }
        }
    )
    report = bad.run(cache=False, out_dir=tmp_path)
    assert "formats" in report.errors["track"]
    with pytest.raises(sc.InputError, match="tracker"):
        sc.Graph.from_dict(
            {
                "nodes": {
                    "video": {"type": "synthetic_video"},
                    "track": {"type": "track", "inputs": {"image": "video"}, "params": {"tracker": "kalman"}},
                }
            }
        ).validate()


def test_load_video_file_into_track(tmp_path):
    from sam_compose.video_io import write_video

    v = synthetic_video("cross", n_frames=10)
    write_video(v.frames, tmp_path / "clip.mp4", fps=10)
    g = sc.Graph.from_dict(
        {
            "nodes": {
                "video": {"type": "load_video", "params": {"path": str(tmp_path / "clip.mp4")}},
                "boxes": {"type": "box_prompt", "params": {"boxes": [[8, 33, 41, 66], [120, 55, 153, 88]]}},
                "track": {
                    "type": "track",
                    "inputs": {"image": "video", "prompts": "boxes"},
                    "params": {"save": "out", "formats": "coco,mot"},
                },
            }
        }
    )
    report = g.run(out_dir=tmp_path, cache=False)
    assert report.ok, report.errors
    coco = read_coco_video(tmp_path / "out" / "tracks.json")
    assert len(coco) == 10
    for t in (0, 9):
        for k in (1, 2):
            assert mask_iou(coco[t][k], v.masks[t, k - 1]) >= 0.8


def test_photo_demo_graph(tmp_path):
    report = sc.Graph.from_file(DEMO.parent / "track_video.yaml").run(out_dir=tmp_path, cache=False)
    assert report.ok, report.errors
    v = synthetic_video("photo", n_frames=30)
    coco = read_coco_video(tmp_path / "tracks" / "tracks.json")
    ious = [mask_iou(coco[t].get(1, np.zeros(v.size, bool)), v.masks[t, 0]) for t in range(30)]
    assert np.mean(ious) >= 0.85
