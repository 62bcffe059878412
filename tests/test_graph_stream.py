"""Graphs over video streams: per-frame nodes, stateful nodes, flat memory, failures mid-stream."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from sam_compose.graph import Graph, GraphError, GraphRunError, ResultCache
from sam_compose.nodes.api import Param, frame_index, node
from sam_compose.nodes.ports import Image, Number, Video

EVENTS: list[str] = []


@node("gs_video", category="test", cacheable=False)
def gs_video(*, frames: int = Param(10, ge=1), size: int = Param(32, ge=4)) -> Video:
    def gen():
        for i in range(frames):
            f = np.zeros((size, size, 3), np.uint8)
            f[..., 0] = i % 256
            yield f

    return gen()


@node("gs_red", category="test")
def gs_red(image: Image, *, fail_at: int = -1) -> Number:
    if frame_index() == fail_at:
        raise ValueError(f"cannot handle frame {fail_at}")
    return float(image[0, 0, 0])


@node("gs_offset", category="test")
def gs_offset(*, value: float = 100.0) -> Number:
    EVENTS.append("offset")
    return value


@node("gs_plus", category="test")
def gs_plus(a: Number, b: Number) -> Number:
    return a + b


@node("gs_running_sum", category="test", stateful=True)
class RunningSum:
    """Stateful: sums its input over the stream; close() returns the total."""

    def __init__(self, *, start: float = 0.0, final: bool = False):
        self.total = start
        self.final = final
        EVENTS.append("init")

    def __call__(self, x: Number) -> Number:
        self.total += x
        return self.total

    def close(self):
        EVENTS.append("close")
        return self.total + 0.5 if self.final else None


@node("gs_whole", category="test")
def gs_whole(video: Video) -> Number:
    return float(sum(1 for _ in video))


def stream_graph(frames=10, fail_at=-1, final=False) -> Graph:
    g = Graph()
    vid = g.add("gs_video", id="vid", frames=frames)
    red = g.add("gs_red", id="red", image=vid, fail_at=fail_at)
    plus = g.add("gs_plus", id="plus", a=red, b=g.add("gs_offset", id="off"))
    g.add("gs_running_sum", id="sum", x=plus, final=final)
    return g


def test_per_frame_nodes_run_per_frame_and_stateful_nodes_keep_state():
    EVENTS.clear()
    g = stream_graph(frames=10)
    plan = g.validate()
    assert plan.per_frame == {"red", "plus", "sum"} and plan.stream_sources == ["vid"]
    report = g.run(cache=ResultCache())
    assert report.ok
    assert report["outputs"] == {"sum": sum(range(10)) + 100.0 * 10}
    assert report["nodes"]["red"]["frames"] == 10 and report["nodes"]["red"]["per_frame"]
    assert "frames" not in report["nodes"]["off"]  # static: ran once before the stream
    assert EVENTS == ["offset", "init", "close"]  # the static node ran once; one instance per stream


def test_stream_yields_after_every_frame_and_close_can_give_the_final_value():
    values = [v["sum"] for v in stream_graph(frames=4).stream(cache=False)]
    assert values == [100.0, 201.0, 303.0, 406.0]
    report = stream_graph(frames=4, final=True).run(cache=False)
    assert report["outputs"] == {"sum": 406.5}
    assert stream_graph(frames=50).run(cache=False, max_frames=3)["outputs"] == {"sum": 303.0}


def test_failing_frame_is_reported_with_its_index_and_state_is_closed():
    EVENTS.clear()
    g = stream_graph(frames=10, fail_at=3)
    g.add("gs_red", id="other", image="vid")  # an independent branch keeps going
    report = g.run(cache=False)
    assert not report.ok
    red = report["nodes"]["red"]
    assert red["frame"] == 3 and "cannot handle frame 3" in red["error"]
    assert red["inputs"]["image"] == {"type": "image", "shape": [32, 32, 3]}
    assert report["nodes"]["sum"]["skipped"] and report["nodes"]["sum"]["because"] == "red"
    assert report["outputs"] == {"other": 9.0} and report["nodes"]["other"]["frames"] == 10
    assert EVENTS[-1] == "close"
    with pytest.raises(GraphRunError, match="node 'red' failed"):
        list(stream_graph(frames=10, fail_at=3).stream(cache=False))


def test_memory_stays_flat_over_a_long_stream():
    def peak(frames: int) -> int:
        g = Graph()
        vid = g.add("gs_video", id="vid", frames=frames, size=64)
        g.add("gs_running_sum", id="sum", x=g.add("gs_red", id="red", image=vid))
        tracemalloc.start()
        report = g.run(cache=False)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.ok and report["nodes"]["red"]["frames"] == frames
        return top

    short, long = peak(100), peak(5000)
    frame_bytes = 64 * 64 * 3
    assert long - short < 200 * frame_bytes  # 4900 more frames did not pile up (~60 MB if they did)


def test_video_wiring_is_checked_before_running():
    g = Graph()
    vid = g.add("gs_video", id="vid")
    g.add("gs_red", id="red", image=vid)
    g.add("gs_whole", id="whole", video=vid)
    with pytest.raises(GraphError, match="takes the video 'vid' whole"):
        g.validate()
    g = Graph()
    g.add("gs_whole", id="whole", video=g.add("gs_video", id="vid"))
    assert g.run(cache=False)["outputs"] == {"whole": 10.0}  # a whole-video consumer runs once
    g = Graph()
    g.add("overlay", id="ov", image=g.add("load_image", path="sample:coins"), masks=g.add("gs_video", id="vid"))
    with pytest.raises(GraphError, match="expects Masks but vid.video is Video") as err:
        g.validate()
    assert err.value.node == "ov" and err.value.port == "masks"


def test_video_file_through_segment_and_save_per_frame(tmp_path):
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for i in range(4):
        f = np.full((96, 128, 3), 40, np.uint8)
        cv2.rectangle(f, (20 + 8 * i, 30), (60 + 8 * i, 70), (230, 60, 40), -1)
        cv2.imwrite(str(frames_dir / f"{i:02d}.png"), f[:, :, ::-1])
    g = Graph()
    vid = g.add("load_video", id="vid", path=str(frames_dir))
    box = g.add("box_prompt", id="box", boxes=[[10, 20, 100, 80]])
    seg = g.add("segment", id="seg", image=vid, prompts=box, engine="opencv")
    ov = g.add("overlay", id="ov", image=vid, masks=seg)
    g.add("save_image", id="save", image=ov, path="out/{frame:03d}.png")
    report = g.run(out_dir=tmp_path, cache=False)
    assert report.ok, report.errors
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000.png", "001.png", "002.png", "003.png"]
    assert report["nodes"]["seg"]["frames"] == 4 and report["nodes"]["box"]["cached"] is False
    last = report.value("seg")
    x0 = int(last.boxes[0][0])
    assert abs(x0 - (20 + 8 * 3)) <= 4  # the last frame's mask follows the moving rectangle
