"""Fixation detection (I-VT and I-DT, Salvucci & Goldberg 2000) that streams over chunks.

:class:`FixationDetector` takes :class:`GazeSamples` chunks (``feed``) and returns the
fixations that are final so far; ``flush`` ends the stream. The batch function
:func:`detect_fixations` and the live interface (:mod:`.live`) both use it, so a
2-hour recording read with ``iter_gaze`` is processed in bounded memory and a live
stream gives the same fixations as the recorded file.

Pipeline per sample stream:

1. **Invalid samples dropped**: ``valid`` False (device flags, NaN), confidence below
   ``min_confidence``, outside the scene frame. Time between consecutive valid samples
   above ``max_gap`` (default 75 ms: blinks, tracking loss) ends any fixation.
2. **Smoothing** (``smoothing="median"`` default, or "mean" or None) over
   ``smooth_window`` samples, centred, never across a gap. Used for classification only;
   fixation centres are means of the raw positions.
3. **Classification**.
   *I-VT*: a sample is a fixation sample when its speed (displacement of the smoothed
   position across ``velocity_span`` seconds centred on it, default 20 ms, i.e. +-2
   samples at 200 Hz) is below ``velocity_threshold``; consecutive fixation samples form a fixation.
   *I-DT*: a window spanning ``min_duration`` whose dispersion (x range + y range) is at
   most ``dispersion_threshold`` starts a fixation, grown while the dispersion stays
   within the threshold; otherwise the window start moves one sample on.
4. **Minimum duration**: fixations shorter than ``min_duration`` (default 60 ms; duration
   = last sample time - first sample time) are dropped.
5. **Merging**: consecutive fixations closer than ``merge_distance`` in space and
   ``merge_gap`` in time (default 75 ms) are joined (a blink inside a fixation).

Units. Thresholds are in **pixels of the scene frame** (px/s, px), or in **degrees**
(deg/s, deg) when ``fov`` (the scene camera's field of view in degrees) is given; pixels
per degree = width / fov_h (see :func:`.coords.px_per_degree`). Defaults: with
``fov``, 30 deg/s (I-VT), 1.0 deg dispersion (I-DT) and 0.5 deg merge distance;
without, 0.25 frame diagonals per second, 0.01 diagonals and 0.005 diagonals, which
match the degree values for a scene camera of about 100 deg (Neon, Invisible,
Glasses 3, Pupil Core's wide lens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .coords import px_per_degree
from .samples import Fixation, GazeError, GazeSamples

__all__ = ["FixationDetector", "FixationParams", "detect_fixations"]

METHODS = ("ivt", "idt")
SMOOTHING = (None, "none", "median", "mean")


@dataclass(frozen=True)
class FixationParams:
    """Resolved thresholds in pixels of the frame (see the module docstring for defaults)."""

    method: str
    velocity_px_s: float
    dispersion_px: float
    merge_px: float
    min_duration: float
    max_gap: float
    merge_gap: float
    smoothing: str | None
    smooth_window: int
    min_confidence: float | None
    velocity_span: float

    @classmethod
    def resolve(cls, frame_size: tuple[int, int] | None, *, method: str = "ivt",
                velocity_threshold: float | None = None, dispersion_threshold: float | None = None,
                merge_distance: float | None = None, fov: Sequence[float] | float | None = None,
                min_duration: float = 0.06, max_gap: float = 0.075, merge_gap: float = 0.075,
                smoothing: str | None = "median", smooth_window: int = 5,
                min_confidence: float | None = None, image_size: tuple[int, int] | None = None,
                velocity_span: float = 0.02) -> "FixationParams":
        if method not in METHODS:
            raise GazeError(f"fixation method must be 'ivt' (velocity) or 'idt' (dispersion), got {method!r}")
        if smoothing not in SMOOTHING:
            raise GazeError(f"smoothing must be 'median', 'mean' or None, got {smoothing!r}")
        for name, v in (("min_duration", min_duration), ("max_gap", max_gap), ("merge_gap", merge_gap),
                        ("velocity_span", velocity_span)):
            if not np.isfinite(v) or v < 0:
                raise GazeError(f"{name} is in seconds and must be >= 0, got {v!r}")
        if int(smooth_window) < 1:
            raise GazeError(f"smooth_window is a number of samples >= 1, got {smooth_window!r}")
        if frame_size is not None:
            w, h = frame_size
        elif image_size is not None:
            h, w = image_size
        else:
            w = h = None
        if fov is not None:
            if w is None:
                raise GazeError("fov (degrees) needs the scene frame size: pass frame_size or read a device format")
            ppd = px_per_degree((w, h), fov)
            vel = (30.0 if velocity_threshold is None else velocity_threshold) * ppd
            disp = (1.0 if dispersion_threshold is None else dispersion_threshold) * ppd
            merge = (0.5 if merge_distance is None else merge_distance) * ppd
        else:
            if w is None and None in (velocity_threshold, dispersion_threshold, merge_distance):
                raise GazeError("gaze in image pixels without a known image size: give the image "
                                "(or image_size) or explicit pixel thresholds")
            diag = float(np.hypot(w, h)) if w is not None else 0.0
            vel = 0.25 * diag if velocity_threshold is None else velocity_threshold
            disp = 0.01 * diag if dispersion_threshold is None else dispersion_threshold
            merge = 0.005 * diag if merge_distance is None else merge_distance
        for name, v in (("velocity_threshold", vel), ("dispersion_threshold", disp)):
            if not np.isfinite(v) or v <= 0:
                raise GazeError(f"{name} must be a positive number, got {v!r}")
        win = int(smooth_window)
        win += 1 - win % 2  # odd, centred
        smooth = None if smoothing in (None, "none") or win == 1 else smoothing
        return cls(method, float(vel), float(disp), float(max(merge, 0.0)), float(min_duration), float(max_gap),
                   float(merge_gap), smooth, win, min_confidence, float(velocity_span))


def _segments(t: np.ndarray, max_gap: float) -> np.ndarray:
    """Segment id per sample: a new segment starts after each gap longer than ``max_gap``."""
    if t.size == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([[0], np.cumsum(np.diff(t) > max_gap)])


def _smooth(v: np.ndarray, seg: np.ndarray, kind: str | None, win: int) -> np.ndarray:
    if kind is None or v.size < 2:
        return v
    out = v.copy()
    bounds = np.flatnonzero(np.diff(seg)) + 1
    for a, b in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [v.size]])):
        part = v[a:b]
        if part.size < 2:
            continue
        padded = np.pad(part, win // 2, mode="edge")  # like scipy's mode="nearest"
        windows = np.lib.stride_tricks.sliding_window_view(padded, win)
        out[a:b] = np.median(windows, axis=1) if kind == "median" else windows.mean(axis=1)
    return out


def _speed(t: np.ndarray, x: np.ndarray, y: np.ndarray, seg: np.ndarray, h: int) -> np.ndarray:
    """Speed (px/s) from the displacement between samples i-h and i+h of the same segment.

    Near a segment end the span is cut to the samples that exist; a lone sample gets 0.
    """
    n = t.size
    idx = np.arange(n)
    prev = np.clip(idx - h, 0, n - 1)
    nxt = np.clip(idx + h, 0, n - 1)
    # pull the ends back inside the segment (segments are contiguous runs of equal ids)
    seg_start = np.concatenate([[0], np.flatnonzero(np.diff(seg)) + 1])
    seg_end = np.concatenate([np.flatnonzero(np.diff(seg)), [n - 1]])
    sid = np.searchsorted(seg_start, idx, side="right") - 1
    prev = np.maximum(prev, seg_start[sid])
    nxt = np.minimum(nxt, seg_end[sid])
    dt = t[nxt] - t[prev]
    d = np.hypot(x[nxt] - x[prev], y[nxt] - y[prev])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dt > 0, d / np.where(dt > 0, dt, 1.0), np.where(d > 0, np.inf, 0.0))


class FixationDetector:
    """Streaming I-VT / I-DT detector; ``feed(chunk)`` -> new final fixations, ``flush()`` at the end.

    Keeps only the samples of the fixation in progress (plus a few samples of context),
    so memory does not grow with the recording. Parameters as in :func:`detect_fixations`.
    """

    def __init__(self, frame_size: tuple[int, int] | None = None, *, image_size: tuple[int, int] | None = None,
                 **params: Any) -> None:
        self.frame_size = frame_size
        self.params = FixationParams.resolve(frame_size, image_size=image_size, **params)
        self._t = np.zeros(0)
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self._half: int | None = None  # velocity half-span in samples, set from the sampling rate
        self._start = 0          # buffer index where undecided samples begin (before: context)
        self._pending: Fixation | None = None
        self.samples_seen = 0
        self.samples_used = 0
        self.dropped: dict[str, int] = {}
        self._last_t = -np.inf
        self._clock = -np.inf  # latest timestamp seen, valid sample or not

    # -- input ---------------------------------------------------------------------------
    def feed(self, chunk: GazeSamples) -> list[Fixation]:
        """Add a chunk of samples (in time order); return fixations that can no longer change."""
        if chunk.frame_size != self.frame_size and self.frame_size is not None and chunk.frame_size is not None:
            raise GazeError(f"chunk frame size {chunk.frame_size} differs from the detector's {self.frame_size}")
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
        if self.frame_size is not None:
            w, h = self.frame_size
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
        self.samples_used += int(t.size)
        self._t = np.concatenate([self._t, t])
        self._x = np.concatenate([self._x, x])
        self._y = np.concatenate([self._y, y])
        return self._process(final=False)

    def flush(self) -> list[Fixation]:
        """End of the stream: decide the remaining samples and return the last fixations."""
        out = self._process(final=True)
        if self._pending is not None:
            out.append(self._pending)
            self._pending = None
        self._t, self._x, self._y = np.zeros(0), np.zeros(0), np.zeros(0)
        self._start = 0
        return out

    def _count(self, reason: str, mask: np.ndarray) -> None:
        n = int(np.count_nonzero(mask))
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    # -- processing ----------------------------------------------------------------------
    def _process(self, final: bool) -> list[Fixation]:
        p = self.params
        t, x, y = self._t, self._x, self._y
        n = t.size
        out: list[Fixation] = []
        if n == 0:
            return out
        # invalid samples (a blink) still move the clock: once it is max_gap past the last valid
        # sample, that sample ends its segment and the buffer can be decided like at the end
        at_end = final
        final = final or self._clock - t[-1] > p.max_gap
        seg = _segments(t, p.max_gap)
        sx, sy = _smooth(x, seg, p.smoothing, p.smooth_window), _smooth(y, seg, p.smoothing, p.smooth_window)
        if self._half is None:
            if n < 16 and not final:
                return out  # wait for a few samples to learn the sampling rate
            dt = np.diff(t)
            dt = dt[dt > 0]
            rate = 1.0 / float(np.median(dt)) if dt.size else 1.0
            self._half = max(1, int(round(p.velocity_span / 2 * rate)))
        lag = 0 if final else p.smooth_window // 2 + self._half + 1
        decided = max(n - lag, self._start)  # samples [start, decided) are classified for good
        if p.method == "ivt":
            runs, resume = self._ivt_runs(t, sx, sy, seg, decided, final)
        else:
            runs, resume = self._idt_runs(t, sx, sy, seg, decided, final)
        for a, b in runs:  # [a, b) index ranges of fixations
            f = self._make(t, x, y, a, b)
            if f is not None:
                out.extend(self._merge(f))
        # a later fixation starts at or after the first undecided sample: once that is more than
        # merge_gap after the pending fixation, nothing can merge with it any more
        frontier = t[resume] if resume < n else max(t[-1], self._clock)
        if not at_end and self._pending is not None and frontier - self._pending.end > p.merge_gap:
            out.append(self._pending)
            self._pending = None
        # keep undecided samples plus context for the smoothing window
        ctx = p.smooth_window // 2 + self._half + 1
        cut = max(0, resume - ctx)
        self._t, self._x, self._y = t[cut:], x[cut:], y[cut:]
        self._start = resume - cut
        return out

    def _ivt_runs(self, t, sx, sy, seg, decided, final):
        p = self.params
        fix = _speed(t, sx, sy, seg, self._half) < p.velocity_px_s
        s = self._start
        f = fix[s:decided]
        sg = seg[s:decided]
        runs: list[tuple[int, int]] = []
        if f.size == 0:
            return runs, s
        # run boundaries: fixation flag changes or a gap starts a new segment
        change = np.flatnonzero((np.diff(f.astype(np.int8)) != 0) | (np.diff(sg) != 0)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [f.size]])
        resume = decided
        for a, b in zip(starts, ends):
            if not f[a]:
                continue
            closed = final or b < f.size or (decided < t.size and seg[s + b] != seg[s + b - 1])
            if not closed:
                resume = s + a
                break
            runs.append((s + a, s + b))
        return runs, resume

    def _idt_runs(self, t, sx, sy, seg, decided, final):
        p = self.params
        n = t.size if final else decided  # only samples whose smoothed position is final
        i = self._start
        runs: list[tuple[int, int]] = []
        while i < n:
            # smallest window [i, j] spanning min_duration inside one segment
            j = int(np.searchsorted(t[:n], t[i] + p.min_duration - 1e-9, side="left"))
            if j >= n:
                if final:
                    break  # the rest is too short for a fixation
                if n < t.size and seg[n] != seg[i]:
                    i = int(np.searchsorted(seg, seg[i], side="right"))  # segment ended: too short
                    continue
                return runs, i  # wait for more samples
            if seg[j] != seg[i]:
                i = int(np.searchsorted(seg, seg[i], side="right"))
                continue
            j = max(j, i + 1)
            wx, wy = sx[i:j + 1], sy[i:j + 1]
            lo_x, hi_x, lo_y, hi_y = wx.min(), wx.max(), wy.min(), wy.max()
            if (hi_x - lo_x) + (hi_y - lo_y) > p.dispersion_px:
                i += 1
                continue
            k = j + 1
            while k < n and seg[k] == seg[i]:
                nlx, nhx = min(lo_x, sx[k]), max(hi_x, sx[k])
                nly, nhy = min(lo_y, sy[k]), max(hi_y, sy[k])
                if (nhx - nlx) + (nhy - nly) > p.dispersion_px:
                    break
                lo_x, hi_x, lo_y, hi_y = nlx, nhx, nly, nhy
                k += 1
            if k >= n and not final and (n >= t.size or seg[n] == seg[i]):
                return runs, i  # the fixation may still grow
            runs.append((i, k))
            i = k
        return runs, (t.size if final else max(i, self._start))

    def _make(self, t, x, y, a, b) -> Fixation | None:
        if b <= a or t[b - 1] - t[a] < self.params.min_duration - 1e-9:
            return None
        xs, ys = x[a:b], y[a:b]
        return Fixation(x=float(xs.mean()), y=float(ys.mean()), start=float(t[a]), end=float(t[b - 1]),
                        duration=float(t[b - 1] - t[a]), n_samples=int(b - a),
                        dispersion=float(np.ptp(xs) + np.ptp(ys)))

    def _merge(self, f: Fixation) -> list[Fixation]:
        p = self.params
        prev = self._pending
        if prev is None:
            self._pending = f
            return []
        if f.start - prev.end <= p.merge_gap and np.hypot(f.x - prev.x, f.y - prev.y) <= p.merge_px:
            n = prev.n_samples + f.n_samples
            w0, w1 = prev.n_samples / max(n, 1), f.n_samples / max(n, 1)
            self._pending = Fixation(x=prev.x * w0 + f.x * w1, y=prev.y * w0 + f.y * w1, start=prev.start,
                                     end=f.end, duration=f.end - prev.start, n_samples=n,
                                     dispersion=max(prev.dispersion, f.dispersion))
            return []
        self._pending = f
        return [prev]

    @property
    def buffered(self) -> int:
        """Samples held in memory right now (bounded by the longest fixation)."""
        return int(self._t.size)


def detect_fixations(samples: GazeSamples | Iterable[GazeSamples], method: str = "ivt", *,
                     velocity_threshold: float | None = None, dispersion_threshold: float | None = None,
                     min_duration: float = 0.06, fov: Sequence[float] | float | None = None,
                     max_gap: float = 0.075, merge_gap: float = 0.075, merge_distance: float | None = None,
                     smoothing: str | None = "median", smooth_window: int = 5,
                     min_confidence: float | None = None, image_size: tuple[int, int] | None = None,
                     velocity_span: float = 0.02, use_file_fixations: bool = True) -> list[Fixation]:
    """Fixations (x, y in scene-frame pixels; start, end, duration in seconds), in time order.

    ``samples`` is a :class:`GazeSamples` or an iterable of chunks (e.g. ``iter_gaze(path)``:
    streamed, bounded memory). ``method`` "ivt" (velocity threshold) or "idt" (dispersion
    threshold); thresholds in pixels (px/s, px) or degrees (deg/s, deg) when ``fov``
    is given; see the module docstring for every parameter and default. ``image_size``
    (H, W) sets the pixel scale of recordings already in image pixels. When the recording
    holds the device's own fixations (``fixations.csv``) and ``use_file_fixations``, those
    are returned (filtered by ``min_duration``). Returns [] when nothing qualifies.
    """
    chunks: Iterable[GazeSamples] = [samples] if isinstance(samples, GazeSamples) else samples
    det: FixationDetector | None = None
    out: list[Fixation] = []
    file_fix: list[Fixation] = []
    for chunk in chunks:
        if not isinstance(chunk, GazeSamples):
            raise GazeError(f"detect_fixations takes GazeSamples (or chunks of them), got {type(chunk).__name__}; "
                            "use read_gaze first")
        if chunk.fixations is not None and use_file_fixations:
            file_fix.extend(chunk.fixations)
            continue
        if det is None:
            det = FixationDetector(chunk.frame_size, image_size=image_size, method=method,
                                   velocity_threshold=velocity_threshold, dispersion_threshold=dispersion_threshold,
                                   min_duration=min_duration, fov=fov, max_gap=max_gap, merge_gap=merge_gap,
                                   merge_distance=merge_distance, smoothing=smoothing, smooth_window=smooth_window,
                                   min_confidence=min_confidence, velocity_span=velocity_span)
        out.extend(det.feed(chunk))
    if file_fix:
        return [f for f in file_fix if f.duration >= min_duration - 1e-9]
    if det is not None:
        out.extend(det.flush())
    return out
