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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .compat import scene_size_arg
from .samples import Fixation, GazeError, GazeSamples

__all__ = [
    "synth_stream",
    "synth_trace",
    "synth_viewing",
    "write_generic",
    "write_neon",
    "write_neon_fixations",
    "write_pupil_core",
    "write_recording",
    "write_tobii",
]


def synth_trace(
    targets: Sequence[Sequence[float]],
    *,
    scene_size: tuple[int, int] | None = None,
    rate: float = 200.0,
    noise: float = 0.0,
    saccade: float | None = 0.04,
    drift: float = 0.0,
    blinks: Sequence[tuple[float, float]] = (),
    low_confidence: float = 0.0,
    t0: float = 0.0,
    start: Sequence[float] | None = None,
    px_per_degree: float | None = None,
    seed: int = 0,
    frame_size: tuple[int, int] | None = None,
) -> tuple[GazeSamples, list[Fixation]]:
    """A trace resting on each target ``(x, y, duration_s)`` in turn, with saccades between.

    ``scene_size`` (H, W) of the scene frame (default 480x640; ``frame_size=(W, H)`` is
    deprecated). ``noise`` px std per sample and axis; ``saccade`` seconds per saccade
    (minimum-jerk profile), or None for the main sequence (2.2 ms per degree + 21 ms,
    needs ``px_per_degree``);
    ``drift`` px/s of slow linear drift during each fixation (random direction; the true
    centre is the mean position); ``blinks`` (start, duration) seconds relative to ``t0``
    where samples are NaN; ``low_confidence`` fraction of random samples with confidence
    0.1 (others 0.95). ``start`` is where the eye comes from (a saccade leads to the first
    target). Returns (samples, true fixations), fixations in time order.
    """
    size = scene_size_arg(scene_size, frame_size, "synth_trace") or (480, 640)
    if saccade is None and px_per_degree is None:
        raise GazeError("synth_trace: saccade=None (main sequence) needs px_per_degree")
    rng = np.random.default_rng(seed)
    dt = 1.0 / rate
    ts, xs, ys, truth = [], [], [], []
    t = t0
    pos = np.asarray(start if start is not None else targets[0][:2], dtype=np.float64)
    first = start is None
    for tx, ty, dur in targets:
        goal = np.array([tx, ty], dtype=np.float64)
        if not first:
            if saccade is None:
                amp = float(np.hypot(*(goal - pos))) / float(px_per_degree or 1.0)
                sac_s = 0.0022 * amp + 0.021
            else:
                sac_s = float(saccade)
            n_s = max(int(round(sac_s * rate)), 1)
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
        truth.append(
            Fixation(
                x=float(fx.mean()),
                y=float(fy.mean()),
                start=t,
                end=t + (n_f - 1) * dt,
                duration=(n_f - 1) * dt,
                n_samples=n_f,
            )
        )
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
    samples = GazeSamples(t=tt, x=x, y=y, scene_size=size, confidence=conf, source="synthetic")
    return samples, truth


def synth_viewing(
    seconds: float,
    *,
    rate: float = 200.0,
    noise_deg: float = 0.5,
    scene_size: tuple[int, int] = (1200, 1600),
    fov: tuple[float, float] = (103.0, 77.0),
    amplitude: tuple[float, float] = (2.0, 20.0),
    duration: tuple[float, float] = (0.12, 0.6),
    drift_deg_s: float = 0.3,
    blink_rate: float = 0.25,
    dropout: float = 0.0,
    seed: int = 0,
) -> tuple[GazeSamples, list[Fixation]]:
    """Free viewing of a head-mounted scene camera with known fixations, for benchmarks.

    Fixation durations are drawn from ``duration`` (seconds, log-uniform), saccade
    amplitudes from ``amplitude`` (degrees, log-uniform) with main-sequence durations,
    white noise of ``noise_deg`` RMS per axis, a slow drift of ``drift_deg_s`` during
    fixations, blinks (``blink_rate`` per second, 100..300 ms of NaN samples, placed in
    fixations) and a fraction ``dropout`` of single samples lost. The scene camera is
    ``scene_size`` (H, W) over ``fov`` degrees (default: Neon). Returns (samples, true
    fixations); fixations cut by a blink are reported as the two parts.
    """
    from .coords import px_per_degree as ppd_of

    rng = np.random.default_rng(seed)
    h, w = scene_size
    ppd = ppd_of(scene_size, fov)
    targets: list[tuple[float, float, float]] = []
    pos = np.array([w / 2, h / 2])
    total = 0.0
    while total < seconds:
        d = float(np.exp(rng.uniform(np.log(duration[0]), np.log(duration[1]))))
        for _ in range(100):
            amp = float(np.exp(rng.uniform(np.log(amplitude[0]), np.log(amplitude[1])))) * ppd
            ang = rng.uniform(0, 2 * np.pi)
            goal = pos + amp * np.array([np.cos(ang), np.sin(ang)])
            if 0.05 * w < goal[0] < 0.95 * w and 0.05 * h < goal[1] < 0.95 * h:
                break
        else:
            goal = np.array([w / 2, h / 2])
        targets.append((float(goal[0]), float(goal[1]), d))
        pos = goal
        total += d + 0.04
    samples, truth = synth_trace(
        targets,
        scene_size=scene_size,
        rate=rate,
        noise=noise_deg * ppd,
        saccade=None,
        px_per_degree=ppd,
        drift=drift_deg_s * ppd,
        seed=seed,
    )
    x, y, t = samples.x.copy(), samples.y.copy(), samples.t
    lost = np.zeros(t.size, bool)
    n_blinks = rng.poisson(blink_rate * seconds)
    cut: list[tuple[float, float]] = []
    for _ in range(n_blinks):
        f = truth[int(rng.integers(len(truth)))]
        bd = float(rng.uniform(0.1, 0.3))
        if f.duration < bd + 0.2:
            continue
        b0 = float(rng.uniform(f.start + 0.1, f.end - bd - 0.1))
        lost |= (t >= b0) & (t < b0 + bd)
        cut.append((b0, b0 + bd))
    if dropout > 0:
        lost |= rng.random(t.size) < dropout
    x[lost] = np.nan
    y[lost] = np.nan
    out_truth: list[Fixation] = []
    for f in truth:
        parts = [(f.start, f.end)]
        for b0, b1 in cut:
            nxt = []
            for s, e in parts:
                if b1 <= s or b0 >= e:
                    nxt.append((s, e))
                    continue
                if b0 > s:
                    nxt.append((s, b0))
                if b1 < e:
                    nxt.append((b1, e))
            parts = nxt
        for s, e in parts:
            m = (t >= s) & (t <= e) & ~lost
            if m.sum() >= 2:
                out_truth.append(
                    Fixation(
                        x=float(x[m].mean()),
                        y=float(y[m].mean()),
                        start=float(t[m][0]),
                        end=float(t[m][-1]),
                        duration=float(t[m][-1] - t[m][0]),
                        n_samples=int(m.sum()),
                    )
                )
    meta = {"fov": tuple(fov), "ppd": ppd}
    return GazeSamples(t=t, x=x, y=y, scene_size=scene_size, source="synthetic", meta=meta), out_truth


def synth_stream(
    duration: float,
    *,
    rate: float = 200.0,
    scene_size: tuple[int, int] | None = None,
    chunk_seconds: float = 60.0,
    noise: float = 1.0,
    seed: int = 0,
    fixation_range: tuple[float, float] = (0.2, 0.6),
    frame_size: tuple[int, int] | None = None,
) -> Iterator[tuple[GazeSamples, int]]:
    """Yield (chunk, number of true fixations in it) covering ``duration`` seconds of random viewing
    in a scene frame of ``scene_size`` (H, W), default 1200x1600 (Neon)."""
    size = scene_size_arg(scene_size, frame_size, "synth_stream") or (1200, 1600)
    rng = np.random.default_rng(seed)
    h, w = size
    t = 0.0
    pos = np.array([w / 2, h / 2])
    k = 0
    while t < duration:
        targets: list[tuple[float, float, float]] = []
        span = 0.0
        while span < min(chunk_seconds, duration - t):
            d = float(rng.uniform(*fixation_range))
            # saccade of at least 8% of the frame so that consecutive fixations never merge
            while True:
                goal = rng.uniform([0.05 * w, 0.05 * h], [0.95 * w, 0.95 * h])
                if np.hypot(*(goal - (targets[-1][:2] if targets else pos))) > 0.08 * np.hypot(w, h):
                    break
            targets.append((float(goal[0]), float(goal[1]), d))
            span += d + 0.04
        chunk, truth = synth_trace(
            targets,
            scene_size=size,
            rate=rate,
            noise=noise,
            t0=t,
            start=(float(pos[0]), float(pos[1])),
            seed=seed * 100003 + k,
        )
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
        fh.write(
            "gaze_timestamp,world_index,confidence,norm_pos_x,norm_pos_y,base_data,"
            "gaze_point_3d_x,gaze_point_3d_y,gaze_point_3d_z\n"
        )
        for s in _chunks(samples):
            h, w = s.scene_size or (1, 1)
            nx, ny = s.x / w, 1.0 - s.y / h
            conf = np.where(np.isfinite(s.confidence), s.confidence, 1.0)
            conf = np.where(np.isfinite(nx), conf, 0.0)
            wi = (s.t * 30).astype(np.int64)
            for a, b, c, d, e in zip(_fmt(s.t, 6), wi, _fmt(conf, 3), _fmt(nx, 6), _fmt(ny, 6)):
                fh.write(f"{a},{b},{c},{d},{e},{a}-0 {a}-1,,,\n")
    return path


def _angles(s: GazeSamples, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth / elevation (deg) of scene pixels through an ideal camera of the device with this scene size."""
    from .devices import DEVICES

    h, w = s.scene_size if s.scene_size is not None else (1200, 1600)
    dev = next((d for d in DEVICES.values() if d.scene_size == (h, w)), DEVICES["neon"])
    fx = (w / 2) / np.tan(np.deg2rad(dev.fov[0]) / 2)
    fy = (h / 2) / np.tan(np.deg2rad(dev.fov[1]) / 2)
    return np.degrees(np.arctan((xs - w / 2) / fx)), -np.degrees(np.arctan((ys - h / 2) / fy))


def write_neon(
    path: str | os.PathLike,
    samples: GazeSamples | Iterable[GazeSamples],
    *,
    worn: np.ndarray | None = None,
    fixation_ids: np.ndarray | None = None,
) -> Path:
    """Pupil Cloud ``gaze.csv`` (Neon / Invisible): ns timestamps, pixels, worn, blink id (NaN samples),
    ``fixation id`` (``fixation_ids``, 0 = none) and azimuth / elevation through an ideal camera of
    the device whose scene size the samples have (Invisible 1080x1088, else Neon)."""
    path = Path(path)
    with _open_w(path) as fh:
        fh.write(
            "section id,recording id,timestamp [ns],gaze x [px],gaze y [px],worn,fixation id,blink id,"
            "azimuth [deg],elevation [deg]\n"
        )
        off = 0
        for s in _chunks(samples):
            ns = np.round(s.t * 1e9).astype(np.int64)
            wv = np.ones(len(s), int) if worn is None else np.asarray(worn, int)[off : off + len(s)]
            fid = np.zeros(len(s), int) if fixation_ids is None else np.asarray(fixation_ids, int)[off : off + len(s)]
            off += len(s)
            blink = ~np.isfinite(s.x)
            xs, ys = np.where(blink, 0.0, s.x), np.where(blink, 0.0, s.y)
            az, el = _angles(s, xs, ys)
            for a, b, c, d, e, f, g, k in zip(ns, _fmt(xs, 3), _fmt(ys, 3), wv, blink, fid, _fmt(az, 4), _fmt(el, 4)):
                fh.write(f"sec-1,rec-1,{a},{b},{c},{d},{f if f else ''},{'1' if e else ''},{g},{k}\n")
    return path


def write_neon_fixations(path: str | os.PathLike, fixations: Sequence[Fixation]) -> Path:
    """Pupil Cloud ``fixations.csv`` for the given fixations (pixels)."""
    path = Path(path)
    with _open_w(path) as fh:
        fh.write(
            "section id,recording id,fixation id,start timestamp [ns],end timestamp [ns],duration [ms],"
            "fixation x [px],fixation y [px],azimuth [deg],elevation [deg]\n"
        )
        for i, f in enumerate(fixations, 1):
            fh.write(
                f"sec-1,rec-1,{i},{int(round(f.start * 1e9))},{int(round(f.end * 1e9))},"
                f"{f.duration * 1e3:.0f},{f.x:.3f},{f.y:.3f},0.0,0.0\n"
            )
    return path


def write_tobii(path: str | os.PathLike, samples: GazeSamples | Iterable[GazeSamples]) -> Path:
    """Tobii Pro Glasses 3 ``gazedata`` JSON lines (gzipped when the name ends in .gz); NaN -> empty data."""
    path = Path(path)
    with _open_w(path) as fh:
        for s in _chunks(samples):
            h, w = s.scene_size or (1, 1)
            for t, x, y in zip(s.t, s.x / w, s.y / h):
                data = (
                    {}
                    if not np.isfinite(x)
                    else {"gaze2d": [round(float(x), 6), round(float(y), 6)], "gaze3d": [0.0, 0.0, 600.0]}
                )
                fh.write(json.dumps({"type": "gaze", "timestamp": round(float(t), 6), "data": data}) + "\n")
    return path


def write_generic(
    path: str | os.PathLike,
    samples: GazeSamples | Iterable[GazeSamples],
    *,
    units: str = "px",
    origin: str = "top-left",
    time_unit: str = "s",
    names: Sequence[str] = ("t", "x", "y"),
    confidence: bool = True,
) -> Path:
    """A plain CSV with ``names`` columns (time, x, y) in ``units`` and ``origin``, plus confidence."""
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
    if time_unit not in scale or units not in ("px", "norm") or origin not in ("top-left", "bottom-left"):
        raise GazeError("write_generic: time_unit s|ms|us|ns, units px|norm, origin top-left|bottom-left")
    path = Path(path)
    with _open_w(path) as fh:
        fh.write(",".join(names) + (",confidence" if confidence else "") + "\n")
        for s in _chunks(samples):
            h, w = s.scene_size if s.scene_size is not None else (1, 1)
            x, y = s.x.copy(), s.y.copy()
            if origin == "bottom-left":
                y = h - y
            if units == "norm":
                x, y = x / w, y / h
            tt = s.t * scale[time_unit]
            cols = [
                _fmt(tt, 6 if time_unit == "s" else 0),
                _fmt(x, 6 if units == "norm" else 3),
                _fmt(y, 6 if units == "norm" else 3),
            ]
            if confidence:
                cols.append(_fmt(np.where(np.isfinite(s.confidence), s.confidence, 1.0), 3))
            fh.write("".join(",".join(r) + "\n" for r in zip(*cols)))
    return path


def write_recording(path: str | os.PathLike, samples: GazeSamples | Iterable[GazeSamples], format: str, **kw) -> Path:
    """Write ``samples`` in ``format`` (pupil_core, neon, tobii_g3, generic)."""
    writers = {"pupil_core": write_pupil_core, "neon": write_neon, "tobii_g3": write_tobii, "generic": write_generic}
    if format not in writers:
        raise GazeError(f"write_recording: format must be one of {sorted(writers)}, got {format!r}")
    return writers[format](path, samples, **kw)
