"""Finding 5: unclear errors. Each case exited 1 or printed a traceback; each must exit 2 with
one line on stderr naming the input and the fix."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from sam_compose.cli import main


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return code, out, lines


def one_line(capsys, *argv):
    code, _, lines = cli(capsys, *argv)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def _graph(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def test_an_image_wider_than_512_to_1(capsys, tmp_path):
    p = tmp_path / "strip.png"
    Image.fromarray(np.full((8, 5000, 3), 120, np.uint8)).save(p)
    line = one_line(capsys, "segment", p, "--engine", "opencv", "--point", "10,4")
    assert "strip.png" in line and "SAM_COMPOSE_MAX_ASPECT" in line


def test_deeply_nested_json_and_yaml_graphs(capsys, tmp_path):
    deep = {"nodes": {"b": {"type": "box_prompt", "params": {"boxes": "X"}}}}
    text = json.dumps(deep).replace('"X"', "[" * 5000 + "]" * 5000)
    line = one_line(capsys, "run", _graph(tmp_path, "deep.json", text), "--no-progress")
    assert "deep.json" in line and "SAM_COMPOSE_MAX_GRAPH_DEPTH" in line
    yaml_text = "nodes:\n  b:\n    type: box_prompt\n    params:\n      boxes: " + "[" * 5000 + "]" * 5000 + "\n"
    line = one_line(capsys, "run", _graph(tmp_path, "deep.yaml", yaml_text), "--no-progress")
    assert "deep.yaml" in line and "SAM_COMPOSE_MAX_GRAPH_DEPTH" in line


def test_a_10_to_the_400_integer(capsys, tmp_path):
    text = '{"nodes": {"b": {"type": "box_prompt", "params": {"boxes": [[1, 2, 3, 1' + "0" * 400 + "]]}}}}"
    line = one_line(capsys, "run", _graph(tmp_path, "big.json", text), "--no-progress")
    assert "big.json" in line and "SAM_COMPOSE_MAX_INT_BITS" in line
    line = one_line(
        capsys,
        "run",
        _graph(tmp_path, "ok.json", {"nodes": {"b": {"type": "box_prompt", "params": {"boxes": [[1, 2, 3, 4]]}}}}),
        "--set",
        "b.boxes=[[1,2,3,1" + "0" * 400 + "]]",
    )
    assert "SAM_COMPOSE_MAX_INT_BITS" in line


@pytest.mark.parametrize(
    "template",
    ["out_{0}.png", "out_{frame.real}.png", "out_{x}.png", "out_{frame!r}.png", "out_{frame:>s}.png", "out_{.png"],
)
def test_bad_path_templates(capsys, tmp_path, template):
    g = _graph(
        tmp_path,
        "tpl.json",
        {
            "nodes": {
                "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                "save": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": template}},
            }
        },
    )
    line = one_line(capsys, "run", g, "--no-progress", "--out", tmp_path / "out")
    assert "{frame" in line and "template" in line


def test_a_nul_byte_in_a_path(capsys, tmp_path):
    g = _graph(tmp_path, "nul.json", {"nodes": {"img": {"type": "load_image", "params": {"path": "a\x00b.png"}}}})
    line = one_line(capsys, "run", g, "--no-progress")
    assert "NUL" in line and "path" in line


@pytest.mark.parametrize(
    "name, content", [("empty.pth", b""), ("notes.pt", b"this is a text file\n"), ("junk.pth", os.urandom(4096))]
)
def test_an_empty_or_text_checkpoint_as_engine(capsys, tmp_path, photo, name, content):
    ckpt = tmp_path / name
    ckpt.write_bytes(content)
    line = one_line(capsys, "segment", photo, "--engine", ckpt, "--point", "10,10")
    assert name in line


def test_a_fifo_as_the_image_does_not_hang(capped, tmp_path):
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    res = capped(["segment", fifo, "--engine", "opencv", "--point", "5,5"], timeout=60)
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert res.code == 2 and len(lines) == 1 and "FIFO" in lines[0] and "image.png" in lines[0], res.err


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_fifo_as_graph_gaze_or_mask(capsys, tmp_path, photo):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "FIFO" in one_line(capsys, "run", fifo, "--no-progress")
    assert "FIFO" in one_line(capsys, "segment", photo, "--engine", "opencv", "--gaze", fifo)
    assert "FIFO" in one_line(capsys, "segment", photo, "--engine", "opencv", "--mask", fifo)


@pytest.mark.parametrize(
    "argv", [["--point", "-5,-5"], ["--point=-5,-5"], ["--box", "-5,-5,20,20"], ["--point", "-.5,3"]]
)
def test_negative_numbers_parse_as_coordinates(capsys, photo, argv):
    code, out, lines = cli(capsys, "segment", photo, "--engine", "opencv", *argv)
    if argv[0].startswith("--box"):
        assert code == 0, lines  # a box that starts outside the image is clipped (with a warning)
        assert json.loads(out)["prompts"][0]["box"] == [0.0, 0.0, 20.0, 20.0]
    else:
        assert code == 2 and len(lines) == 1 and "outside" in lines[0], lines  # a point, outside the image


def test_argparse_errors_are_one_line_too(capsys, photo):
    code, _, lines = cli(capsys, "segment", photo, "--point")
    assert code == 2 and len(lines) == 1 and "--point" in lines[0], lines
