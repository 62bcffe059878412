"""One convention across the gaze modules: sizes (H, W), video_start, engine= keyword; old spellings warn;
no import cycles; a graph records frames without fixation in its run report."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import sam_compose
from sam_compose.adapters.prompts.gaze import (
    FixationDetector,
    GazeSamples,
    LiveGaze,
    SceneToImage,
    assign_frames,
    calibrated_segment,
    gaze_segment,
    gaze_to_prompts,
    match_frames,
    read_gaze,
)
from sam_compose.adapters.prompts.gaze.synth import synth_trace

PKG = Path(sam_compose.__file__).parent / "adapters" / "prompts" / "gaze"


def test_sizes_are_height_width_and_frame_size_warns():
    s = GazeSamples(t=[0.0, 0.1], x=[1, 2], y=[3, 4], scene_size=(480, 640))
    assert s.scene_size == (480, 640)
    with pytest.warns(DeprecationWarning, match=r"frame_size=\(W, H\) is deprecated; pass scene_size=\(H, W\)"):
        old = GazeSamples(t=[0.0, 0.1], x=[1, 2], y=[3, 4], frame_size=(640, 480))
    assert old.scene_size == (480, 640)
    with pytest.warns(DeprecationWarning):
        assert old.frame_size == (640, 480)
    with pytest.warns(DeprecationWarning):
        assert SceneToImage(frame_size=(640, 480), image_size=(240, 320)).scene_size == (480, 640)
    with pytest.warns(DeprecationWarning):
        det = FixationDetector((640, 480))  # the old first positional argument was (W, H)
    assert det.scene_size == (480, 640)
    with pytest.warns(DeprecationWarning):
        assert LiveGaze(frame_size=(640, 480)).scene_size == (480, 640)
    arr = np.array([[0.0, 10, 20], [0.01, 11, 21], [0.02, 12, 22]])
    with pytest.warns(DeprecationWarning):
        assert read_gaze(arr, frame_size=(640, 480)).scene_size == (480, 640)
    with pytest.raises(ValueError, match="disagree"), pytest.warns(DeprecationWarning):
        GazeSamples(t=[0.0], x=[1], y=[1], scene_size=(100, 200), frame_size=(100, 200))


def test_one_name_for_the_gaze_time_of_video_frame_0():
    t = np.array([10.05, 10.31])
    assert match_frames(t, fps=10, video_start=10.0).tolist() == [0, 3]
    assert match_frames(t, fps=10).tolist() == [0, 2]  # None: the earliest time given
    with pytest.warns(DeprecationWarning, match="start= is deprecated; pass video_start="):
        assert match_frames(t, fps=10, start=10.0).tolist() == [0, 3]
    samples, truth = synth_trace([(100, 100, 0.4), (300, 200, 0.4)], scene_size=(480, 640), t0=50.0)
    a = gaze_to_prompts(samples, image_size=(480, 640), frame=6, fps=10, video_start=50.0)
    with pytest.warns(DeprecationWarning, match="t0="):
        b = gaze_to_prompts(samples, image_size=(480, 640), frame=6, fps=10, t0=50.0)
    c = gaze_to_prompts(samples, image_size=(480, 640), frame=6, fps=10)  # default: the first sample (50.0)
    assert a[0].points.tolist() == b[0].points.tolist() == c[0].points.tolist()
    with pytest.warns(DeprecationWarning):
        assert [f.frame for f in assign_frames(truth, fps=10, start=50.0)] == [
            f.frame for f in assign_frames(truth, fps=10, video_start=50.0)
        ]
    from sam_compose.adapters.outputs.tracking.gaze import fixations_by_frame

    with pytest.warns(DeprecationWarning, match="t0="):
        old = fixations_by_frame(truth, 10, t0=50.0)
    assert old.keys() == fixations_by_frame(truth, 10, video_start=50.0).keys()


def test_engine_is_a_keyword_that_takes_a_spec_or_an_engine(scene, opencv_engine):
    samples, _ = synth_trace([(*scene.interior_point(1), 0.5)], scene_size=(480, 640))
    by_spec = gaze_segment(scene.image, samples, engine="opencv")
    by_engine = gaze_segment(scene.image, samples, engine=opencv_engine)
    assert np.array_equal(by_spec.masks, by_engine.masks)
    with pytest.warns(DeprecationWarning, match="positionally is deprecated; pass engine="):
        old = gaze_segment(scene.image, samples, "opencv")
    assert np.array_equal(old.masks, by_spec.masks)
    (p,) = gaze_to_prompts(samples, scene.image)
    with pytest.warns(DeprecationWarning):
        calibrated_segment(scene.image, p, "opencv", 10.0)
    res, _ = calibrated_segment(scene.image, p, engine="opencv", accuracy=10.0)
    assert len(res) == 1
    with pytest.raises(ValueError, match="engine="):
        gaze_segment(scene.image, samples)
    with pytest.raises(ValueError, match="engine spec string"):
        gaze_segment(scene.image, samples, engine=42)


def _imports(path: Path) -> set[str]:
    """Modules of this package that ``path`` imports, at the top or inside functions."""
    out = set()
    for nodeobj in ast.walk(ast.parse(path.read_text())):
        if isinstance(nodeobj, ast.ImportFrom) and nodeobj.level == 1 and nodeobj.module:
            out.add(nodeobj.module.split(".")[0])
    return out


def test_the_gaze_package_has_no_import_cycles():
    graph = {p.stem: _imports(p) for p in PKG.glob("*.py") if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(mod: str, stack: list[str]) -> None:
        state[mod] = 1
        for dep in graph.get(mod, ()):
            if state.get(dep) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(stack + [mod, dep])}")
            if dep in graph and not state.get(dep):
                visit(dep, stack + [mod])
        state[mod] = 2

    for mod in graph:
        if not state.get(mod):
            visit(mod, [])
    assert "coords" not in graph["samples"] and "samples" in graph["coords"]


def test_graph_records_frames_without_fixation(tmp_path, scene):
    """Over a video, a frame nobody looked at gives no prompt, an empty mask, and a note in the report."""
    from sam_compose.adapters.prompts.gaze.synth import write_generic
    from sam_compose.image_io import save_png

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(6):
        save_png(frames / f"{i:03d}.png", scene.image)
    samples, _ = synth_trace([(*scene.interior_point(0), 0.2)], scene_size=(480, 640), seed=1)
    write_generic(tmp_path / "gaze.csv", samples, units="px", names=("t", "x_px", "y_px"))
    graph = sam_compose.Graph.from_dict(
        {
            "nodes": {
                "vid": {"type": "load_video", "params": {"path": str(frames)}},
                "gaze": {"type": "load_gaze", "params": {"path": str(tmp_path / "gaze.csv"), "scene_size": [480, 640]}},
                "prompt": {
                    "type": "gaze_prompt",
                    "inputs": {"image": "vid", "gaze": "gaze"},
                    "params": {"video_fps": 10.0, "min_duration": 0.05},
                },
                "seg": {
                    "type": "segment",
                    "inputs": {"image": "vid", "prompts": "prompt"},
                    "params": {"engine": "opencv"},
                },
            }
        }
    )
    report = graph.run()
    assert report.ok, report.errors
    notes = report["nodes"]["prompt"]["notes"]
    assert len(notes) == 4 and all("no fixation" in n for n in notes)  # frames 2..5: the look ends at 0.195 s
    assert notes[0].startswith("frame 2: no fixation: no fixation found during video frame 2")
    assert "notes" not in report["nodes"]["seg"]
    assert "notes" in report.to_json()["nodes"]["prompt"]


def test_the_load_gaze_node_offers_exactly_the_formats_the_readers_read():
    """nodes/gaze.py spells the format list out (node modules do not import the gaze adapters at
    load time); this keeps the two lists one."""
    from sam_compose.adapters.prompts.gaze.readers import FORMATS
    from sam_compose.nodes.gaze import FORMAT_CHOICES

    assert ("auto", *FORMATS) == FORMAT_CHOICES
