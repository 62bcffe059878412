"""`sam-compose batch` and Graph.run_batch on the local backend: manifest, COCO, item folders, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from batch_cases import coco_core, generate_graph, manifest, photo, photo_folder, write_graph

from sam_compose.cli import main
from sam_compose.graph import Graph


def batch_cli(capsys, *argv: str) -> tuple[int, dict | None, list[str]]:
    code = main(["batch", *argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err.strip().splitlines()


@pytest.fixture
def corrupt_folder(tmp_path: Path) -> Path:
    """Three good photos (two called x.png in different folders), a corrupt PNG, a truncated JPEG, a text file."""
    root = tmp_path / "in"
    photo_folder(root, ["a/x.png", "b/x.png", "c.jpg"])
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not image data")
    good = (root / "c.jpg").read_bytes()
    (root / "trunc.jpg").write_bytes(good[: len(good) // 3])
    (root / "notes.txt").write_text("not an input")
    return root


def test_folder_with_corrupt_files_gives_manifest_exit_3_and_a_coco_file(capsys, tmp_path, corrupt_folder):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    graph = write_graph(tmp_path / "g.json", generate_graph())
    out = tmp_path / "out"
    code, summary, err = batch_cli(capsys, str(graph), "--inputs", str(corrupt_folder), "--out", str(out))
    assert code == 3
    assert err[-1] == f"3 ok, 2 failed: see {out}/manifest.jsonl"
    assert summary["ok"] == 3 and summary["failed"] == 2 and summary["exit_code"] == 3

    records = manifest(out)
    by_input = {Path(r["input"]).relative_to(corrupt_folder).as_posix(): r for r in records}
    assert sorted(by_input) == ["a/x.png", "b/x.png", "bad.png", "c.jpg", "trunc.jpg"]  # each input once, no .txt
    assert all(set(r) >= {"input", "status", "outputs", "ms", "error"} for r in records)
    for name in ("bad.png", "trunc.jpg"):
        r = by_input[name]
        assert r["status"] == "failed" and "ImageError" in r["error"] and name in r["error"] and r["outputs"] == {}
    ok = [by_input[n] for n in ("a/x.png", "b/x.png", "c.jpg")]
    assert all(r["status"] == "ok" and r["error"] is None and r["ms"] > 0 for r in ok)
    assert [r["item"] for r in ok] == ["a__x.png", "b__x.png", "c.jpg"]  # same file name, distinct folders
    for r in ok:
        assert (out / r["outputs"]["save"]).is_file() and (out / r["outputs"]["annotations"]).is_file()
    assert sorted(p.name for p in (out / "items").iterdir()) == ["a__x.png", "b__x.png", "c.jpg"]

    coco = COCO(str(out / "annotations.json"))
    images = coco.loadImgs(coco.getImgIds())
    assert [(im["file_name"], im["height"], im["width"]) for im in images] == [
        ("a/x.png", 96, 128),
        ("b/x.png", 96, 128),
        ("c.jpg", 96, 128),
    ]
    assert len(coco.getAnnIds()) == sum(r["masks"] for r in ok) > 0
    # the masks of each image are the ones a plain run of the graph gives
    g = Graph.from_file(graph)
    for im in images:
        masks = g.run(outputs=["auto"], feed={"img": str(corrupt_folder / im["file_name"])}, cache=False).value("auto")
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[im["id"]]))
        assert len(anns) == len(masks)
        for ann, m, score in zip(anns, masks.masks, masks.scores):
            decoded = mask_utils.decode(ann["segmentation"]).astype(bool)
            assert np.array_equal(decoded, m) and ann["area"] == int(m.sum())
            assert ann["score"] == pytest.approx(float(score))
            x, y, w, h = ann["bbox"]
            ys, xs = np.nonzero(m)
            assert (x, y, x + w, y + h) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_two_workers_give_the_same_outputs_as_one(tmp_path):
    paths = photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(5)])
    g = Graph.from_dict(generate_graph())
    one = g.run_batch([str(p) for p in paths], tmp_path / "one", workers=1)
    two = g.run_batch([str(p) for p in paths], tmp_path / "two", workers=2)
    assert (one.ok, one.failed, one.exit_code) == (two.ok, two.failed, two.exit_code) == (5, 0, 0)
    assert one.annotations["images"] == 5 and one.annotations["annotations"] > 5
    assert coco_core(tmp_path / "one") == coco_core(tmp_path / "two")

    def key(out: Path) -> list[tuple]:
        return sorted(
            (r["input"], r["status"], json.dumps(r["outputs"], sort_keys=True), r["masks"]) for r in manifest(out)
        )

    assert key(tmp_path / "one") == key(tmp_path / "two")
    overlay = (tmp_path / "two" / "items" / "p3.png" / "overlay.png").read_bytes()
    assert overlay == (tmp_path / "one" / "items" / "p3.png" / "overlay.png").read_bytes()


def test_a_list_file_with_a_missing_path_records_it_as_failed_no_merge(capsys, tmp_path):
    photo_folder(tmp_path / "data", ["a.png", "b.png"])
    lst = tmp_path / "list.txt"
    lst.write_text("data/a.png\ndata/gone.png\ndata/b.png\n")
    graph = write_graph(tmp_path / "g.json", generate_graph(save=False))
    code, summary, err = batch_cli(
        capsys, str(graph), "--inputs", str(lst), "--out", str(tmp_path / "out"), "--no-merge"
    )
    assert code == 3 and err[-1].startswith("2 ok, 1 failed")
    failed = [r for r in manifest(tmp_path / "out") if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["input"].endswith("gone.png") and "does not exist" in failed[0]["error"]
    # --no-merge: every item keeps its own COCO file, no annotations.json
    assert summary["annotations"] is None and not (tmp_path / "out" / "annotations.json").exists()
    assert (tmp_path / "out" / "items" / "data__a.png" / "_coco.json").is_file()


def test_bad_arguments_exit_2_with_one_line(capsys, tmp_path):
    photo_folder(tmp_path / "in", ["a.png"])
    (tmp_path / "empty").mkdir()
    graph = str(write_graph(tmp_path / "g.json", generate_graph(save=False)))
    no_loader = str(
        write_graph(
            tmp_path / "v.json",
            {
                "nodes": {
                    "video": {"type": "synthetic_video", "params": {"frames": 3}},
                    "auto": {"type": "generate", "inputs": {"image": "video"}, "params": {"engine": "opencv"}},
                }
            },
        )
    )
    inputs, out = str(tmp_path / "in"), str(tmp_path / "out")
    cases = [
        ([graph, "--inputs", inputs, "--out", out, "--workers", "0"], "--workers must be a whole number of at least 1"),
        ([no_loader, "--inputs", inputs, "--out", out], "no load_image node"),
        ([graph, "--inputs", str(tmp_path / "empty"), "--out", out], "no input files in folder"),
        ([graph, "--inputs", str(tmp_path / "nowhere"), "--out", out], "does not exist"),
        ([graph, "--inputs", inputs, "--out", out, "--input", "nope"], "--input 'nope' is not a node"),
        ([graph, "--inputs", inputs, "--out", out, "--input", "auto"], "reads no file"),
        ([graph, "--inputs", inputs, "--out", out, "--gpus-per-worker", "1"], "needs --backend ray"),
        ([graph, "--inputs", inputs, "--out", out, "--retry-failed"], "add --resume"),
        ([graph, "--inputs", inputs, "--out", out, "--set", "auto.points_per_side=0"], "points_per_side"),
    ]
    for argv, message in cases:
        code, summary, err = batch_cli(capsys, *argv)
        assert code == 2 and len(err) == 1 and message in err[0], (argv, err)
        assert summary is None and not (tmp_path / "out" / "manifest.jsonl").exists()


def test_an_engine_that_cannot_load_stops_the_run_instead_of_failing_every_item(capsys, tmp_path):
    photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(6)])
    graph = str(write_graph(tmp_path / "g.json", generate_graph(save=False)))
    args = [graph, "--inputs", str(tmp_path / "in"), "--out", str(tmp_path / "out")]
    code, summary, err = batch_cli(capsys, *args, "--set", "auto.engine=facebook/sam-vit-base")  # not cached, offline
    assert code == 2 and summary["stopped"] == "setup" and "EngineError" in err[-1] and "models download" in err[-1]
    assert manifest(tmp_path / "out") == []  # nothing recorded as failed
    code, summary, _ = batch_cli(capsys, *args)  # fixed: the same folder takes the corrected graph
    assert code == 0 and summary["ok"] == 6


def test_an_output_folder_holding_another_run_is_refused_without_resume(capsys, tmp_path):
    photo_folder(tmp_path / "in", ["a.png", "b.png"])
    graph = str(write_graph(tmp_path / "g.json", generate_graph(save=False)))
    args = [graph, "--inputs", str(tmp_path / "in"), "--out", str(tmp_path / "out")]
    assert batch_cli(capsys, *args)[0] == 0
    before = (tmp_path / "out" / "manifest.jsonl").read_bytes()
    code, _, err = batch_cli(capsys, *args)
    assert code == 2 and len(err) == 1 and "already holds a batch run" in err[0] and "--resume" in err[0]
    assert (tmp_path / "out" / "manifest.jsonl").read_bytes() == before
    # resuming a finished run runs nothing, keeps the manifest and rebuilds annotations.json
    coco = coco_core(tmp_path / "out")
    (tmp_path / "out" / "annotations.json").unlink()
    code, summary, _ = batch_cli(capsys, *args, "--resume")
    assert code == 0 and summary["skipped"] == 2 and summary["run_ok"] == 0
    assert (tmp_path / "out" / "manifest.jsonl").read_bytes() == before and coco_core(tmp_path / "out") == coco
    # a different graph (here a --set) may not resume into it
    code, _, err = batch_cli(capsys, *args, "--resume", "--set", "auto.max_masks=2")
    assert code == 2 and "different graph" in err[0]


def test_video_inputs_feed_load_video_and_give_one_coco_image_per_frame(capsys, tmp_path):
    from sam_compose.adapters.outputs.tracking.synth import synthetic_frames
    from sam_compose.video_io import write_video

    for name, n, seed in (("x/clip.mp4", 4, 0), ("y/clip.mp4", 3, 1)):
        (tmp_path / "clips" / name).parent.mkdir(parents=True, exist_ok=True)
        write_video(
            synthetic_frames("motion", n_frames=n, size=(120, 160), seed=seed), tmp_path / "clips" / name, fps=10
        )
    graph = write_graph(
        tmp_path / "track.json",
        {
            "nodes": {
                "video": {"type": "load_video"},
                "boxes": {"type": "box_prompt", "params": {"boxes": [[10, 22, 49, 51]]}},
                "track": {
                    "type": "track",
                    "inputs": {"image": "video", "prompts": "boxes"},
                    "params": {"engine": "opencv", "save": "tracks", "formats": "coco"},
                },
            }
        },
    )
    out = tmp_path / "out"
    code, _, err = batch_cli(
        capsys, str(graph), "--input", "video", "--inputs", str(tmp_path / "clips"), "--out", str(out)
    )
    assert code == 0, err
    records = {r["item"]: r for r in manifest(out)}
    assert {k: r["frames"] for k, r in records.items()} == {"x__clip.mp4": 4, "y__clip.mp4": 3}
    assert (out / "items" / "x__clip.mp4" / "tracks" / "tracks.json").is_file()
    coco = coco_core(out)
    frames = [(im["file_name"], im["frame_index"]) for im in coco["images"]]
    assert frames == [("x/clip.mp4", i) for i in range(4)] + [("y/clip.mp4", i) for i in range(3)]
    assert coco["annotations"] and all("track_id" in a for a in coco["annotations"])


def test_gaze_recordings_feed_load_gaze(capsys, tmp_path):
    demos = Path(__file__).resolve().parents[1] / "demos" / "gaze"
    out = tmp_path / "out"
    code, _, err = batch_cli(
        capsys, str(demos / "gaze_segment.json"), "--input", "gaze", "--inputs", str(demos / "*.csv"), "--out", str(out)
    )
    assert code == 0, err
    records = manifest(out)
    assert [r["item"] for r in records] == ["coins_gaze.csv", "coins_neon_gaze.csv"]
    assert all(r["masks"] == 2 for r in records)  # two looked-at coins in each recording
    assert [im["file_name"] for im in coco_core(out)["images"]] == ["coins_gaze.csv", "coins_neon_gaze.csv"]


def test_masks_node_is_the_graphs_named_output_else_the_last_segment_generate_or_track():
    from sam_compose.batch.job import make_job

    g = Graph.from_dict(
        {
            "nodes": {
                "img": {"type": "load_image"},
                "auto": {"type": "generate", "inputs": {"image": "img"}},
                "box": {"type": "box_prompt", "params": {"boxes": [[1, 1, 20, 20]]}},
                "seg": {"type": "segment", "inputs": {"image": "img", "prompts": "box"}},
                "fill": {"type": "inpaint", "inputs": {"image": "img", "masks": "seg"}},
            }
        }
    )
    job = make_job(g, "out")
    assert job.input_node == "img" and job.masks_node == "seg" and set(job.targets) == {"auto", "fill", "seg"}
    g.meta["outputs"] = ["auto", "fill"]
    job = make_job(g, "out")
    assert job.masks_node == "auto" and job.targets == ["auto", "fill"]
    assert "path" not in job.graph["nodes"]["img"].get("params", {})  # each item sets it


def test_photo_helper_gives_distinct_crops():
    assert not np.array_equal(photo(0), photo(6)) and photo(1).shape == (96, 128, 3)


class _TracedGraph(Graph):
    """A Graph subclass: a batch rebuilds its graph in each worker with the class it was given."""


def test_workers_rebuild_the_graph_with_the_class_the_job_was_made_from(tmp_path):
    import pickle

    from sam_compose.batch import Job, make_job
    from sam_compose.errors import GraphError

    g = _TracedGraph.from_dict(generate_graph())
    job = make_job(g, tmp_path / "out")
    assert job.graph_type is _TracedGraph
    sent = pickle.loads(pickle.dumps(job.to_dict()))  # what a spawned worker or a Ray actor receives
    rebuilt = Job.from_dict(sent).build_graph()
    assert type(rebuilt) is _TracedGraph and rebuilt.to_dict() == Job.from_dict(sent).graph
    with pytest.raises(GraphError, match="which graph class"):
        Job.from_dict({**sent, "graph_type": None}).build_graph()
