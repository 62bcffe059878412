"""Tracking benchmark on the synthetic videos: mean IoU per scenario and frames per second.

    .venv/bin/python benchmarks/bench_tracking.py [--frames 30] [--engine opencv]

Prints one line per scenario (motion with scaling and an occluder, two crossing objects,
an object leaving and re-entering, an object added mid-stream) for the weight-free flow
tracker with the engine, and for the flow-only fast path. Goal: mean IoU >= 0.8.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sam_compose.adapters.outputs import track
from sam_compose.adapters.outputs.tracking.synth import SCENARIOS, synthetic_video
from sam_compose.geometry import mask_iou


def run(kind: str, frames: int, engine: str | None) -> tuple[float, float]:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--engine", default="opencv")
    args = ap.parse_args()
    print(f"{'scenario':10s} {'engine':>8s} {'mean IoU':>9s} {'fps':>7s}  goal IoU >= 0.8")
    for engine in (args.engine, None):
        for kind in SCENARIOS:
            iou, fps = run(kind, args.frames, engine)
            print(f"{kind:10s} {str(engine):>8s} {iou:9.3f} {fps:7.1f}  {'ok' if iou >= 0.8 else 'BELOW'}")


if __name__ == "__main__":
    main()
