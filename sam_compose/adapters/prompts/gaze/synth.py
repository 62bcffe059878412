"""Synthetic gaze recordings with known fixations, and writers for every supported file format.

Used by the tests, the benchmarks and the demos:

* :func:`synth_trace` draws a trace through given fixation targets (x, y, duration) with
  minimum-jerk saccades, Gaussian noise, linear drift, blinks (NaN samples) and optional
  low-confidence samples; it returns the samples and the true fixations.
* :func:`synth_stream` yields an arbitrarily long random recording in chunks (a 2-hour
  200 Hz file is written without holding it in memory).
* ``write_*`` write samples in the real formats read by :mod:`.readers`.

Coordinates are top-left scene-frame pixels, times seconds, as in :mod:`.samples`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .samples import Fixation, GazeError, GazeSamples

__all__ = ["synth_trace", "synth_stream", "write_pupil_core", "write_neon", "write_neon_fixations",
           "write_tobii", "write_generic", "write_recording"]


def synth_trace(targets: Sequence[Sequence[float]], *, frame_size: tuple[int, int] = (640, 480),
                rate: float = 200.0, noise: float = 0.0, saccade: float = 0.04, drift: float = 0.0,
                blinks: Sequence[tuple[float, float]] = (), low_confidence: float = 0.0,
                t0: float = 0.0, start: Sequence[float] | None = None,
                seed: int = 0) -> tuple[GazeSamples, list[Fixation]]:
    """A trace resting on each target ``(x, y, duration_s)`` in turn, with saccades between.

    ``noise`` px std per sample; ``saccade`` seconds per saccade (minimum-jerk profile);
    ``drift`` px/s of slow linear drift during each fixation (random direction; the true
    centre is the mean position); ``blinks`` (start, duration) seconds relative to ``t0``
    where samples are NaN; ``low_confidence`` fraction of random samples with confidence
    0.1 (others 0.95). ``start`` is where the eye comes from (a saccade leads to the first
    target). Returns (samples, true fixations), fixations in time order.
    """
    rng = np.random.default_rng(seed)
    dt = 1.0 / rate
    ts, xs, ys, truth = [], [], [], []
    t = t0
    pos = np.asarray(start if start is not None else targets[0][:2], dtype=np.float64)
    first = start is None
    for tx, ty, dur in targets:
        goal = np.array([tx, ty], dtype=np.float64)
        if not first:
            n_s = max(int(round(saccade * rate)), 1)
            s = np.arange(1, n_s + 1) / n_s
            prof = 10 * s**3 - 15 * s**4 + 6 * s**5  # minimum-jerk
            path = pos[None, :] + prof[:, None] * (goal - pos)[None, :]
            ts.append(t + dt * np.arange(n_s))
            xs.append(path[:, 0])
            ys.append(path[:, 1])
            t += n_s * dt
        first = False
        n_f = max(int(round(dur * rate)), 1)
        ang = rng.uniform(0, 2 * np.pi)
        along = (np.arange(n_f) * dt - (n_f - 1) * dt / 2) * drift
        fx = goal[0] + along * np.cos(ang)
        fy = goal[1] + along * np.sin(ang)
        ts.append(t + dt * np.arange(n_f))
        xs.append(fx)
        ys.append(fy)
        truth.append(Fixation(x=float(fx.mean()), y=float(fy.mean()), start=t, end=t + (n_f - 1) * dt,
                              duration=(n_f - 1) * dt, n_samples=n_f))
        t += n_f * dt
        pos = np.array([fx[-1], fy[-1]])
    tt = np.concatenate(ts)
    x = np.concatenate(xs) + rng.normal(0, noise, tt.size) if noise else np.concatenate(xs)
    y = np.concatenate(ys) + rng.normal(0, noise, tt.size) if noise else np.concatenate(ys)
    for b0, bd in blinks:
        m = (tt >= t0 + b0) & (tt < t0 + b0 + bd)
        x[m] = np.nan
        y[m] = np.nan
    conf = np.full(tt.size, 0.95)
    if low_confidence:
        conf[rng.random(tt.size) < low_confidence] = 0.1
    samples = GazeSamples(t=tt, x=x, y=y, frame_size=frame_size, confidence=conf, source="synthetic")
    return samples, truth


def synth_stream(duration: float, *, rate: float = 200.0, frame_size: tuple[int, int] = (1600, 1200),
                 chunk_seconds: float = 60.0, noise: float = 1.0, seed: int = 0,
                 fixation_range: tuple[float, float] = (0.2, 0.6)) -> Iterator[tuple[GazeSamples, int]]:
    """Yield (chunk, number of true fixations in it) covering ``duration`` seconds of random viewing."""
    rng = np.random.default_rng(seed)
    w, h = frame_size
    t = 0.0
    pos = np.array([w / 2, h / 2])
    k = 0
    while t < duration:
        targets = []
        span = 0.0
        while span < min(chunk_seconds, duration - t):
            d = float(rng.uniform(*fixation_range))
            # saccade of at least 8% of the frame so that consecutive fixations never merge
            while True:
                goal = rng.uniform([0.05 * w, 0.05 * h], [0.95 * w, 0.95 * h])
                if np.hypot(*(goal - (targets[-1][:2] if targets else pos))) > 0.08 * np.hypot(w, h):
                    break
            targets.append((goal[0], goal[1], d))
            span += d + 0.04
        chunk, truth = synth_trace(targets, frame_size=frame_size, rate=rate, noise=noise, t0=t, start=pos,
                                   seed=seed * 100003 + k)
        k += 1
        t = float(chunk.t[-1]) + 1.0 / rate
        pos = np.array([chunk.x[-1], chunk.y[-1]])
        yield chunk, len(truth)


# ------------------------------------------------------------------------------ writers
def _chunks(samples: GazeSamples | Iterable[GazeSamples]) -> Iterable[GazeSamples]:
    return [samples] if isinstance(samples, GazeSamples) else samples


def _open_w(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "wb"), encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


def _fmt(v: np.ndarray, digits: int) -> list[str]:
    return ["" if not np.isfinite(a) else f"{a:.{digits}f}" for a in v]


def write_pupil_core(path: str | os.PathLike, samples: GazeSamples | Iterable[GazeSamples]) -> Path:
    """Pupil Player ``gaze_positions.csv`` (norm_pos with origin bottom left)."""
    path = Path(path)
    with _open_w(path) as fh:
        fh.write("gaze_timestamp,world_index,confidence,norm_pos_x,norm_pos_y,base_data,"
                 "gaze_point_3d_x,gaze_point_3d_y,gaze_point_3d_z\n")
        for s in _chunks(samples):
            w, h = s.frame_size
            nx, ny = s.x / w, 1.0 - s.y / h
            conf = np.where(np.isfinite(s.confidence), s.confidence, 1.0)
            conf = np.where(np.isfinite(nx), conf, 0.0)
            wi = (s.t * 30).astype(np.int64)
            for a, b, c, d, e in zip(_fmt(s.t, 6), wi, _fmt(conf, 3), _fmt(nx, 6), _fmt(ny, 6)):
                fh.write(f"{a},{b},{c},{d},{e},{a}-0 {a}-1,,,\n")
    return path


def write_neon(path: str | os.PathLike, samples: GazeSamples | Iterable[GazeSamples], *,
               worn: np.ndarray | None = None) -> Path:
    """Pupil Cloud ``gaze.csv`` (Neon / Invisible): ns timestamps, pixels, worn, blink id (NaN samples)."""
    path = Path(path)
    with _open_w(path) as fh:
        fh.write("section id,recording id,timestamp [ns],gaze x [px],gaze y [px],worn,fixation id,blink id,"
                 "azimuth [deg],elevation [deg]\n")
        for s in _chunks(samples):
            ns = np.round(s.t * 1e9).astype(np.int64)
            wv = np.ones(len(s), int) if worn is None else np.asarray(worn, int)
            blink = ~np.isfinite(s.x)
            xs, ys = np.where(blink, 0.0, s.x), np.where(blink, 0.0, s.y)
            for a, b, c, d, e in zip(ns, _fmt(xs, 3), _fmt(ys, 3), wv, blink):
                fh.write(f"sec-1,rec-1,{a},{b},{c},{d},,{'1' if e else ''},0.0,0.0\n")
    return path


def write_neon_fixations(path: str | os.PathLike, fixations: Sequence[Fixation]) -> Path:
    """Pupil Cloud ``fixations.csv`` for the given fixations (pixels)."""
    path = Path(path)
    with _open_w(path) as fh:
        fh.write("section id,recording id,fixation id,start timestamp [ns],end timestamp [ns],duration [ms],"
                 "fixation x [px],fixation y [px],azimuth [deg],elevation [deg]\n")
        for i, f in enumerate(fixations, 1):
            fh.write(f"sec-1,rec-1,{i},{int(round(f.start * 1e9))},{int(round(f.end * 1e9))},"
                     f"{f.duration * 1e3:.0f},{f.x:.3f},{f.y:.3f},0.0,0.0\n")
    return path


def write_tobii(path: str | os.PathLike, samples: GazeSamples | Iterable[GazeSamples]) -> Path:
    """Tobii Pro Glasses 3 ``gazedata`` JSON lines (gzipped when the name ends in .gz); NaN -> empty data."""
    path = Path(path)
    with _open_w(path) as fh:
        for s in _chunks(samples):
            w, h = s.frame_size
            for t, x, y in zip(s.t, s.x / w, s.y / h):
                data = {} if not np.isfinite(x) else {"gaze2d": [round(float(x), 6), round(float(y), 6)],
                                                      "gaze3d": [0.0, 0.0, 600.0]}
                fh.write(json.dumps({"type": "gaze", "timestamp": round(float(t), 6), "data": data}) + "\n")
    return path


def write_generic(path: str | os.PathLike, samples: GazeSamples | Iterable[GazeSamples], *, units: str = "px",
                  origin: str = "top-left", time_unit: str = "s", names: Sequence[str] = ("t", "x", "y"),
                  confidence: bool = True) -> Path:
    """A plain CSV with ``names`` columns (time, x, y) in ``units`` and ``origin``, plus confidence."""
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
    if time_unit not in scale or units not in ("px", "norm") or origin not in ("top-left", "bottom-left"):
        raise GazeError("write_generic: time_unit s|ms|us|ns, units px|norm, origin top-left|bottom-left")
    path = Path(path)
    with _open_w(path) as fh:
        fh.write(",".join(names) + (",confidence" if confidence else "") + "\n")
        for s in _chunks(samples):
            w, h = s.frame_size if s.frame_size is not None else (1, 1)
            x, y = s.x.copy(), s.y.copy()
            if origin == "bottom-left":
                y = h - y
            if units == "norm":
                x, y = x / w, y / h
            tt = s.t * scale[time_unit]
            cols = [_fmt(tt, 6 if time_unit == "s" else 0), _fmt(x, 6 if units == "norm" else 3),
                    _fmt(y, 6 if units == "norm" else 3)]
            if confidence:
                cols.append(_fmt(np.where(np.isfinite(s.confidence), s.confidence, 1.0), 3))
            fh.write("".join(",".join(r) + "\n" for r in zip(*cols)))
    return path


def write_recording(path: str | os.PathLike, samples: GazeSamples | Iterable[GazeSamples], format: str,
                    **kw) -> Path:
    """Write ``samples`` in ``format`` (pupil_core, neon, tobii_g3, generic)."""
    writers = {"pupil_core": write_pupil_core, "neon": write_neon, "tobii_g3": write_tobii, "generic": write_generic}
    if format not in writers:
        raise GazeError(f"write_recording: format must be one of {sorted(writers)}, got {format!r}")
    return writers[format](path, samples, **kw)
