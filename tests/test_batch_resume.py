"""Stopping and resuming batch runs: signals, a full disk, half-done items, torn manifest lines, the lock."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_cases import coco_core, generate_graph, manifest, photo_folder, write_graph

from sam_compose.batch import run_batch
from sam_compose.errors import InputError
from sam_compose.graph import Graph

ROOT = Path(__file__).resolve().parents[1]


def assert_each_input_once(out: Path, inputs: list[Path]) -> None:
    records = manifest(out)
    assert sorted(r["input"] for r in records) == sorted(str(p) for p in inputs)
    assert all(r["status"] == "ok" for r in records)
    items = sorted(p.name for p in (out / "items").iterdir())
    assert items == sorted(r["item"] for r in records)  # no .tmp-* or .old-* folders left
    for r in records:
        assert (out / r["outputs"]["annotations"]).is_file()
    coco = coco_core(out)
    names = [im["file_name"] for im in coco["images"]]
    assert sorted(names) == sorted(p.name for p in inputs) and len(set(names)) == len(names)
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"]) == sum(r["masks"] for r in records)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.parametrize(
    ("sig", "workers"),
    [(signal.SIGINT, 2), (signal.SIGTERM, 1), (signal.SIGKILL, 2)],
    ids=["ctrl-c", "sigterm", "sigkill"],
)
def test_a_killed_run_resumed_gives_each_item_exactly_once(tmp_path, sig, workers):
    n = 16
    inputs = photo_folder(tmp_path / "in", [f"p{i:02d}.png" for i in range(n)], size=(160, 200))
    graph = write_graph(tmp_path / "g.json", generate_graph(points_per_side=8, max_masks=10))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [
        sys.executable,
        "-m",
        "sam_compose.cli",
        "batch",
        str(graph),
        "--inputs",
        str(tmp_path / "in"),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--no-progress",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    for _ in range(6000):  # up to ~2 minutes for the first item
        if (out / "manifest.jsonl").exists() and (out / "manifest.jsonl").read_text().strip():
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    else:
        pytest.fail("the batch run wrote no manifest line")
    workers_pids = _children(proc.pid)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C in a terminal reaches the whole process group
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    done = len(manifest(out))
    assert done < n, "the run finished before the signal; make the items slower"
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        for _ in range(200):  # up to ~20 s: orphaned workers notice their driver is gone and exit
            if not any(
                Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]
                for p in workers_pids
            ):
                break
            time.sleep(0.1)
        else:
            pytest.fail("worker processes outlived their killed driver")
    else:
        assert proc.returncode == 128 + sig, err
        last = err.strip().splitlines()[-1]
        assert last.startswith("interrupted:") and "--resume" in last and last.endswith("--resume"), last
        assert not (out / "annotations.json").exists()
    summary = run_batch(Graph.from_file(graph), tmp_path / "in", out, resume=True)
    assert summary.exit_code == 0 and summary.skipped == done and summary.run_ok == n - done
    assert_each_input_once(out, inputs)


def test_half_done_items_are_redone_and_a_torn_manifest_line_is_skipped(tmp_path):
    inputs = photo_folder(tmp_path / "in", ["a.png", "b.png", "c.png"])
    g = Graph.from_dict(generate_graph())
    out = tmp_path / "out"
    assert run_batch(g, tmp_path / "in", out).exit_code == 0
    lines = (out / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    # as a kill would leave it: c's line half written, c's folder renamed into place with stale content,
    # and another item's temporary folder half written
    torn = b"".join(lines[:2]) + lines[2][:40]
    (out / "manifest.jsonl").write_bytes(torn)
    for f in (out / "items" / "c.png").iterdir():
        f.unlink()
    (out / "items" / "c.png" / "stale.txt").write_text("from a killed run")
    (out / "items" / ".tmp-999-dead").mkdir()
    (out / "items" / ".tmp-999-dead" / "overlay.png").write_bytes(b"half")
    summary = run_batch(g, tmp_path / "in", out, resume=True)
    assert (summary.skipped, summary.run_ok, summary.exit_code) == (2, 1, 0)
    assert (out / "manifest.jsonl").read_bytes().startswith(torn)  # appended, never rewritten
    assert sorted(os.listdir(out / "items" / "c.png")) == ["_coco.json", "overlay.png"]
    assert_each_input_once(out, inputs)


def test_a_full_disk_stops_the_run_and_resume_finishes_it(tmp_path, monkeypatch):
    import sam_compose.batch.item as item_module

    inputs = photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(5)])
    g = Graph.from_dict(generate_graph())
    out = tmp_path / "out"
    real = item_module.write_json
    calls = []

    def full_disk(path, obj):  # the third item's write finds no space (as ENOSPC from the kernel)
        calls.append(path)
        if len(calls) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, obj)

    monkeypatch.setattr(item_module, "write_json", full_disk)
    summary = run_batch(g, tmp_path / "in", out)
    assert summary.stopped == "disk full" and summary.exit_code == 1 and summary.ok == 2
    assert "No space left on device" in summary.message and "--resume" in summary.message
    assert len(manifest(out)) == 2 and sorted(os.listdir(out / "items")) == ["p0.png", "p1.png"]  # no half item
    assert not (out / "annotations.json").exists()
    monkeypatch.setattr(item_module, "write_json", real)
    summary = run_batch(g, tmp_path / "in", out, resume=True)
    assert summary.exit_code == 0 and (summary.skipped, summary.run_ok) == (2, 3)
    assert_each_input_once(out, inputs)


def test_a_failure_on_a_nearly_full_disk_stops_instead_of_failing_every_item(tmp_path, monkeypatch):
    import shutil as shutil_module
    from collections import namedtuple

    import sam_compose.batch.item as item_module
    from sam_compose.errors import InputError as NodeInputError

    photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(3)])
    g = Graph.from_dict(generate_graph())
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage(10 << 20, 10 << 20, 0))

    def cannot_write(path, obj):  # as save_image reports a failed cv2.imwrite: no errno to tell why
        raise NodeInputError(f"could not write {path}")

    monkeypatch.setattr(item_module, "write_json", cannot_write)
    summary = run_batch(g, tmp_path / "in", tmp_path / "out")
    assert summary.stopped == "disk full" and summary.ok == summary.failed == 0 and summary.exit_code == 1
    assert manifest(tmp_path / "out") == []


def test_a_full_disk_while_appending_to_the_manifest_stops_and_the_item_is_redone(tmp_path, monkeypatch):
    from sam_compose.batch import manifest as manifest_module

    inputs = photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(3)])
    g = Graph.from_dict(generate_graph(save=False))
    out = tmp_path / "out"
    real = manifest_module.ManifestWriter.append
    calls = []

    def append(self, record):
        calls.append(record["input"])
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, record)

    monkeypatch.setattr(manifest_module.ManifestWriter, "append", append)
    summary = run_batch(g, tmp_path / "in", out)
    assert summary.stopped == "disk full" and "manifest.jsonl" in summary.error and summary.ok == 1
    monkeypatch.setattr(manifest_module.ManifestWriter, "append", real)
    summary = run_batch(g, tmp_path / "in", out, resume=True)
    assert summary.exit_code == 0 and summary.run_ok == 2  # p1's folder was published but not recorded: redone
    assert_each_input_once(out, inputs)


def test_ctrl_c_in_process_stops_cleanly_and_leaves_no_temporary_folder(tmp_path, monkeypatch):
    import sam_compose.batch.item as item_module

    photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(4)])
    g = Graph.from_dict(generate_graph())
    real = item_module.write_json
    calls = []

    def interrupted(path, obj):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, obj)

    monkeypatch.setattr(item_module, "write_json", interrupted)
    summary = run_batch(g, tmp_path / "in", tmp_path / "out")
    assert summary.stopped == "interrupted" and summary.exit_code == 130 and summary.ok == 2
    assert "--resume" in summary.message
    assert sorted(os.listdir(tmp_path / "out" / "items")) == ["p0.png", "p1.png"]


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_holds_it(tmp_path):
    import fcntl

    photo_folder(tmp_path / "in", ["a.png"])
    lock = tmp_path / "out" / ".batch" / "lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another batch run is writing to"):
            run_batch(Graph.from_dict(generate_graph()), tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_a_worker_that_dies_has_its_item_recorded_as_failed_and_is_replaced(tmp_path):
    from sam_compose.batch.inputs import InputSource
    from sam_compose.batch.job import make_job
    from sam_compose.batch.local import LocalPool

    n = 8
    photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(n)], size=(160, 200))
    job = make_job(Graph.from_dict(generate_graph(points_per_side=8, save=False)), tmp_path / "out")
    pool = LocalPool(job, 2)
    records, killed = [], []

    def on_result(record):
        records.append(record)
        if not killed:  # as the OOM killer would: SIGKILL a worker in the middle of its next item
            victim = next(w for w in pool.workers if w.queue)
            killed.append(victim.proc.pid)
            os.kill(victim.proc.pid, signal.SIGKILL)
        return True

    pool.run(iter(InputSource(tmp_path / "in", (".png",))), on_result)
    assert sorted(r["input"] for r in records) == sorted(str(p) for p in (tmp_path / "in").iterdir())  # each once
    died = [r for r in records if r["status"] == "failed"]
    assert len(died) == 1 and "the worker process died (signal 9)" in died[0]["error"]
    assert len([r for r in records if r["status"] == "ok"]) == n - 1  # the others, on the replacement too
    assert pool.workers == [] and not Path(f"/proc/{killed[0]}").exists()  # all closed, the dead one reaped


def test_workers_that_cannot_start_stop_the_run_instead_of_failing_every_item(tmp_path):
    photo_folder(tmp_path / "in", [f"p{i}.png" for i in range(4)])
    script = f"""
from sam_compose.batch import run_batch
from sam_compose.graph import Graph
g = Graph.from_dict({generate_graph(save=False)!r})
try:
    run_batch(g, {str(tmp_path / "in")!r}, {str(tmp_path / "out")!r}, workers=2)
except RuntimeError as exc:
    print("STOPPED", exc)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # a driver read from stdin: spawned workers cannot re-import its main module and die at start
    out = subprocess.run([sys.executable, "-"], input=script, env=env, capture_output=True, text=True, timeout=120)
    assert "STOPPED a batch worker process exited while starting" in out.stdout, out.stderr[-2000:]
    assert manifest(tmp_path / "out") == []
