"""`sam-compose segment`: JSON on stdout, files other tools read, one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam_compose.cli import main
from sam_compose.geometry import mask_iou
from sam_compose.samples import synthetic_scene


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory):
    sc = synthetic_scene(seed=3)
    p = tmp_path_factory.mktemp("img") / "scene.png"
    Image.fromarray(sc.image).save(p)
    return sc, p


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_segment_box_writes_pngs_and_coco_that_pycocotools_decodes(capsys, scene_file, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    sc, path = scene_file
    box = ",".join(str(int(v)) for v in sc.boxes[0])
    code, out, err = run_cli(capsys, "segment", path, "--engine", "opencv", "--box", box, "--out", tmp_path / "o")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["engine"] == "opencv" and len(doc["masks"]) == 1
    row = doc["masks"][0]
    png = np.asarray(Image.open(row["path"])) > 127
    assert mask_iou(png, sc.masks[0]) >= 0.9
    assert set(np.unique(np.asarray(Image.open(row["path"])))) <= {0, 255}
    coco = COCO(str(tmp_path / "o" / "masks.json"))
    ann = coco.loadAnns(coco.getAnnIds())[0]
    assert (coco.annToMask(ann).astype(bool) == png).all()
    rle = ann["segmentation"]
    assert (mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool) == png).all()
    assert (tmp_path / "o" / "overlay.png").exists()
    assert not any(p.name.startswith(".partial") for p in (tmp_path / "o").iterdir())
    assert {"load", "embed", "decode", "total"} <= set(doc["timings_ms"])


def test_segment_points_and_multimask_without_out(capsys, scene_file):
    sc, path = scene_file
    x, y = sc.interior_point(1)
    code, out, err = run_cli(capsys, "segment", path, "--engine", "opencv", "--point", f"{x},{y}", "--multimask")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["masks"]) == 3 and all(m["path"] is None for m in doc["masks"])
    assert doc["prompts"][0]["points"] == [[x, y]]


def _write(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, str):
        p.write_text(content)
    else:
        Image.fromarray(content).save(p)
    return p


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (lambda d: d / "missing.png", [], "not found"),
        (lambda d: _write(d, "t.png", "just text"), [], "not an image"),
        (lambda d: _write(d, "one.png", np.zeros((1, 1, 3), np.uint8)), [], "at least 8x8"),
        (None, ["--point", "5000,10"], "outside"),
        (None, ["--box", "300,10,100,200"], "x1 > x0"),
        (None, ["--point", "nan,3"], "NaN"),
        (None, ["--point", "10"], "X,Y"),
        (None, ["--point", "10,20,7"], "label"),
        (None, ["--box", "1,2,3"], "four numbers"),
        (None, ["--engine", "no-such-engine", "--point", "10,10"], "unknown engine"),
        (None, [], "nothing to segment"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, scene_file, tmp_path, make, extra, message):
    path = make(tmp_path) if make else scene_file[1]
    engine = [] if "--engine" in extra else ["--engine", "opencv"]
    code, out, err = run_cli(capsys, "segment", path, *engine, *extra, "--out", tmp_path / "never")
    assert code == 2
    assert out == ""
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "never").exists() or not any((tmp_path / "never").iterdir())


def test_huge_image_refused(capsys, tmp_path):
    p = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(p)
    code, _, err = run_cli(capsys, "segment", p, "--engine", "opencv", "--point", "10,10")
    assert code == 2 and "over the limit" in err


def test_sixteen_bit_grayscale_and_rgba_inputs_are_converted(capsys, tmp_path):
    sc = synthetic_scene(seed=4, size=(120, 160), n_objects=1)
    gray16 = (sc.image.mean(axis=2) * 257).astype(np.uint16)
    rgba = np.dstack([sc.image, np.full(sc.image.shape[:2], 255, np.uint8)])
    box = ",".join(str(int(v)) for v in sc.boxes[0])
    for name, arr in [("g16.png", gray16), ("rgba.png", rgba), ("gray.png", sc.image[..., 0])]:
        p = _write(tmp_path, name, arr)
        code, out, err = run_cli(capsys, "segment", p, "--engine", "opencv", "--box", box)
        assert code == 0, err
        assert json.loads(out)["size"] == [120, 160]


def test_out_is_a_file(capsys, scene_file, tmp_path):
    f = _write(tmp_path, "file.txt", "x")
    code, _, err = run_cli(capsys, "segment", scene_file[1], "--engine", "opencv", "--point", "10,10", "--out", f)
    assert code == 2 and "not a folder" in err


def test_console_script_version_and_sample_photo(tmp_path):
    exe = Path(sys.executable).with_name("sam-compose")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sam_compose.cli"]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    v = subprocess.run(cmd + ["--version"], capture_output=True, text=True, env=env, timeout=120)
    assert v.returncode == 0 and "sam-compose" in v.stdout
    r = subprocess.run(
        cmd + ["segment", "sample:coffee", "--engine", "opencv", "--box", "150,60,460,330", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["masks"][0]["area"] > 5000
    assert Image.open(tmp_path / "overlay.png").size == (600, 400)


def test_gaze_options_reach_the_reader_and_the_prompts(capsys):
    rec = Path(__file__).resolve().parents[1] / "demos" / "gaze" / "coins_gaze.csv"
    base = ["segment", "sample:coins", "--engine", "opencv", "--gaze", str(rec)]
    code, out, err = run_cli(capsys, *base)
    assert code == 0, err
    plain = json.loads(out)
    code, out, err = run_cli(capsys, *base, "--gaze-option", "format=pupil_core", "--gaze-option", "negatives=true")
    assert code == 0, err
    doc = json.loads(out)
    assert len(plain["masks"]) > 1
    assert doc["prompts"][0]["labels"].count(0) == len(plain["prompts"]) - 1  # the other places, as negatives
    assert doc["prompts"][0]["points"][0] == plain["prompts"][0]["points"][0]
    code, out, err = run_cli(capsys, *base, "--gaze-option", "max_prompts=1")
    assert code == 0, err
    assert len(json.loads(out)["masks"]) == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--gaze-option", "bogus=1"], "unknown gaze option"),
        (["--gaze-option", "novalue"], "KEY=VALUE"),
        (["--gaze-option", "format=not_a_format"], "format"),
    ],
)
def test_bad_gaze_options(capsys, extra, message):
    rec = Path(__file__).resolve().parents[1] / "demos" / "gaze" / "coins_gaze.csv"
    code, _, err = run_cli(capsys, "segment", "sample:coins", "--engine", "opencv", "--gaze", str(rec), *extra)
    assert code == 2 and message in err, err


def test_gaze_option_without_gaze(capsys):
    code, _, err = run_cli(
        capsys, "segment", "sample:coins", "--engine", "opencv", "--point", "10,10", "--gaze-option", "negatives=true"
    )
    assert code == 2 and "needs --gaze" in err
