"""Batch throughput: items/s for 1 and 2 local workers and 2 Ray actors, and the per-item overhead
of the batch runner against running the graph in a plain loop. Ratios are measured in the same run.

    .venv/bin/python benchmarks/bench_batch.py                   # 200 generated images, 3 repeats
    .venv/bin/python benchmarks/bench_batch.py --n 50 --repeats 1 --no-ray
    .venv/bin/python benchmarks/bench_batch.py --data DIR        # your own folder of images

The images are crops of the photographs scikit-image ships (coins, camera, astronaut,
coffee, chelsea, horse), ``--size`` pixels. The graph is the SA-1B shape on the weight-free
engine: ``load_image -> generate`` (OpenCV automatic masks, ``--points-per-side``), each
item's masks written as COCO RLE, all merged into ``annotations.json``.

For each mode it prints the wall time (start-up included: spawning workers, starting Ray,
loading engines), the steady rate (items finished after the first, over the time between
the first and the last finish in the workers: start-up excluded) and the CPU time per item
(this process and its worker processes; not measured for Ray's actors), medians over the
repeats. On a machine shared with other jobs the CPU time is the steadier measure. The plain loop runs the graph on
each image and writes the same per-item COCO JSON, in this process, without a manifest,
temporary folders or a merge; ``overhead`` is (batch with 1 worker - plain loop) / items.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sam_compose.adapters.outputs.exports import coco_dict
from sam_compose.batch import run_batch
from sam_compose.batch.manifest import scan
from sam_compose.graph import Graph

SOURCES = ("coins", "camera", "astronaut", "coffee", "chelsea", "horse")


def make_images(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    from skimage import data, transform

    photos = []
    for name in SOURCES:
        img = getattr(data, name)()
        img = img.astype(np.uint8) * 255 if img.dtype == bool else img  # horse is a binary silhouette
        img = np.dstack([img] * 3) if img.ndim == 2 else img[:, :, :3]
        photos.append(np.ascontiguousarray(img))
    h, w = size
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        src = photos[i % len(photos)]
        if src.shape[0] < h or src.shape[1] < w:
            src = (transform.resize(src, (max(h, src.shape[0]), max(w, src.shape[1])), preserve_range=True)).astype(
                np.uint8
            )
        y = int(rng.integers(0, src.shape[0] - h + 1))
        x = int(rng.integers(0, src.shape[1] - w + 1))
        p = folder / f"{i // 50:02d}" / f"img_{i:04d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), src[y : y + h, x : x + w, ::-1])
        paths.append(p)
    return paths


def graph(points_per_side: int) -> Graph:
    return Graph.from_dict(
        {
            "nodes": {
                "img": {"type": "load_image"},
                "auto": {
                    "type": "generate",
                    "inputs": {"image": "img"},
                    "params": {"engine": "opencv", "points_per_side": points_per_side},
                },
            }
        }
    )


def cpu_seconds() -> float:
    """CPU time of this process and of its finished child processes (the local pool's workers)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def plain_loop(g: Graph, paths: list[Path], out: Path) -> tuple[float, float, float]:
    """The same work without the batch runner: run, write each item's COCO JSON."""
    out.mkdir(parents=True)
    t, c = time.perf_counter(), cpu_seconds()
    for i, p in enumerate(paths):
        masks = g.run(outputs=["auto"], params={"img.path": str(p)}, cache=False).value("auto")
        text = json.dumps(coco_dict(masks, file_name=p.name), separators=(",", ":"))  # as the runner writes it
        (out / f"{i}.json").write_text(text)
    wall = time.perf_counter() - t
    return wall, len(paths) / wall, cpu_seconds() - c


def batch(g: Graph, inputs: Path, out: Path, **kw: Any) -> tuple[float, float, float]:
    t, c = time.perf_counter(), cpu_seconds()
    summary = run_batch(g, inputs, out, progress=False, **kw)
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    times = sorted(rec["time"] for _, rec in scan(out / "manifest.jsonl") if "time" in rec)
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")
    if summary.exit_code != 0:
        raise SystemExit(f"batch run failed: {summary.message}")
    return wall, steady, cpu if kw.get("backend") != "ray" else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="images to generate (default 200)")
    ap.add_argument("--size", default="192x256", help="HxW of the generated images (default 192x256)")
    ap.add_argument("--points-per-side", type=int, default=8, help="AMG grid (default 8)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per mode; medians are printed (default 3)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    ap.add_argument("--data", type=Path, help="a folder of images to use instead of generated ones")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        if args.data is not None:
            if not args.data.is_dir():
                raise SystemExit(f"--data {args.data} is missing; give a folder of images (see /work/shared/datasets)")
            inputs = args.data
            paths = sorted(p for p in inputs.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        else:
            inputs = tmp / "in"
            paths = make_images(inputs, args.n, (h, w))
        g = graph(args.points_per_side)
        g.run(outputs=["auto"], params={"img.path": str(paths[0])}, cache=False)  # engine loaded, caches warm
        modes: dict[str, Any] = {
            "plain loop": None,
            "local, 1 worker": {"workers": 1},
            "local, 2 workers": {"workers": 2},
        }
        if not args.no_ray:
            modes["ray, 2 actors"] = {"workers": 2, "backend": "ray"}
        results: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
        for r in range(args.repeats):
            for mode, kw in modes.items():
                out = tmp / f"out_{r}_{mode.split(',')[0].replace(' ', '_')}_{len(results[mode])}"
                results[mode].append(plain_loop(g, paths, out) if kw is None else batch(g, inputs, out, **kw))
                shutil.rmtree(out, ignore_errors=True)
                print(f"  repeat {r + 1} {mode:17s} {results[mode][-1][0]:7.2f} s", flush=True)
        n = len(paths)
        med = {m: tuple(statistics.median(v[i] for v in vals) for i in range(3)) for m, vals in results.items()}
        base = med["local, 1 worker"][0]
        print(
            f"\n{n} images {h}x{w}, generate(opencv, points_per_side={args.points_per_side}), "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, medians of {args.repeats}"
        )
        print(
            f"{'mode':18s} {'wall s':>8s} {'items/s':>8s} {'steady items/s':>15s} {'vs 1 worker':>12s} {'CPU ms/item':>12s}"
        )
        for m, (wall, steady, cpu) in med.items():
            print(f"{m:18s} {wall:8.2f} {n / wall:8.2f} {steady:15.2f} {base / wall:11.2f}x {cpu / n * 1000:12.1f}")

        def paired(i: int) -> float:  # batch minus plain loop within each repeat, median over repeats
            pairs = zip(results["local, 1 worker"], results["plain loop"])
            return statistics.median(a[i] - b[i] for a, b in pairs) / n * 1000

        per = med["plain loop"][0] / n * 1000
        print(
            f"per-item overhead of the batch runner (1 worker vs plain loop, paired): wall {paired(0):.1f} ms "
            f"({paired(0) / per * 100:.1f}% of {per:.1f} ms/item), CPU {paired(2):.1f} ms"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
