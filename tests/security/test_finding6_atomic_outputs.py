"""Finding 6: ``--out`` was not atomic. A failure after the first file left partial output, and a
1-mask run after a 3-mask run left the old ``mask_1.png`` and ``mask_2.png`` beside the new
``masks.json``."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from sam_compose.cli import main
from sam_compose.samples import synthetic_scene
from sam_compose.security.atomic import MANIFEST, atomic_path, staged_output


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory):
    sc = synthetic_scene(seed=8, size=(120, 160), n_objects=3)
    p = tmp_path_factory.mktemp("atomic") / "scene.png"
    Image.fromarray(sc.image).save(p)
    return sc, p


def _boxes(sc, n):
    out = []
    for b in sc.boxes[:n]:
        out += ["--box", ",".join(str(int(v)) for v in b)]
    return out


def test_a_smaller_run_leaves_no_stale_masks(capsys, tmp_path, scene_file):
    sc, img = scene_file
    out = tmp_path / "out"
    (out).mkdir()
    (out / "my_notes.txt").write_text("not sam-compose's")
    assert main(["segment", str(img), "--engine", "opencv", *_boxes(sc, 3), "--out", str(out)]) == 0
    assert {p.name for p in out.glob("mask_*.png")} == {"mask_0.png", "mask_1.png", "mask_2.png"}
    assert main(["segment", str(img), "--engine", "opencv", *_boxes(sc, 1), "--out", str(out)]) == 0
    capsys.readouterr()
    assert {p.name for p in out.glob("mask_*.png")} == {"mask_0.png"}
    assert len(json.loads((out / "masks.json").read_text())["annotations"]) == 1
    assert (out / "my_notes.txt").read_text() == "not sam-compose's"  # files we did not write are kept
    assert sorted(json.loads((out / MANIFEST).read_text())["files"]) == ["mask_0.png", "masks.json", "overlay.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".sam_compose.partial")]


def test_a_failure_after_the_first_file_leaves_the_folder_as_it_was(capsys, tmp_path, scene_file, monkeypatch):
    sc, img = scene_file
    out = tmp_path / "out"
    assert main(["segment", str(img), "--engine", "opencv", *_boxes(sc, 2), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    from sam_compose import image_io

    def broken(path, array):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_io, "save_png", broken)  # the overlay, written after the masks
    code = main(["segment", str(img), "--engine", "opencv", *_boxes(sc, 3), "--out", str(out)])
    capsys.readouterr()
    assert code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.is_dir()]


def test_run_out_is_atomic_and_reports_final_paths(capsys, tmp_path):
    g = tmp_path / "g.json"
    g.write_text(
        json.dumps(
            {
                "nodes": {
                    "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                    "a": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": "a.png"}},
                    "b": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": "sub/b.png"}},
                }
            }
        )
    )
    out = tmp_path / "out"
    assert main(["run", str(g), "--no-progress", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outputs"]["a"] == str(out / "a.png") and (out / "a.png").is_file()
    assert report["outputs"]["b"] == str(out / "sub" / "b.png") and (out / "sub" / "b.png").is_file()
    # the same graph with b failing: nothing changes in out/
    g.write_text(
        json.dumps(
            {
                "nodes": {
                    "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                    "a": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": "new_a.png"}},
                    "b": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": "x_{frame:>s}.png"}},
                }
            }
        )
    )
    assert main(["run", str(g), "--no-progress", "--out", str(out)]) == 2
    capsys.readouterr()
    assert not (out / "new_a.png").exists() and (out / "a.png").is_file()


def test_atomic_path_and_staged_output_helpers(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]
    with staged_output(tmp_path / "o") as stage:
        (stage / "x.txt").write_text("1")
    with staged_output(tmp_path / "o") as stage:
        (stage / "y.txt").write_text("2")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [MANIFEST, "y.txt"]
