"""`sam-compose run` and the demo graphs, from the CLI and from Python."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam_compose.cli import main
from sam_compose.graph import Graph, ResultCache

DEMOS = Path(__file__).resolve().parents[1] / "demos"
BOX_DEMO = DEMOS / "box_segment_overlay.json"
AUTO_DEMO = DEMOS / "generate_export.yaml"


def run_cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(["run", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_box_demo_runs_from_the_cli_and_writes_the_overlay(capsys, tmp_path):
    from sam_compose.image_io import load_image

    code, report, err = run_cli(capsys, str(BOX_DEMO), "--out", str(tmp_path))
    assert code == 0, err
    assert report["ok"] and set(report["nodes"]) == {"img", "box", "seg", "overlay", "save"}
    assert all({"ms", "cached"} <= set(n) for n in report["nodes"].values())
    saved = Path(report["outputs"]["save"])
    assert saved == tmp_path / "box_overlay.png"
    overlay = cv2.imread(str(saved))[:, :, ::-1]
    original = load_image("sample:astronaut")
    assert overlay.shape == original.shape
    changed = np.abs(overlay.astype(int) - original.astype(int)).sum(axis=2) > 30
    assert changed[20:220, 140:330].mean() > 0.3 and changed[300:, :100].mean() < 0.01  # tinted inside the box only


def test_generate_demo_exports_coco_that_pycocotools_reads(capsys, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    code, report, err = run_cli(
        capsys,
        str(AUTO_DEMO),
        "--out",
        str(tmp_path),
        "--output",
        "export",
        "--output",
        "auto",
        "--set",
        "auto.max_masks=40",
    )
    assert code == 0, err
    assert set(report["outputs"]) == {"export", "auto"}
    summary = report["outputs"]["auto"]
    assert summary["type"] == "masks" and 3 <= summary["count"] <= 40
    coco = COCO(report["outputs"]["export"])
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == summary["count"]
    areas = sorted(int(mask_utils.decode(a["segmentation"]).sum()) for a in anns)
    assert areas == sorted(m["area"] for m in summary["masks"])
    assert not (tmp_path / "coins_overlay.png").exists()  # --output ran only what export and auto need


def test_demo_graphs_run_from_python(tmp_path):
    for demo in (BOX_DEMO, AUTO_DEMO):
        report = Graph.from_file(demo).run(out_dir=tmp_path, cache=ResultCache())
        assert report.ok, report.errors
    assert (tmp_path / "box_overlay.png").is_file() and (tmp_path / "coins_masks.json").is_file()


def test_set_overrides_params(capsys, tmp_path):
    code, report, err = run_cli(
        capsys,
        str(BOX_DEMO),
        "--out",
        str(tmp_path),
        "--set",
        "seg.multimask=true",
        "--set",
        "box.boxes=[[150, 30, 320, 210]]",
        "--set",
        "save.path=other.png",
        "--output",
        "seg",
        "--output",
        "save",
    )
    assert code == 0, err
    assert report["outputs"]["seg"]["count"] == 3
    assert report["outputs"]["save"] == str(tmp_path / "other.png")


def test_set_value_that_looks_like_json_stays_a_string_for_string_params(capsys, tmp_path):
    code, _, err = run_cli(capsys, str(BOX_DEMO), "--out", str(tmp_path), "--set", "save.path=123", "--output", "save")
    assert code == 2 and "cannot tell the format of '123'" in err  # reached the node as the string "123"


@pytest.mark.parametrize(
    "setting, fragment",
    [
        ("nope.engine=opencv", "there is no node 'nope'"),
        ("seg.engin=opencv", "node 'seg' (segment) has no param 'engin'"),
        ("seg=opencv", "NODE.PARAM=VALUE"),
        ("seg.engine", "NODE.PARAM=VALUE"),
        ("seg.multimask=3", "node 'seg' (segment) param 'multimask': expected true or false"),
    ],
)
def test_set_errors_exit_2_with_one_line(capsys, tmp_path, setting, fragment):
    code, report, err = run_cli(capsys, str(BOX_DEMO), "--out", str(tmp_path), "--set", setting)
    assert code == 2 and report is None
    assert err.startswith("error: ") and fragment in err and err.count("\n") == 1
    assert not (tmp_path / "box_overlay.png").exists()  # nothing ran


def test_invalid_graph_and_missing_file_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  seg: {type: segment, inputs: {image: img}}\n")
    code, _, err = run_cli(capsys, str(bad))
    assert code == 2 and "node 'seg' input 'image' refers to node 'img', which does not exist" in err
    code, _, err = run_cli(capsys, str(tmp_path / "none.json"))
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(capsys)
    assert code == 2 and "give a graph file" in err


def test_failing_node_prints_report_and_exits_2(capsys, tmp_path):
    g = Graph.from_file(BOX_DEMO)
    g.set("box", boxes=[[10, 10, 5000, 5000]])
    g.set("img", path=str(tmp_path / "missing.png"))
    path = g.to_file(tmp_path / "g.json")
    code, report, err = run_cli(capsys, str(path), "--out", str(tmp_path))
    assert code == 2
    assert "error" in report["nodes"]["img"] and report["nodes"]["seg"]["skipped"]
    assert err.startswith("error: node 'img' failed")


def test_list_nodes(capsys):
    code = main(["run", "--list-nodes"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and {"load_image", "segment", "generate", "save_image"} <= {n["type"] for n in out}
