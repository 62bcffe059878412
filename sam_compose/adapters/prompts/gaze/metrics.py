"""Agreement between fixation detections: event-level F1 and sample-level Cohen's kappa.

Used by the tests and ``benchmarks/bench_gaze.py``:

* :func:`event_f1`: true and detected fixations are matched one to one when their time
  intervals overlap with an intersection over union of at least ``min_iou`` (0.5), greedily
  by overlap; F1 = 2 * matches / (true + detected). Splitting one fixation in two, or
  joining two, costs a match.
* :func:`sample_labels`: 1 for each sample time inside a fixation, else 0.
* :func:`cohen_kappa`: Cohen's kappa of two label arrays (chance-corrected agreement).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["cohen_kappa", "event_f1", "sample_labels"]


def _intervals(fixations: Sequence[Any]) -> np.ndarray:
    return np.array([[float(f.start), float(f.end)] for f in fixations], np.float64).reshape(-1, 2)


def event_f1(found: Sequence[Any], truth: Sequence[Any], min_iou: float = 0.5) -> dict[str, float]:
    """{"f1", "precision", "recall", "matched", "found", "true"} of ``found`` against ``truth``.

    Fixations are anything with ``start`` and ``end`` seconds. O((n + m) log(n + m)):
    candidate pairs come from a sweep over the sorted intervals.
    """
    a, b = _intervals(truth), _intervals(found)
    pairs: list[tuple[float, int, int]] = []
    if len(a) and len(b):
        order_b = np.argsort(b[:, 0], kind="stable")
        bs = b[order_b]
        for i, (s, e) in enumerate(a):
            lo = int(np.searchsorted(bs[:, 0], s - (e - s) - 1e-9, side="left"))  # IoU >= 0.5 needs this
            hi = int(np.searchsorted(bs[:, 0], e, side="right"))
            for k in range(lo, hi):
                s2, e2 = bs[k]
                inter = min(e, e2) - max(s, s2)
                if inter <= 0:
                    continue
                union = max(e, e2) - min(s, s2)
                iou = inter / union if union > 0 else 1.0
                if iou >= min_iou:
                    pairs.append((iou, i, int(order_b[k])))
    pairs.sort(key=lambda p: -p[0])
    used_a: set[int] = set()
    used_b: set[int] = set()
    for _, i, j in pairs:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
    m = len(used_a)
    prec = m / len(b) if len(b) else (1.0 if not len(a) else 0.0)
    rec = m / len(a) if len(a) else 1.0
    f1 = 2 * m / (len(a) + len(b)) if (len(a) + len(b)) else 1.0
    return {"f1": f1, "precision": prec, "recall": rec, "matched": m, "found": len(b), "true": len(a)}


def sample_labels(times: Any, fixations: Sequence[Any]) -> np.ndarray:
    """(N,) int8: 1 where ``times`` (seconds) fall inside a fixation [start, end], else 0."""
    t = np.asarray(times, np.float64).reshape(-1)
    iv = _intervals(fixations)
    out = np.zeros(t.size, np.int8)
    if not len(iv):
        return out
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    k = np.searchsorted(iv[:, 0], t, side="right") - 1
    ok = k >= 0
    # intervals may overlap (vendor data): also check the running maximum of the ends
    run_end = np.maximum.accumulate(iv[:, 1])
    out[ok] = (t[ok] <= run_end[k[ok]]).astype(np.int8)
    return out


def cohen_kappa(a: Any, b: Any) -> float:
    """Cohen's kappa of two equal-length label arrays (1.0 when both are constant and equal)."""
    x, y = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"label arrays differ in length: {x.shape} vs {y.shape}")
    if x.size == 0:
        return float("nan")
    labels = np.union1d(x, y)
    po = float(np.mean(x == y))
    pe = float(sum(np.mean(x == v) * np.mean(y == v) for v in labels))
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else 0.0
    return (po - pe) / (1.0 - pe)
