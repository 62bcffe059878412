"""Benchmark the OpenCV engine against plain ``cv2.grabCut`` on the same cases.

Prints IoU and latency for ours and for plain GrabCut (rect mode, whole image, the same
iteration count) from the same box, and the ratios, on:

* objects pasted onto the photographs scikit-image ships (``tests/grabcut_cases.py``);
* synthetic scenes with plain and photographic backgrounds (box and one interior point);
* automatic masks on a 640x480 scene; a box on a 4000x3000 image.

Usage: ``python benchmarks/bench_opencv.py [--cases-per-photo 3] [--seeds 0 1]``.
Latencies are wall-clock per prompt on this machine, embedding included for the first
prompt of an image (a fresh engine per image).
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from sam_compose.engines.opencv import OpenCVEngine
from sam_compose.geometry import mask_iou, pairwise_mask_iou
from sam_compose.samples import sample_image, synthetic_scene
from sam_compose.types import Prompt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from grabcut_cases import pasted_cases, plain_grabcut  # (test fixtures, shared with tests/)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t0) * 1000.0


def bench_pasted(per_photo: int, seeds: list[int]) -> None:
    print(f"== objects pasted onto scikit-image photographs ({per_photo} per photo, seeds {seeds}): box prompt")
    ours_iou, plain_iou, ours_ms, plain_ms = [], [], [], []
    for seed in seeds:
        for c in pasted_cases(per_photo, seed=seed):
            eng = OpenCVEngine()
            res, t_ours = _timed(partial(eng.segment, c.image, Prompt(box=c.box)))
            pm, t_plain = _timed(partial(plain_grabcut, c.image, c.box, iterations=eng.iterations))
            a, b = mask_iou(res.masks[0], c.mask), mask_iou(pm, c.mask)
            ours_iou.append(a)
            plain_iou.append(b)
            ours_ms.append(t_ours)
            plain_ms.append(t_plain)
            print(f"  {c.name:42s} IoU ours {a:.3f}  plain {b:.3f}   ms ours {t_ours:7.1f}  plain {t_plain:7.1f}")
    _summary(ours_iou, plain_iou, ours_ms, plain_ms)


def bench_synthetic(seeds: list[int]) -> None:
    print("== synthetic scenes (plain and photographic backgrounds): box and one interior point")
    box_ours, box_plain, pt_ours, ms_box, ms_plain, ms_pt = [], [], [], [], [], []
    for seed in seeds:
        for bg in (None, "astronaut", "coffee"):
            sc = synthetic_scene(seed, background=None if bg is None else sample_image(bg))
            eng = OpenCVEngine()
            eng.embed(sc.image)
            for i, gt in enumerate(sc.masks):
                r, t = _timed(partial(eng.segment, sc.image, Prompt(box=sc.boxes[i])))
                pm, tp = _timed(partial(plain_grabcut, sc.image, sc.boxes[i], eng.iterations))
                q, tq = _timed(partial(eng.segment, sc.image, Prompt(points=[sc.interior_point(i)])))
                box_ours.append(mask_iou(r.masks[0], gt))
                box_plain.append(mask_iou(pm, gt))
                pt_ours.append(mask_iou(q.masks[0], gt))
                ms_box.append(t)
                ms_plain.append(tp)
                ms_pt.append(tq)
    _summary(box_ours, box_plain, ms_box, ms_plain)
    print(
        f"  one interior point: mean IoU {np.mean(pt_ours):.3f} (min {np.min(pt_ours):.3f}), "
        f"median {np.median(ms_pt):.1f} ms per prompt"
    )


def bench_generate_and_large() -> None:
    print("== automatic masks (640x480) and a 4000x3000 image")
    sc = synthetic_scene(0, background=sample_image("coffee"))
    eng = OpenCVEngine()
    _, t_emb = _timed(lambda: eng.embed(sc.image))
    res, t_gen = _timed(lambda: eng.generate(sc.image))
    found = pairwise_mask_iou(sc.masks, res.masks).max(axis=1) if len(res) else np.zeros(len(sc.masks))
    print(
        f"  generate: {len(res)} masks in {t_gen:.0f} ms (+ {t_emb:.0f} ms embedding); "
        f"best IoU per object {[round(float(v), 3) for v in found]}"
    )
    f = 6.25
    big = cv2.resize(sc.image, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
    gt = cv2.resize(sc.masks[0].astype(np.uint8), (big.shape[1], big.shape[0]), interpolation=cv2.INTER_LINEAR) > 0
    eng = OpenCVEngine()
    res, t_big = _timed(lambda: eng.segment(big, Prompt(box=sc.boxes[0] * f)))
    pm, t_plain = _timed(lambda: plain_grabcut(big, sc.boxes[0] * f, eng.iterations))
    print(
        f"  4000x3000 box: ours IoU {mask_iou(res.masks[0], gt):.3f} in {t_big:.0f} ms (embedding included); "
        f"plain grabCut IoU {mask_iou(pm, gt):.3f} in {t_plain:.0f} ms; time ratio ours/plain {t_big / t_plain:.2f}"
    )
    auto, t_auto = _timed(lambda: eng.generate(big))
    print(f"  4000x3000 generate: {len(auto)} masks in {t_auto:.0f} ms (embedding cached)")


def _summary(ours_iou, plain_iou, ours_ms, plain_ms) -> None:
    mo, mp = float(np.mean(ours_iou)), float(np.mean(plain_iou))
    wins = int(np.sum(np.asarray(ours_iou) > np.asarray(plain_iou) + 1e-3))
    losses = int(np.sum(np.asarray(ours_iou) < np.asarray(plain_iou) - 1e-3))
    print(
        f"  mean IoU ours {mo:.4f}  plain grabCut {mp:.4f}  ratio {mo / max(mp, 1e-9):.3f}  "
        f"(ours better on {wins}, worse on {losses} of {len(ours_iou)})"
    )
    print(
        f"  median latency ours {np.median(ours_ms):.1f} ms  plain {np.median(plain_ms):.1f} ms  "
        f"ratio {np.median(ours_ms) / max(np.median(plain_ms), 1e-9):.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases-per-photo", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    bench_pasted(args.cases_per_photo, args.seeds)
    bench_synthetic(args.seeds)
    bench_generate_and_large()


if __name__ == "__main__":
    main()
