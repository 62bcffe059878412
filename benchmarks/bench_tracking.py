"""Tracking benchmark: DAVIS-layout real video (J, F, frames to loss, time) and the synthetic videos.

    python benchmarks/bench_tracking.py --data ../shared/datasets [--engine opencv] [--max-frames N]
    python benchmarks/bench_tracking.py                      # synthetic scenarios only

With ``--data DIR`` (a folder holding ``JPEGImages/<seq>/*.jpg`` and ``Annotations/<seq>/*.png``,
or one with a ``davis2016_dev/`` inside) every sequence is tracked from its first frame's
ground-truth mask with the weight-free flow tracker, and per sequence it prints, over the
remaining frames:

* **J**: mean region similarity (IoU with the ground truth);
* **F**: mean boundary F-measure as in the DAVIS benchmark (boundaries matched within
  0.8% of the image diagonal);
* **lost at**: the first frame where J < 0.3 (``-`` when never);
* **ms/frame** and the **ratio** of the median time per frame to the median time of one
  plain ``cv2.grabCut`` (rect mode, 5 iterations, ground-truth box) on frames of the same
  sequence, measured in the same run.

Targets (issue 15): mean J >= 0.65 over the sequences, no sequence with mean J < 0.3,
time per frame <= 0.25x one plain grabCut. Without ``--data`` the synthetic scenarios are
run (mean IoU per scenario; goal >= 0.8).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from sam_compose.adapters.outputs import track
from sam_compose.adapters.outputs.tracking.synth import SCENARIOS, synthetic_video
from sam_compose.geometry import mask_iou
from sam_compose.masks import Masks

LOST_J = 0.3
BOUNDARY_TOLERANCE = 0.008  # of the image diagonal, as in the DAVIS benchmark


# --- DAVIS measures ----------------------------------------------------------------------------
def boundary(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool one-pixel boundary of a mask (pixels with a background 4-neighbour)."""
    m = mask.astype(np.uint8)
    return (m > 0) & (cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0) == 0)


def f_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    """DAVIS boundary F-measure: boundary precision / recall within a tolerance band."""
    h, w = gt.shape
    r = max(1, int(np.ceil(BOUNDARY_TOLERANCE * np.hypot(h, w))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    bp, bg = boundary(pred), boundary(gt)
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    near_g = cv2.dilate(bg.astype(np.uint8), disk) > 0
    near_p = cv2.dilate(bp.astype(np.uint8), disk) > 0
    precision = float((bp & near_g).sum()) / bp.sum()
    recall = float((bg & near_p).sum()) / bg.sum()
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def plain_grabcut_ms(frame: np.ndarray, mask: np.ndarray) -> float:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return float("nan")
    gc = np.zeros(mask.shape, np.uint8)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    t0 = time.perf_counter()
    cv2.setRNGSeed(0)
    cv2.grabCut(
        np.ascontiguousarray(frame),
        gc,
        (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)),
        bgd,
        fgd,
        5,
        cv2.GC_INIT_WITH_RECT,
    )
    return (time.perf_counter() - t0) * 1000


# --- DAVIS sequences ----------------------------------------------------------------------------
def davis_root(data: Path) -> Path | None:
    for cand in (data, data / "davis2016_dev"):
        if (cand / "JPEGImages").is_dir() and (cand / "Annotations").is_dir():
            return cand
    return None


def read_sequence(root: Path, seq: str, max_frames: int | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    frames, masks = [], []
    for img in sorted((root / "JPEGImages" / seq).glob("*.jpg"))[:max_frames]:
        f = cv2.imread(str(img), cv2.IMREAD_COLOR)
        a = cv2.imread(str(root / "Annotations" / seq / (img.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        if f is None or a is None:
            raise SystemExit(f"cannot read frame or annotation {img.stem} of {seq}")
        frames.append(np.ascontiguousarray(f[:, :, ::-1]))
        masks.append(a > 127)
    return frames, masks


def run_sequence(frames: list[np.ndarray], masks: list[np.ndarray], engine: str | None, **options) -> dict[str, float]:
    init = Masks(masks[0][None], ids=[1])
    js, fs, times = [], [], []
    it = iter(track(frames, init, engine=engine, **options))
    lost_at = None
    t0 = time.perf_counter()
    for t, res in enumerate(it):
        times.append((time.perf_counter() - t0) * 1000)
        rows = np.flatnonzero(res.ids == 1) if res.ids is not None else np.zeros(0, int)
        pred = res.masks[rows[0]] if rows.size else np.zeros(masks[t].shape, bool)
        if t > 0:
            j = mask_iou(pred, masks[t]) if masks[t].any() or pred.any() else 1.0
            js.append(j)
            fs.append(f_measure(pred, masks[t]))
            if j < LOST_J and lost_at is None:
                lost_at = t
        t0 = time.perf_counter()
    picks = sorted({0, len(frames) // 2, len(frames) - 1})
    gc = float(np.nanmedian([plain_grabcut_ms(frames[k], masks[k]) for k in picks]))
    ms = float(np.median(times[1:])) if len(times) > 1 else float("nan")
    return {
        "J": float(np.mean(js)),
        "F": float(np.mean(fs)),
        "lost_at": -1 if lost_at is None else lost_at,
        "frames": len(frames),
        "ms": ms,
        "grabcut_ms": gc,
        "ratio": ms / gc,
    }


def bench_davis(root: Path, engine: str | None, max_frames: int | None, options: dict) -> None:
    seqs = sorted(p.name for p in (root / "JPEGImages").iterdir() if p.is_dir())
    print(f"== DAVIS-layout sequences in {root} (first-frame mask given; engine {engine})")
    print(
        f"  {'sequence':18s} {'frames':>6s} {'J':>6s} {'F':>6s} {'lost at':>8s} {'ms/frame':>9s} "
        f"{'grabCut ms':>10s} {'ratio':>6s}"
    )
    rows = []
    for seq in seqs:
        frames, masks = read_sequence(root, seq, max_frames)
        r = run_sequence(frames, masks, engine, **options)
        rows.append(r)
        lost = "-" if r["lost_at"] < 0 else str(r["lost_at"])
        print(
            f"  {seq:18s} {r['frames']:6d} {r['J']:6.3f} {r['F']:6.3f} {lost:>8s} {r['ms']:9.1f} "
            f"{r['grabcut_ms']:10.1f} {r['ratio']:6.3f}",
            flush=True,
        )
    mj = float(np.mean([r["J"] for r in rows]))
    mf = float(np.mean([r["F"] for r in rows]))
    worst = min(r["J"] for r in rows)
    ratio = float(np.median([r["ratio"] for r in rows]))
    print(
        f"  mean J {mj:.3f} (target >= 0.65: {'ok' if mj >= 0.65 else 'MISSED'})   mean F {mf:.3f}   "
        f"lowest sequence J {worst:.3f} (target: none below {LOST_J}: {'ok' if worst >= LOST_J else 'MISSED'})"
    )
    print(
        f"  time per frame / one plain grabCut: median {ratio:.3f} (target <= 0.25: "
        f"{'ok' if ratio <= 0.25 else 'MISSED'})"
    )


# --- synthetic -----------------------------------------------------------------------------------
def run_synthetic(kind: str, frames: int, engine: str | None) -> tuple[float, float]:
    v = synthetic_video(kind, n_frames=frames)
    starts = {r: v.first_visible(r) for r in range(v.masks.shape[1])}
    first = [r for r, t in starts.items() if t == 0]
    add = {t: v.masks_at(t, [r]) for r, t in starts.items() if t > 0}
    t0 = time.perf_counter()
    results = list(track(v.frames, v.masks_at(0, first), engine=engine, add=add))
    dt = time.perf_counter() - t0
    ious = []
    for t, res in enumerate(results):
        for r, start in starts.items():
            if t < start:
                continue
            oid = v.ids[r]
            rows = np.flatnonzero(res.ids == oid)
            pred = res.masks[rows[0]] if rows.size else np.zeros(v.size, bool)
            ious.append(mask_iou(pred, v.masks[t, r]))
    return float(np.mean(ious)), len(results) / dt


def bench_synthetic(frames: int, engine: str | None) -> None:
    print(f"{'scenario':10s} {'engine':>8s} {'mean IoU':>9s} {'fps':>7s}  goal IoU >= 0.8")
    for eng in (engine, None):
        for kind in SCENARIOS:
            iou, fps = run_synthetic(kind, frames, eng)
            print(f"{kind:10s} {eng!s:>8s} {iou:9.3f} {fps:7.1f}  {'ok' if iou >= 0.8 else 'BELOW'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="DAVIS-layout folder (or one holding davis2016_dev/)")
    ap.add_argument("--engine", default="opencv", help="engine spec, or 'none' for flow only")
    ap.add_argument("--max-frames", type=int, default=None, help="at most this many frames per sequence")
    ap.add_argument("--frames", type=int, default=30, help="frames per synthetic scenario")
    args = ap.parse_args()
    engine = None if args.engine.lower() == "none" else args.engine
    if args.data is not None:
        root = davis_root(args.data)
        if root is None:
            sys.exit(
                f"--data {args.data}: no JPEGImages/ and Annotations/ there (or in davis2016_dev/); "
                "point it at the shared DAVIS folder"
            )
        bench_davis(root, engine, args.max_frames, {})
    else:
        bench_synthetic(args.frames, engine)


if __name__ == "__main__":
    main()
