"""Finding 4: small inputs exhausted memory or time.

Each bomb is handed to the CLI in a child process whose address space is capped (see
conftest): refusing it must take far less memory than the cap, and it must be refused with
exit code 2 and one line naming the input, the limit and its variable. The bombs:
a 4,000,000x8 PNG; a 20000x20000 mask PNG passed as --mask; a gzip gaze file holding one
1 GiB line; a 525-byte YAML of nested aliases; a save path template {frame:1500000000};
a 100k-node chain graph; a long chain that would keep every intermediate value; a gaze
recording with very many fixations; and over MCP, a call past its time limit whose work
must stop."""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest


def _png(path: Path, width: int, height: int, bit_depth: int = 1, colour: int = 0) -> Path:
    """A PNG of zeros written chunk by chunk (never held as pixels): the file is small, the image huge."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width * bit_depth * (3 if colour == 2 else 1) + 7) // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def _gzip_one_long_line(path: Path, gib: int = 1) -> Path:
    """A gzip CSV whose second line is ``gib`` GiB long (about 1 MB on disk)."""
    chunk = b"1" * (16 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = b"t,x,y\n0,"
    start = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)  # independent of what comes before
    end = comp.compress(b",1\n") + comp.flush()
    copies = gib * 64
    crc = zlib.crc32(head)
    for _ in range(copies):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(b",1\n", crc)
    size = (len(head) + copies * len(chunk) + 3) & 0xFFFFFFFF
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + start)
        for _ in range(copies):
            f.write(block)
        f.write(end + struct.pack("<II", crc & 0xFFFFFFFF, size))
    return path


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
nodes: {img: {type: box_prompt, params: {boxes: *h}}}
"""


def _one_line(res, *fragments):
    assert res.code == 2, (res.code, res.err[-2000:])
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.err[-2000:]
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def test_a_4000000x8_png_is_refused_from_its_header(capped, tmp_path):
    wide = _png(tmp_path / "wide.png", 4_000_000, 8, bit_depth=8, colour=0)
    assert wide.stat().st_size < 200_000
    line = _one_line(capped(["segment", wide, "--engine", "opencv", "--point", "5,5"]), "wide.png")
    assert "SAM_COMPOSE_MAX_ASPECT" in line


def test_a_mask_png_bomb_is_refused_before_decoding(capped, tmp_path, photo):
    bomb = _png(tmp_path / "mask_bomb.png", 20000, 20000)
    line = _one_line(capped(["segment", photo, "--engine", "opencv", "--mask", bomb]), "mask_bomb.png")
    assert "SAM_COMPOSE_MAX_MASK_PIXELS" in line


def test_a_gzip_gaze_file_with_one_huge_line_is_refused_while_streaming(capped, tmp_path, photo):
    bomb = _gzip_one_long_line(tmp_path / "gaze.csv.gz")
    assert bomb.stat().st_size < 2_000_000
    line = _one_line(capped(["segment", photo, "--engine", "opencv", "--gaze", bomb]), "gaze.csv.gz")
    assert "SAM_COMPOSE_MAX_LINE_BYTES" in line


def test_billion_laughs_yaml_is_refused(capped, tmp_path):
    p = tmp_path / "lol.yaml"
    p.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 600
    _one_line(capped(["run", p, "--no-progress"]), "lol.yaml", "SAM_COMPOSE_MAX_")


def test_a_huge_path_template_width_is_refused(capped, tmp_path):
    g = tmp_path / "tpl.json"
    g.write_text(
        json.dumps(
            {
                "nodes": {
                    "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                    "save": {
                        "type": "save_image",
                        "inputs": {"image": "img"},
                        "params": {"path": "{frame:1500000000}.png"},
                    },
                }
            }
        )
    )
    _one_line(
        capped(["run", g, "--no-progress", "--out", tmp_path / "out"]),
        "{frame:1500000000}",
        "SAM_COMPOSE_MAX_TEMPLATE_WIDTH",
    )


def test_a_100k_node_chain_graph_is_refused(capped, tmp_path):
    nodes = {"n0": {"type": "load_image", "params": {"path": "sample:coins"}}}
    for i in range(1, 100_000):
        nodes[f"n{i}"] = {"type": "overlay", "inputs": {"image": f"n{i - 1}", "masks": "m"}}
    g = tmp_path / "chain.json"
    g.write_text(json.dumps({"nodes": nodes}))
    _one_line(capped(["run", g, "--no-progress"]), "chain.json", "SAM_COMPOSE_MAX_GRAPH_")
    nodes = dict(list(nodes.items())[:20_000])  # small enough a file, too many nodes
    g.write_text(json.dumps({"nodes": nodes}, separators=(",", ":")))
    _one_line(
        capped(["run", g, "--no-progress"], env={"SAM_COMPOSE_MAX_GRAPH_BYTES": str(10**8)}),
        "SAM_COMPOSE_MAX_GRAPH_NODES",
    )


FREEING = """
import numpy as np
from sam_compose import Graph
from sam_compose.nodes.api import node, Param
from sam_compose.nodes.ports import Image

@node("grow_test", category="misc")
def grow(image: Image, *, k: int = Param(0)) -> Image:
    out = np.empty((2048, 3413, 3), np.uint8)   # 20 MB per node
    out[...] = k % 251
    return out

g = Graph()
prev = g.add("load_image", path="sample:coins")
for i in range(150):                            # 3 GB if every value were kept
    prev = g.add("grow_test", image=prev, k=i)
report = g.run(cache=False)
assert report.ok, report.errors
assert int(report.value(prev)[0, 0, 0]) == 149
print("ok")
"""


def test_the_runtime_frees_intermediate_values_after_their_last_consumer(capped):
    res = capped(["-c", FREEING], python=True, env={"SAM_COMPOSE_GRAPH_CACHE_BYTES": "0"})
    assert res.code == 0 and res.out.strip() == "ok", res.err[-2000:]


GROUPING = """
import numpy as np
from sam_compose.adapters.prompts.gaze.prompts import group_fixations
from sam_compose.adapters.prompts.gaze.samples import Fixation

rng = np.random.default_rng(0)
n = 100_000                                     # a long recording's worth of fixations
xy = rng.uniform(0, 4000, size=(n, 2))
dur = rng.uniform(0.06, 0.6, size=n)
fix = [Fixation(x=float(x), y=float(y), start=float(i), end=float(i) + float(d), duration=float(d))
       for i, ((x, y), d) in enumerate(zip(xy, dur))]
groups = group_fixations(fix, 30.0)
assert sum(len(g) for g in groups) == n
print(len(groups))
"""


def test_fixation_grouping_is_not_quadratic(capped):
    """100k fixations grouped within a CPU-time cap that a quadratic grouping (hours) cannot meet."""
    res = capped(["-c", GROUPING], python=True, cpu=60)
    assert res.code == 0, res.err[-2000:]
    assert int(res.out.strip()) > 1000


def test_gaze_rows_are_bounded(capped, tmp_path, photo):
    rec = tmp_path / "long.csv"
    t = np.arange(5000) / 200.0
    rec.write_text("t,x,y\n" + "\n".join(f"{a:.4f},10,10" for a in t) + "\n")
    _one_line(
        capped(["segment", photo, "--engine", "opencv", "--gaze", rec], env={"SAM_COMPOSE_MAX_GAZE_ROWS": "1000"}),
        "long.csv",
        "SAM_COMPOSE_MAX_GAZE_ROWS",
    )


def test_a_tool_call_past_its_time_limit_stops_its_work(tmp_path):
    from sam_compose.errors import LimitError
    from sam_compose.integrations.service import AgentService

    root = tmp_path / "root"
    root.mkdir()
    (root / "long.json").write_text(
        json.dumps(
            {
                "nodes": {
                    "video": {"type": "synthetic_video", "params": {"frames": 1000, "width": 640, "height": 480}},
                    "box": {"type": "box_prompt", "params": {"boxes": [[10, 10, 60, 60]]}},
                    "track": {
                        "type": "track",
                        "inputs": {"image": "video", "prompts": "box"},
                        "params": {"save": "tracks", "formats": "png"},
                    },
                }
            }
        )
    )
    svc = AgentService(engine="opencv", allowed_roots=[root], output_dir=root / "out", timeout_s=1.0)
    with pytest.raises(LimitError, match="stopped after 1 s"):
        svc.run_graph("long.json")

    def written() -> int:
        return sum(1 for _ in (root / "out").rglob("*.png"))

    counts = [written()]
    for _ in range(4):  # the work must stop at its next checkpoint: nothing more is written
        time.sleep(1.0)
        counts.append(written())
    assert counts[-1] == counts[-2] == counts[-3], f"the work went on after the caller was told: {counts}"
    assert counts[-1] < 1000


def test_video_frames_and_frame_size_are_bounded(tmp_path, monkeypatch):
    import cv2

    from sam_compose.errors import InputError, LimitError
    from sam_compose.video_io import VideoError, open_video

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(12):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    monkeypatch.setenv("SAM_COMPOSE_MAX_VIDEO_FRAMES", "10")
    with pytest.raises(InputError, match="SAM_COMPOSE_MAX_VIDEO_FRAMES") as info, open_video(path) as vs:
        for _ in vs:
            pass
    assert isinstance(info.value, VideoError) and isinstance(info.value, LimitError)
    assert (info.value.limit, info.value.env) == ("video_frames", "SAM_COMPOSE_MAX_VIDEO_FRAMES")
    monkeypatch.setenv("SAM_COMPOSE_MAX_VIDEO_FRAMES", "12")
    with open_video(path) as vs:
        assert sum(1 for _ in vs) == 12
    monkeypatch.setenv("SAM_COMPOSE_MAX_PIXELS", "1000")  # 64x48 frames are over it: refused from the header
    with pytest.raises(InputError, match="SAM_COMPOSE_MAX_PIXELS"):
        open_video(path)
