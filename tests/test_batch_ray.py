"""The Ray Data backend on a local Ray with 2 CPUs: the same outputs as the local backend."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from batch_cases import coco_core, generate_graph, manifest, photo_folder, write_graph

from sam_compose.cli import main
from sam_compose.graph import Graph


def test_without_ray_the_backend_names_the_extra(capsys, tmp_path, monkeypatch):
    photo_folder(tmp_path / "in", ["a.png"])
    graph = write_graph(tmp_path / "g.json", generate_graph(save=False))
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code = main(
        [
            "batch",
            str(graph),
            "--inputs",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--backend",
            "ray",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'sam-compose[ray]'" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ray_backend_gives_the_same_manifest_and_coco_as_the_local_one(tmp_path):
    ray = pytest.importorskip("ray")
    root = tmp_path / "in"
    photo_folder(root, ["a/x.png", "b/x.png", "c.png", "d.png"])
    (root / "bad.png").write_bytes(b"not an image")
    g = Graph.from_dict(generate_graph())
    local = g.run_batch(root, tmp_path / "local", workers=2)
    assert not ray.is_initialized()
    remote = g.run_batch(root, tmp_path / "ray", workers=2, backend="ray")  # starts a local Ray (2 CPUs here)
    assert not ray.is_initialized()  # ... and shuts it down
    assert (remote.ok, remote.failed, remote.exit_code) == (local.ok, local.failed, local.exit_code) == (4, 1, 3)
    assert coco_core(tmp_path / "ray") == coco_core(tmp_path / "local")

    def key(out: Path) -> list[tuple]:
        return sorted(
            (r["input"], r["status"], json.dumps(r["outputs"], sort_keys=True), r.get("masks"), r["item"])
            for r in manifest(out)
        )

    assert key(tmp_path / "ray") == key(tmp_path / "local")
    for name in ("a__x.png", "c.png"):
        ray_files = sorted(p.name for p in (tmp_path / "ray" / "items" / name).iterdir())
        assert ray_files == ["_coco.json", "overlay.png"]
        assert (tmp_path / "ray" / "items" / name / "overlay.png").read_bytes() == (
            tmp_path / "local" / "items" / name / "overlay.png"
        ).read_bytes()
    assert not any(p.name.startswith("ray-") for p in (tmp_path / "ray" / ".batch").iterdir())  # shards removed


def test_actors_needing_more_gpus_than_ray_sees_are_refused_on_a_local_ray_and_warned_about_on_a_cluster():
    from sam_compose.batch.ray_backend import check_gpus
    from sam_compose.errors import InputError

    check_gpus(8.0, 1.0, 8, elastic=False)  # fits
    check_gpus(0.0, 0.0, 4, elastic=False)  # CPU actors
    with pytest.raises(InputError, match="needs 2 GPUs but Ray sees 0"):
        check_gpus(0.0, 0.5, 4, elastic=False)
    with pytest.warns(UserWarning, match="wait until the cluster has them"):
        check_gpus(0.0, 1.0, 2, elastic=True)
