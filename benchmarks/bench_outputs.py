"""Output adapter timings, printed as ratios (no thresholds here; run by hand or in CI logs).

    .venv/bin/python benchmarks/bench_outputs.py

* inpainting: crop-and-paste vs full frame for small objects in a 12 MP photo-sized image
  (target: crop <= 0.5x full frame; results are identical, see tests/test_inpaint.py);
* lifting: back-projection + statistical outlier removal of a 300k-pixel mask.
"""

from __future__ import annotations

import time
from functools import partial

import cv2
import numpy as np

from sam_compose.adapters.outputs.inpainting import inpaint
from sam_compose.adapters.outputs.lifting import lift_to_3d


def best_of(fn, n=3):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    h, w = 3000, 4000
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], -1).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (1000, 800), 40, 1, -1)
    cv2.rectangle(mask, (3000, 2000), (3060, 2100), 1, -1)
    mask = mask.astype(bool)
    img[mask] = (200, 30, 30)
    for method in ("telea", "ns"):
        for feather in (0, 5):
            crop = best_of(partial(inpaint, img, mask, method=method, feather=feather, crop=True))
            full = best_of(partial(inpaint, img, mask, method=method, feather=feather, crop=False))
            print(
                f"inpaint {method:5s} feather={feather}: crop {crop * 1000:7.1f} ms, full frame {full * 1000:7.1f} ms, "
                f"ratio {crop / full:.2f} (target <= 0.5)"
            )
    hh, ww = 720, 1280
    depth = np.full((hh, ww), 2.0, np.float32) + np.random.default_rng(0).normal(0, 0.01, (hh, ww)).astype(np.float32)
    m = np.zeros((hh, ww), bool)
    m[100:600, 200:800] = True
    t = best_of(lambda: lift_to_3d(m, depth, 60.0), n=2)
    print(f"lift_to_3d {int(m.sum())} px with statistical outlier removal: {t * 1000:.0f} ms")


if __name__ == "__main__":
    main()
