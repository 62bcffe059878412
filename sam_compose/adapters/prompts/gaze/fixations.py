"""Fixation detection (I-VT and I-DT) that holds up to real eye-tracker noise, streaming over chunks.

:class:`FixationDetector` takes :class:`GazeSamples` chunks (``feed``) and returns the
fixations that are final so far; ``flush`` ends the stream. :func:`.detect.detect_fixations` and
the live interface (:mod:`.live`) both use it, so a 2-hour recording read with
``iter_gaze`` is processed in bounded memory, and a live stream gives exactly the
fixations the recorded file gives.

Pipeline (docs/gaze.md has the reasoning and the measurements):

1. **Invalid samples dropped**: ``valid`` False (device flags, NaN), confidence below
   ``min_confidence``, outside the scene frame. More than ``max_gap`` (75 ms) between
   valid samples (a blink, a dropout) ends any fixation; no window reaches across a gap.
2. **Noise, measured**: in the first 0.5 s, then every ``block`` seconds (2 s) of valid samples, the velocity noise
   and the positional noise are measured (:func:`.classify.noise_stats`); a block uses
   the figures of the block before it (the first block its own), so batch, chunked and
   live runs decide identically.
3. **Smoothing before differentiation**: an optional running median (``smoothing``,
   3 samples: spike removal), then the speed of each sample is the difference of the mean
   positions of the ``m`` samples before and after it over the difference of their mean
   times, ``m`` the smallest window whose noise stays below a quarter of the threshold
   (at most ``max_span`` = 60 ms per side); if the noise is too high even then, the
   threshold rises to four times the velocity noise.
4. **Classification**. *I-VT*: speed below ``velocity_threshold``. *I-DT* (Salvucci &
   Goldberg 2000): a window of ``min_duration`` whose dispersion (x range + y range) of
   the ``m``-smoothed positions is at most ``dispersion_threshold`` (raised to five times
   the smoothed positional noise) starts a fixation, grown while the dispersion allows.
5. **Edges restored**: each run is extended over the samples the window blurred while the
   3-sample mean position stays within two positional-noise sigmas (at least a quarter of
   the merge distance) of its centre.
6. **Fragments merged**: consecutive fixations less than ``merge_gap`` apart in time whose
   centres are closer than ``merge_distance`` *or* than three standard errors of their
   centres (noise cannot tell them apart) are one fixation.
7. **Impossible ones rejected**: shorter than ``min_duration`` (60 ms) or with fewer
   than two samples.

Units. Thresholds are **pixels of the scene frame** (px/s, px), or **degrees** (deg/s,
deg) when ``fov`` (the scene camera's field of view in degrees) is given or known for the
device (``samples.meta["fov"]``); pixels per degree = width / fov_h (see
:func:`.coords.px_per_degree`). Defaults: 30 deg/s (I-VT), 1.0 deg dispersion (I-DT),
0.5 deg merge distance; without any fov, 0.25 frame diagonals per second, 0.01 and 0.005
diagonals (the same for a scene camera of about 100 deg).

``adaptive=False`` gives the textbook algorithms (fixed ``velocity_span`` window, fixed
thresholds, no edge restoration), which the tests compare with pymovements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .classify import (
    BlockStats,
    idt_runs,
    ivt_runs,
    noise_stats,
    prefilter,
    refine_run,
    segments,
    split_run,
    window_velocity,
)
from .compat import scene_size_arg
from .errors import GazeError
from .fixation_params import FixationParams
from .samples import Fixation, GazeSamples

__all__ = ["FixationDetector"]

FEED_BLOCK = 65536  # samples processed at a time: bounds the working memory of one feed()
MAX_GROUP = 30.0  # seconds: a pending fixation is emitted at this length (bounds memory and latency)
FIRST_BLOCK = 0.5  # seconds: the first noise block is short, so a live stream starts deciding soon
TAIL = 0.1  # seconds of each side compared when deciding whether a run continues the pending fixation
Z_CRIT = 4.0  # standard errors of the mean position that tell two places apart


class FixationDetector:
    """Streaming I-VT / I-DT detector; ``feed(chunk)`` -> new final fixations, ``flush()`` at the end.

    Keeps only the samples of the fixation in progress (plus a few samples of context and
    one noise block), so memory does not grow with the recording. Keyword arguments as in
    :func:`detect_fixations`; ``scene_size`` (H, W) of the frame (None: image pixels, then
    give ``image_size`` or pixel thresholds). ``frame_size=(W, H)`` (keyword or the
    first positional argument) is the deprecated spelling.
    """

    def __init__(
        self,
        *args: Any,
        scene_size: Sequence[int] | None = None,
        image_size: Sequence[int] | None = None,
        frame_size: Sequence[int] | None = None,
        **params: Any,
    ) -> None:
        if args:
            if len(args) > 1 or frame_size is not None:
                raise GazeError(
                    "FixationDetector takes keyword arguments: scene_size=(H, W), image_size=..., method=..."
                )
            frame_size = args[0]
        self.scene_size = scene_size_arg(scene_size, frame_size, "FixationDetector", stacklevel=4)
        isz = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        self.params = FixationParams.resolve(self.scene_size, image_size=isz, **params)
        self._t = np.zeros(0)
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self._g0 = 0  # global index (among valid samples) of buffer sample 0
        self._start = 0  # buffer index where undecided samples begin (before: context)
        self._floor = 0  # global index before which no run may extend (end of the last run)
        self._pending: Fixation | None = None
        self._pending_sigma = 0.0
        self._group: list[tuple[int, int]] = []  # pending runs (global [a, b)) of one place, not yet split
        self._group_sigma = 0.0
        self.samples_seen = 0
        self.samples_used = 0
        self.dropped: dict[str, int] = {}
        self._last_t = -np.inf
        self._clock = -np.inf  # latest timestamp seen, valid sample or not
        # noise blocks
        self._t_origin: float | None = None
        self._blk_index = 0
        self._blk: list[np.ndarray] = []
        self._stats: dict[int, BlockStats] = {}
        self._last_stats: BlockStats | None = None
        self.noise: list[dict[str, float]] = []
        """Per noise block: start time, window samples per side, threshold px/s, velocity and position noise."""

    # -- input ---------------------------------------------------------------------------
    def feed(self, chunk: GazeSamples) -> list[Fixation]:
        """Add a chunk of samples (in time order); return fixations that can no longer change."""
        if not isinstance(chunk, GazeSamples):
            raise GazeError(f"FixationDetector.feed takes GazeSamples, got {type(chunk).__name__}")
        if chunk.scene_size != self.scene_size and self.scene_size is not None and chunk.scene_size is not None:
            raise GazeError(f"chunk scene size {chunk.scene_size} differs from the detector's {self.scene_size}")
        if len(chunk) > FEED_BLOCK:
            out: list[Fixation] = []
            for a in range(0, len(chunk), FEED_BLOCK):
                part = chunk[a : a + FEED_BLOCK]
                part.dropped = dict(chunk.dropped) if a == 0 else {}
                out.extend(self.feed(part))
            return out
        p = self.params
        self.samples_seen += len(chunk)
        for k, v in chunk.dropped.items():
            self.dropped[k] = self.dropped.get(k, 0) + int(v)
        keep = chunk.valid.copy()
        unexplained = int(np.count_nonzero(~chunk.valid)) - sum(int(v) for v in chunk.dropped.values())
        if unexplained > 0:
            self.dropped["invalid"] = self.dropped.get("invalid", 0) + unexplained
        if p.min_confidence is not None:
            low = keep & np.isfinite(chunk.confidence) & (chunk.confidence < p.min_confidence)
            self._count("low_confidence", low)
            keep &= ~low
        if self.scene_size is not None:
            h, w = self.scene_size
            off = keep & ~((chunk.x >= 0) & (chunk.x <= w) & (chunk.y >= 0) & (chunk.y <= h))
            self._count("off_scene", off)
            keep &= ~off
        t, x, y = chunk.t[keep], chunk.x[keep], chunk.y[keep]
        clock = chunk.t[np.isfinite(chunk.t)]
        if clock.size:
            self._clock = max(self._clock, float(clock.max()))
        if t.size:
            if t[0] < self._last_t or (np.diff(t) < 0).any():
                raise GazeError("gaze samples go back in time; feed them in time order (sort the recording)")
            self._last_t = t[-1]
            self._account_blocks(t, x, y)
        self.samples_used += int(t.size)
        self._t = np.concatenate([self._t, t])
        self._x = np.concatenate([self._x, x])
        self._y = np.concatenate([self._y, y])
        return self._process(final=False)

    def flush(self) -> list[Fixation]:
        """End of the stream: decide the remaining samples and return the last fixations."""
        self._close_block()
        out = self._process(final=True)
        if self._pending is not None:
            if self._qualifies(self._pending):
                out.append(self._pending)
            self._pending = None
        self._g0 += self._t.size
        self._t, self._x, self._y = np.zeros(0), np.zeros(0), np.zeros(0)
        self._start = 0
        return out

    def _count(self, reason: str, mask: np.ndarray) -> None:
        n = int(np.count_nonzero(mask))
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    # -- noise blocks ----------------------------------------------------------------------
    def _block_of(self, t: np.ndarray) -> np.ndarray:
        """Noise block of each time: the first :data:`FIRST_BLOCK` seconds, then every ``block`` seconds."""
        assert self._t_origin is not None
        if self.params.block <= 0:
            return np.zeros(t.shape, np.int64)
        rel = t - self._t_origin - FIRST_BLOCK
        return np.where(rel < 0, 0, 1 + np.floor(rel / self.params.block)).astype(np.int64)

    def _account_blocks(self, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        if self._t_origin is None:
            self._t_origin = float(t[0])
        blk = self._block_of(t)
        for b in np.unique(blk):
            sel = blk == b
            if b != self._blk_index:
                self._close_block()
                self._blk_index = int(b)
            self._blk.append(np.stack([t[sel], x[sel], y[sel]]))

    def _close_block(self) -> None:
        """Measure the finished block; its figures serve the blocks after it."""
        if not self._blk:
            return
        arr = np.concatenate(self._blk, axis=1)
        self._blk = []
        if arr.shape[1] < 20 and self._last_stats is not None:
            return
        p = self.params
        t, x, y = arr
        seg = segments(t, p.max_gap)
        fx = prefilter(x, seg, p.smoothing, p.smooth_window)
        fy = prefilter(y, seg, p.smoothing, p.smooth_window)
        fixed = None
        if not p.adaptive or p.velocity_span is not None:
            span = 0.02 if p.velocity_span is None else p.velocity_span
            dts = np.diff(t)
            dts = dts[dts > 0]
            rate = 1.0 / float(np.median(dts)) if dts.size else 1.0
            fixed = max(1, round(span / 2 * rate))
        st = noise_stats(
            t,
            fx,
            fy,
            seg,
            p.velocity_px_s,
            p.max_span,
            fixed_m=fixed,
            raw=(x, y),
            max_sigma=p.max_noise_px if p.adaptive else np.inf,
        )
        if self._last_stats is None:
            self._stats[self._blk_index] = st  # the first block uses its own figures
        self._stats[self._blk_index + 1] = st
        self._last_stats = st
        self.noise.append(
            {
                "block_start": round(float(t[0]), 6),
                "m": st.m,
                "threshold_px_s": round(st.threshold, 3),
                "sigma_v_px_s": round(st.sigma_v, 3),
                "sigma_px": round(st.sigma_pos, 4),
                "raised": st.raised,
                "usable": st.usable,
            }
        )

    def _stats_for(self, blk: np.ndarray) -> list[BlockStats]:
        """Block statistics per block index: that of the nearest measured block at or before it.

        Entries older than the oldest block still buffered are pruned (all but one)."""
        keys = sorted(self._stats)
        first = int(np.searchsorted(keys, int(blk.min()), side="right")) - 1
        for k in keys[: max(first, 0)]:
            del self._stats[k]
        keys = keys[max(first, 0) :]
        out = []
        for b in blk:
            k = int(np.searchsorted(keys, int(b), side="right")) - 1
            out.append(self._stats[keys[max(k, 0)]])
        return out

    # -- processing ----------------------------------------------------------------------
    def _process(self, final: bool) -> list[Fixation]:
        p = self.params
        t, x, y = self._t, self._x, self._y
        n = t.size
        out: list[Fixation] = []
        if n == 0 or not self._stats:
            return out  # wait until the first noise block is measured
        at_end = final
        # invalid samples (a blink) still move the clock: once it is max_gap past the last valid
        # sample, that sample ends its segment and the buffer can be decided like at the end
        final = final or self._clock - t[-1] > p.max_gap
        blk = self._block_of(t)
        ub, inv = np.unique(blk, return_inverse=True)
        stats = self._stats_for(ub)
        m = np.array([s.m for s in stats])[inv]
        thr = np.array([s.threshold for s in stats])[inv]
        sig = np.array([s.sigma_pos for s in stats])[inv]
        usable = np.array([s.usable for s in stats])[inv]
        mmax = int(m.max())
        seg = segments(t, p.max_gap)
        fx = prefilter(x, seg, p.smoothing, p.smooth_window)
        fy = prefilter(y, seg, p.smoothing, p.smooth_window)
        reach = mmax if p.adaptive else 0  # how far the window blurred a run's ends
        # a run ending at b is known once the speed at b is (m samples ahead, plus the median's
        # half window) and its end restored (reach samples, each a 3-sample mean)
        lag = 0 if final else mmax + p.smooth_window // 2 + reach + 2
        decided = max(n - lag, self._start)  # samples [start, decided) are classified for good
        if p.method == "ivt":
            v = window_velocity(t, fx, fy, seg, m)
            fixm = (v < thr) & usable
            a_s, b_s = ivt_runs(fixm[self._start : decided], seg[self._start : decided])
            runs = [(self._start + int(a), self._start + int(b)) for a, b in zip(a_s, b_s)]
            resume = decided
            deferred = False
            if runs and not final and runs[-1][1] >= decided:
                resume = runs[-1][0]
                runs = runs[:-1]
                deferred = True
        else:
            v = window_velocity(t, fx, fy, seg, m)
            sx, sy = self._smoothed(fx, fy, seg, m) if p.adaptive else (fx, fy)
            width = 2 * m + 1
            dthr = (
                np.maximum(p.dispersion_px, 5.0 * sig / np.sqrt(width)) if p.adaptive else np.full(n, p.dispersion_px)
            )
            dthr = np.where(usable, dthr, -1.0)
            lim = n if final else decided
            runs, resume, touching = idt_runs(
                t[:lim], sx[:lim], sy[:lim], seg[:lim], dthr[:lim], p.min_duration, self._start, lim, final=final
            )
            deferred = False
            if touching and not final:
                resume = runs[-1][0]
                runs = runs[:-1]
                deferred = True
            elif not final:
                resume = max(min(resume, decided), self._start)
        floor = max(self._floor - self._g0, 0)
        for a, b in runs:  # [a, b) index ranges of fixation candidates
            a = max(a, floor)
            if p.adaptive and p.method == "idt":  # the smoothed window may reach into a saccade: trim it
                while a < b and v[a] >= thr[a]:
                    a += 1
                while b > a and v[b - 1] >= thr[b - 1]:
                    b -= 1
            if b <= a:
                continue
            if p.adaptive:
                radius = max(2.0 * float(sig[a]), 0.25 * p.merge_px)
                hi = n if final else min(n, decided + reach)
                a, b = refine_run(a, b, t, fx, fy, seg, floor, hi, radius, int(m[a]), TAIL)
                floor = b
                out.extend(self._add_to_group(t, x, y, a, b, float(sig[a])))
            else:
                floor = b
                f = self._make(t, x, y, a, b)
                if f is not None:
                    out.extend(self._merge(f, float(sig[a])))
        self._floor = self._g0 + floor
        if p.adaptive and self._group and deferred and resume < decided:
            # the run in progress: once its first TAIL seconds are known, whether it continues the
            # pending fixation is known too; if it does not, the pending one is final now
            a0 = max(resume, floor)
            if p.method == "idt":
                while a0 < decided and v[a0] >= thr[a0]:
                    a0 += 1
            if a0 < decided and t[decided - 1] - t[a0] >= TAIL:
                radius = max(2.0 * float(sig[a0]), 0.25 * p.merge_px)
                a1, _ = refine_run(a0, decided, t, fx, fy, seg, floor, decided, radius, int(m[a0]), TAIL)
                if not self._continues(t, x, y, a1, decided, float(sig[a1])):
                    out.extend(self._close_group(t, x, y))
        # a later fixation starts at or after the first undecided sample: once that is more than
        # merge_gap after the pending fixation (or group), nothing can merge with it any more
        frontier = t[resume] if resume < n else max(t[-1], self._clock)
        if not at_end and self._group and frontier - t[self._group[-1][1] - 1 - self._g0] > p.merge_gap:
            out.extend(self._close_group(t, x, y))
        if at_end and self._group:
            out.extend(self._close_group(t, x, y))
        if not at_end and self._pending is not None and frontier - self._pending.end > p.merge_gap:
            if self._qualifies(self._pending):
                out.append(self._pending)
            self._pending = None
        # keep undecided samples plus context for the windows, and the pending group
        ctx = 2 * mmax + p.smooth_window + reach + 2
        cut = max(0, min(resume, n) - ctx)
        if self._group:
            cut = min(cut, self._group[0][0] - self._g0)
        self._t, self._x, self._y = t[cut:], x[cut:], y[cut:]
        self._g0 += cut
        self._start = resume - cut
        return out

    # -- the pending fixation: fragments joined while noise cannot tell them apart --------
    def _continues(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, a: int, b: int, sigma: float) -> bool:
        """Whether the run [a, b) (buffer indices) continues the pending fixation.

        It does when it starts within ``merge_gap`` of the pending fixation's end and the mean
        of its first ``TAIL`` seconds is closer to the mean of the pending fixation's last
        ``TAIL`` seconds than ``merge_distance``, or than ``Z_CRIT`` standard errors (noise
        cannot tell them apart). Only the run's first ``TAIL`` seconds are read.
        """
        p = self.params
        g0 = self._g0
        last = self._group[-1][1] - 1 - g0
        first = self._group[0][0] - g0
        if t[a] - t[last] > p.merge_gap or t[last] - t[first] > MAX_GROUP:
            return False
        tail = np.concatenate([np.arange(ga - g0, gb - g0) for ga, gb in self._group[-4:]])
        tail = tail[t[tail] >= t[last] - TAIL]
        hi = min(int(np.searchsorted(t, t[a] + TAIL, side="right")), b)
        head = np.arange(a, max(hi, a + 1))
        d = float(np.hypot(x[tail].mean() - x[head].mean(), y[tail].mean() - y[head].mean()))
        sig = max(sigma, self._group_sigma, 1e-9)
        se = sig * np.sqrt(1.0 / tail.size + 1.0 / head.size)
        return d < p.merge_px or d < Z_CRIT * se

    def _add_to_group(
        self, t: np.ndarray, x: np.ndarray, y: np.ndarray, a: int, b: int, sigma: float
    ) -> list[Fixation]:
        """Add run [a, b) (buffer indices) to the pending fixation when it continues it
        (:meth:`_continues`), else close the pending one and start a new one with this run."""
        out: list[Fixation] = []
        if self._group and not self._continues(t, x, y, a, b, sigma):
            out.extend(self._close_group(t, x, y))
        if not self._group:
            self._group_sigma = sigma
        self._group.append((self._g0 + a, self._g0 + b))
        return out

    def _close_group(self, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[Fixation]:
        """Emit the pending fixation: its run samples (the breaks between runs left out) are split
        where their mean position moves (:func:`.classify.split_run`, both sides at least
        ``min_duration``: a saccade too small or too noisy for a velocity peak); each piece is
        a fixation when it qualifies."""
        p = self.params
        grp, self._group = self._group, []
        if not grp:
            return []
        idx = np.concatenate([np.arange(ga - self._g0, gb - self._g0) for ga, gb in grp])
        ts, xs, ys = t[idx], x[idx], y[idx]
        dts = np.diff(ts)
        dt = float(np.median(dts)) if dts.size else 1.0
        min_len = max(2, int(np.ceil(p.min_duration / max(dt, 1e-6) - 1e-6)) + 1)  # a piece must be a fixation
        out: list[Fixation] = []
        for pa, pb in split_run(xs, ys, 0, idx.size, self._group_sigma, p.merge_px, min_len):
            f = self._make(ts, xs, ys, pa, pb)
            if f is not None and self._qualifies(f):
                out.append(f)
        return out

    @staticmethod
    def _smoothed(x: np.ndarray, y: np.ndarray, seg: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centred running mean of 2m+1 samples inside each segment (I-DT works on these)."""
        n = x.size
        i = np.arange(n)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(seg)) + 1])
        ends = np.concatenate([starts[1:], [n]])
        sid = np.searchsorted(starts, i, side="right") - 1
        a = np.maximum(i - m, starts[sid])
        b = np.minimum(i + m + 1, ends[sid])
        cx = np.concatenate([[0.0], np.cumsum(x)])
        cy = np.concatenate([[0.0], np.cumsum(y)])
        cnt = b - a
        return (cx[b] - cx[a]) / cnt, (cy[b] - cy[a]) / cnt

    def _make(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, a: int, b: int) -> Fixation | None:
        """The fixation of samples [a, b) (centre: their mean position)."""
        if b - a < 2:
            return None
        if not self.params.adaptive and t[b - 1] - t[a] < self.params.min_duration - 1e-9:
            return None
        xs, ys = x[a:b], y[a:b]
        return Fixation(
            x=float(xs.mean()),
            y=float(ys.mean()),
            start=float(t[a]),
            end=float(t[b - 1]),
            duration=float(t[b - 1] - t[a]),
            n_samples=int(b - a),
            dispersion=float(np.ptp(xs) + np.ptp(ys)),
        )

    def _qualifies(self, f: Fixation) -> bool:
        return f.n_samples >= 2 and f.duration >= self.params.min_duration - 1e-9

    def _merge(self, f: Fixation, sigma: float) -> list[Fixation]:
        p = self.params
        prev = self._pending
        if prev is None:
            self._pending, self._pending_sigma = f, sigma
            return []
        sig = max(sigma, self._pending_sigma)
        se = (
            3.0 * sig * np.sqrt(2.0 * (1.0 / max(prev.n_samples, 1) + 1.0 / max(f.n_samples, 1))) if p.adaptive else 0.0
        )
        close = np.hypot(f.x - prev.x, f.y - prev.y) <= max(p.merge_px, se)
        if f.start - prev.end <= p.merge_gap and close:
            n = prev.n_samples + f.n_samples
            w0, w1 = prev.n_samples / max(n, 1), f.n_samples / max(n, 1)
            self._pending = Fixation(
                x=prev.x * w0 + f.x * w1,
                y=prev.y * w0 + f.y * w1,
                start=prev.start,
                end=f.end,
                duration=f.end - prev.start,
                n_samples=n,
                dispersion=max(prev.dispersion, f.dispersion),
            )
            return []
        self._pending, self._pending_sigma = f, sigma
        return [prev] if self._qualifies(prev) else []

    @property
    def buffered(self) -> int:
        """Samples held in memory right now (bounded by the longest fixation plus one noise block)."""
        return int(self._t.size)
