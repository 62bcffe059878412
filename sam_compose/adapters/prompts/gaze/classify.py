"""Sample classification for fixation detection: pure numpy over one buffer of valid samples.

The pieces :class:`~.fixations.FixationDetector` chains (all O(n) or O(n log n), vectorised):

* :func:`segments`: a new segment after every gap longer than ``max_gap`` (blink, dropout);
  no window below ever reaches across a gap.
* :func:`prefilter`: an optional running median / mean of a few samples (spike removal).
* :func:`window_velocity`: speed from the **difference of the mean positions** of the ``m``
  samples before and the ``m`` samples after each sample, divided by the difference of
  their mean times. This is smoothing before differentiation (a boxcar smoother and a
  central difference in one step); its noise is ``sigma * sqrt(2 / m) / ((m + 1) dt)`` for
  white sample noise ``sigma``, and a saccade of amplitude ``A`` shorter than the window
  still peaks at about ``A / ((m + 1) dt)``.
* :func:`noise_stats`: per block of samples, the smallest ``m`` whose velocity noise
  (estimated from a low quantile of the speeds, which fixations dominate) is below a quarter of the
  threshold, capped at ``max_span`` seconds per side; when even the cap is too noisy, the
  threshold itself rises to four times the velocity noise (an adaptive threshold in the
  spirit of Nystroem & Holmqvist 2010). Also the positional noise ``sigma_pos``.
* :func:`ivt_runs` / :func:`idt_runs`: runs of fixation samples (I-VT: speed below the
  threshold; I-DT: windows of ``min_duration`` with dispersion below the threshold, grown
  as far as the dispersion allows, found for all start samples at once with a sparse
  table and a vectorised binary search).
* :func:`refine_run`: moves a run's ends back out over the samples the smoothing window
  blurred, while the (lightly smoothed) position stays near the run's centre.

Coordinates are pixels of one frame, times seconds, as in :mod:`.samples`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BlockStats",
    "RangeTable",
    "idt_runs",
    "ivt_runs",
    "noise_stats",
    "prefilter",
    "refine_run",
    "segments",
    "split_run",
    "window_velocity",
]

NOISE_QUANTILE = 0.3
"""Noise is read off this quantile of speeds / residuals: fixations fill most of a recording,
and a low quantile stays clear of the saccades even at 30 Hz, where they touch a third of
all windows."""
RAYLEIGH_Q = float(np.sqrt(-2.0 * np.log(1.0 - NOISE_QUANTILE)))
"""That quantile of a Rayleigh(1) variable: 2-D white noise of sigma per axis has its speeds'
(and residuals') quantile at this times sigma."""
NOISE_FACTOR = 3.0
"""Threshold / velocity-noise ratio aimed at: 2-D noise exceeds 4 sigma in 0.03% of samples."""


def segments(t: np.ndarray, max_gap: float) -> np.ndarray:
    """Segment id per sample: a new segment starts after each gap longer than ``max_gap`` seconds."""
    if t.size == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.cumsum(np.diff(t) > max_gap)])


def _bounds(seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first index, last index + 1) of the segment of each sample."""
    n = seg.size
    starts = np.concatenate([[0], np.flatnonzero(np.diff(seg)) + 1])
    ends = np.concatenate([starts[1:], [n]])
    sid = np.searchsorted(starts, np.arange(n), side="right") - 1
    return starts[sid], ends[sid]


def prefilter(v: np.ndarray, seg: np.ndarray, kind: str | None, win: int) -> np.ndarray:
    """Running ``kind`` ("median" | "mean") of ``win`` (odd) samples, centred, inside each segment."""
    if kind is None or win < 2 or v.size < 2:
        return v
    out = v.copy()
    bounds = np.flatnonzero(np.diff(seg)) + 1
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [v.size]])):
        part = v[a:b]
        if part.size < 3:
            continue
        padded = np.pad(part, win // 2, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, win)
        out[a:b] = np.median(windows, axis=1) if kind == "median" else windows.mean(axis=1)
    return out


def _csum(v: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(v, dtype=np.float64)])


def window_velocity(t: np.ndarray, x: np.ndarray, y: np.ndarray, seg: np.ndarray, m: np.ndarray | int) -> np.ndarray:
    """Speed (px/s) per sample from the mean positions of the ``m`` samples on each side.

    ``m`` is one int or one per sample. Windows stop at segment ends; a side with no
    sample (segment edge) uses the sample itself. Samples alone in their segment get 0.
    """
    n = t.size
    if n == 0:
        return np.zeros(0)
    i = np.arange(n)
    mm = np.broadcast_to(np.asarray(m, np.int64), (n,))
    s0, s1 = _bounds(seg)
    la, lb = np.maximum(i - mm, s0), i  # left window [la, lb)
    ra, rb = i + 1, np.minimum(i + 1 + mm, s1)  # right window [ra, rb)
    ct, cx, cy = _csum(t), _csum(x), _csum(y)
    nl, nr = lb - la, rb - ra

    def mean(c: np.ndarray, a: np.ndarray, b: np.ndarray, cnt: np.ndarray, own: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt > 0, (c[b] - c[a]) / np.maximum(cnt, 1), own)

    tl, tr = mean(ct, la, lb, nl, t), mean(ct, ra, rb, nr, t)
    xl, xr = mean(cx, la, lb, nl, x), mean(cx, ra, rb, nr, x)
    yl, yr = mean(cy, la, lb, nl, y), mean(cy, ra, rb, nr, y)
    dt = tr - tl
    d = np.hypot(xr - xl, yr - yl)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dt > 0, d / np.where(dt > 0, dt, 1.0), 0.0)


@dataclass(frozen=True)
class BlockStats:
    """Noise of one block of samples and what follows from it.

    ``m``: samples per side of the velocity window; ``threshold``: speed threshold (px/s)
    after adaptation; ``sigma_v``: velocity noise at ``m`` (px/s); ``sigma_pos``: sample
    position noise (px, per axis); ``raised``: the threshold had to rise above the one
    asked for because the noise is too high even at the largest window; ``usable``: False
    when the positional noise is beyond any eye tracker's (that block holds no fixation).
    """

    m: int
    threshold: float
    sigma_v: float
    sigma_pos: float
    raised: bool
    usable: bool = True


MIN_SPAN = 0.01
"""Seconds per side of the narrowest velocity window: 20 ms in all, as the eye-movement
literature differentiates (Engbert & Kliegl 2003; Nystroem & Holmqvist 2010)."""


def _candidate_ms(dt: float, max_span: float, min_span: float = MIN_SPAN) -> list[int]:
    top = max(1, int(np.floor(max_span / max(dt, 1e-6))))
    m = min(top, max(1, round(min_span / max(dt, 1e-6))))
    out: list[int] = []
    while m < top:
        out.append(m)
        m = max(m + 1, round(m * 1.4))
    out.append(top)
    return out


def noise_stats(
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    seg: np.ndarray,
    threshold: float,
    max_span: float,
    fixed_m: int | None = None,
    raw: tuple[np.ndarray, np.ndarray] | None = None,
    max_sigma: float = np.inf,
) -> BlockStats:
    """:class:`BlockStats` of a block of samples for a speed ``threshold`` (px/s).

    The positional noise ``sigma_pos`` is read off the residuals of the ``raw`` positions
    (default ``x``, ``y``) from a centred running mean of about 20 ms (a low quantile, see
    :data:`NOISE_QUANTILE`). The velocity noise of a window of ``m`` samples per side
    follows from it, ``sigma_pos * sqrt(2 / m) / ((m + 1) dt)``: measured this way, the
    slow real motion of a head-mounted recording (drift, vestibulo-ocular reflex) is not
    mistaken for noise. ``max_span`` caps the window (seconds per side); ``fixed_m`` skips
    the search; a positional noise above ``max_sigma`` px makes the block unusable.
    """
    n = t.size
    dts = np.diff(t)
    dts = dts[(dts > 0) & (np.diff(seg) == 0)] if n > 1 else dts
    dt = float(np.median(dts)) if dts.size else 1.0
    # positional noise: residual from a centred running mean of 2k+1 samples (k ~ 10 ms)
    k = max(1, round(0.01 / max(dt, 1e-6)))
    s0, s1 = _bounds(seg)
    i = np.arange(n)
    a, b = np.maximum(i - k, s0), np.minimum(i + k + 1, s1)
    px, py = raw if raw is not None else (x, y)
    cx, cy = _csum(px), _csum(py)
    cnt = np.maximum(b - a, 1)
    rx, ry = px - (cx[b] - cx[a]) / cnt, py - (cy[b] - cy[a]) / cnt
    r = np.hypot(rx, ry)[(b - a) > 2]
    width = 2 * k + 1
    sig_p = float(np.quantile(r, NOISE_QUANTILE)) / RAYLEIGH_Q * np.sqrt(width / (width - 1)) if r.size else 0.0
    ms = [int(fixed_m)] if fixed_m is not None else _candidate_ms(dt, max_span)
    chosen, sig_v = ms[-1], 0.0
    for m in ms:
        sig_v = sig_p * np.sqrt(2.0 / m) / ((m + 1) * dt)
        chosen = m
        if NOISE_FACTOR * sig_v <= threshold:
            break
    raised = NOISE_FACTOR * sig_v > threshold and fixed_m is None
    thr = max(threshold, NOISE_FACTOR * sig_v) if fixed_m is None else threshold
    return BlockStats(int(chosen), float(thr), float(sig_v), sig_p, bool(raised), bool(sig_p <= max_sigma))


def ivt_runs(fix: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) index ranges of consecutive fixation samples (``fix`` True) within one segment."""
    if fix.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    f = fix.astype(np.int8)
    brk = (np.diff(f) != 0) | (np.diff(seg) != 0)
    change = np.flatnonzero(brk) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [fix.size]])
    keep = fix[starts]
    return starts[keep], ends[keep]


class RangeTable:
    """Range minimum and maximum of x and y over [a, b] in O(1) (a sparse table, O(n log n) memory)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [(x, x, y, y)]
        k = 1
        while 2 * k <= x.size:
            lx0, hx0, ly0, hy0 = self.levels[-1]
            self.levels.append(
                (
                    np.minimum(lx0[:-k], lx0[k:]),
                    np.maximum(hx0[:-k], hx0[k:]),
                    np.minimum(ly0[:-k], ly0[k:]),
                    np.maximum(hy0[:-k], hy0[k:]),
                )
            )
            k *= 2

    def dispersion(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """x range + y range of samples a..b inclusive (arrays, a <= b)."""
        length = b - a + 1
        lev = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
        out = np.empty(a.shape, np.float64)
        for L in np.unique(lev):
            sel = lev == L
            aa, bb = a[sel], b[sel] - (1 << int(L)) + 1
            lx, hx, ly, hy = self.levels[int(L)]
            out[sel] = (
                np.maximum(hx[aa], hx[bb])
                - np.minimum(lx[aa], lx[bb])
                + np.maximum(hy[aa], hy[bb])
                - np.minimum(ly[aa], ly[bb])
            )
        return out


def idt_runs(
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    seg: np.ndarray,
    threshold: np.ndarray,
    min_duration: float,
    start: int,
    stop: int,
    final: bool = True,
) -> tuple[list[tuple[int, int]], int, bool]:
    """I-DT (Salvucci & Goldberg 2000) from sample ``start``, deciding windows that start before ``stop``.

    A window from sample i spanning ``min_duration`` (inside one segment) whose dispersion
    (x range + y range) is at most ``threshold[i]`` starts a fixation, grown to the last
    sample keeping the dispersion within it; the scan resumes after it, otherwise at i + 1.
    Unless ``final``, a window that needs samples past the end of the arrays is undecided:
    the scan stops before it. Returns (runs as [a, b) pairs, where the scan stopped,
    whether the last run touches the end of the arrays and may still grow).
    """
    n = t.size
    runs: list[tuple[int, int]] = []
    if start >= n:
        return runs, start, False
    _, s1 = _bounds(seg)
    idx = np.arange(start, n)
    j = np.searchsorted(t, t[idx] + min_duration - 1e-9, side="left")
    j = np.maximum(j, idx + 1)
    ok_win = j < s1[idx]
    if not final:
        open_end = (j >= n) & (s1[idx] == n)
        if open_end.any():
            stop = min(stop, start + int(np.argmax(open_end)))
    table = RangeTable(x, y)
    thr = threshold[idx]
    disp = np.full(idx.size, np.inf)
    disp[ok_win] = table.dispersion(idx[ok_win], j[ok_win])
    good = ok_win & (disp <= thr)
    # grow: the last k in [j, s1 - 1] with dispersion(i, k) <= thr, by bisection for all i at once
    lo = np.where(good, j, 0)
    hi = np.where(good, s1[idx] - 1, 0)
    while True:
        act = good & (lo < hi)
        if not act.any():
            break
        mid = (lo + hi + 1) // 2
        d = table.dispersion(idx[act], mid[act])
        okm = d <= thr[act]
        lo_a, hi_a = lo[act], hi[act]
        lo_a = np.where(okm, mid[act], lo_a)
        hi_a = np.where(okm, hi_a, mid[act] - 1)
        lo[act], hi[act] = lo_a, hi_a
    ends = lo + 1  # exclusive
    nxt_good = np.full(idx.size + 1, idx.size, np.int64)
    gpos = np.flatnonzero(good)
    if gpos.size:
        # next good position at or after p
        marker = np.full(idx.size, idx.size, np.int64)
        marker[gpos] = gpos
        nxt_good[:-1] = np.minimum.accumulate(marker[::-1])[::-1]
    p = 0
    touching = False
    while p < idx.size:
        p = int(nxt_good[p])
        if p >= idx.size:
            break
        i = start + p
        if i >= stop:
            break
        e = int(ends[p])
        runs.append((i, e))
        if e >= n:
            touching = True
            p = idx.size
            break
        p = e - start
    resume = min(start + min(p, idx.size), max(stop, start))  # windows from `stop` on are undecided
    if runs:
        resume = max(resume, runs[-1][1])  # ... but a fixation found consumes its samples
    return runs, max(resume, start), touching


def refine_run(
    a: int,
    b: int,
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    seg: np.ndarray,
    lo: int,
    hi: int,
    radius: float,
    reach: int,
    edge: float = 0.1,
    right: bool = True,
) -> tuple[int, int]:
    """Extend run [a, b) to the left (not before ``lo``) and right (not past ``hi``) by at most
    ``reach`` samples each, while the 3-sample mean position stays within ``radius`` px of
    the mean of the run's first (last) ``edge`` seconds, and the sample itself within 1.5
    ``radius``, inside the run's segment. Each end only looks at the samples near it, so
    the start is known before the run ends. ``right=False`` keeps the end."""
    if b - a < 1 or reach <= 0:
        return a, b
    sg = seg[a]
    s_lo = int(np.searchsorted(seg, sg, side="left"))
    s_hi = int(np.searchsorted(seg, sg, side="right"))

    def centre(i0: int, i1: int) -> tuple[float, float]:
        return float(np.mean(x[i0:i1])), float(np.mean(y[i0:i1]))

    def near(i: int, c: tuple[float, float]) -> bool:
        j0, j1 = max(i - 1, lo, s_lo), min(i + 2, hi, s_hi)
        if j1 <= j0 or np.hypot(x[i] - c[0], y[i] - c[1]) > 1.5 * radius:
            return False
        return bool(np.hypot(x[j0:j1].mean() - c[0], y[j0:j1].mean() - c[1]) <= radius)

    head = centre(a, max(a + 1, int(np.searchsorted(t, t[a] + edge, side="right"))))
    tail = centre(min(b - 1, int(np.searchsorted(t, t[b - 1] - edge, side="left"))), b)
    na = a
    while na - 1 >= max(lo, s_lo) and a - (na - 1) <= reach and near(na - 1, head):
        na -= 1
    nb = b
    while right and nb < min(hi, s_hi) and nb + 1 - b <= reach and near(nb, tail):
        nb += 1
    return na, nb


def split_run(
    x: np.ndarray,
    y: np.ndarray,
    a: int,
    b: int,
    sigma: float,
    min_distance: float,
    min_len: int,
    z_crit: float | None = None,
    breaks: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """Split samples [a, b) where their mean position changes (binary segmentation), O(n log n).

    A small saccade hidden in noise leaves no velocity peak but moves the mean: for every
    split point the distance between the mean positions before and after is compared
    with its standard error ``sigma * sqrt(1/n1 + 1/n2)`` (``sigma`` the positional noise
    per axis). The best split is taken when that ratio reaches ``z_crit`` (default
    ``max(3, sqrt(2 ln n) + 1)`` for n samples: the largest of n noise comparisons grows
    like ``sqrt(2 ln n)``) and the distance
    ``min_distance`` (so drift within a fixation is never split). Inside a run both sides
    need ``min_len`` samples; at a ``breaks`` position (``breaks[k - a]`` True: a velocity
    peak separates samples k - 1 and k) two samples suffice. Both halves are searched again.
    """
    out: list[tuple[int, int]] = []
    todo = [(a, b)]
    sig = max(float(sigma), 1e-9)
    ml = max(int(min_len), 1)
    if z_crit is None:  # the maximum of n noisy comparisons grows like sqrt(2 ln n)
        z_crit = max(3.0, float(np.sqrt(2.0 * np.log(max(b - a, 2)))) + 1.0)
    while todo:
        lo, hi = todo.pop()
        n = hi - lo
        if n < 4:
            out.append((lo, hi))
            continue
        cx, cy = _csum(x[lo:hi]), _csum(y[lo:hi])
        k = np.arange(2, n - 1)
        n1, n2 = k.astype(np.float64), (n - k).astype(np.float64)
        allowed = (k >= ml) & (n - k >= ml)
        if breaks is not None:
            allowed |= breaks[lo - a + k]
        m1x, m1y = cx[k] / n1, cy[k] / n1
        m2x, m2y = (cx[n] - cx[k]) / n2, (cy[n] - cy[k]) / n2
        d = np.hypot(m2x - m1x, m2y - m1y)
        z = np.where(allowed & (d >= min_distance), d / (sig * np.sqrt(1.0 / n1 + 1.0 / n2)), 0.0)
        if not z.size:
            out.append((lo, hi))
            continue
        best = int(np.argmax(z))
        if z[best] >= z_crit:
            cut = lo + int(k[best])
            todo.append((cut, hi))
            todo.append((lo, cut))
        else:
            out.append((lo, hi))
    return sorted(out)
