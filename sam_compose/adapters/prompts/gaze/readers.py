"""Read eye-tracker recordings in chunks: Pupil Labs Core / Neon / Invisible, Tobii Pro Glasses 3, generic CSV.

:func:`iter_gaze` streams a file as :class:`GazeSamples` chunks of ``chunk_size`` rows
(memory stays bounded however long the recording); :func:`read_gaze` joins them. The
format is detected from the header (:func:`detect_format`) unless ``format=`` is given.

Formats (all converted to top-left scene-frame pixels and seconds, see :mod:`.samples`):

========================= ================================================================
``pupil_core``            Pupil Player ``gaze_positions.csv``: ``gaze_timestamp`` (s),
                          ``confidence``, ``norm_pos_x``/``norm_pos_y`` (0..1, origin
                          bottom left). Scene frame 1280x720 unless ``frame_size``.
``pupil_core_fixations``  Pupil Player ``fixations.csv``: ``start_timestamp`` (s),
                          ``duration`` (ms), ``norm_pos_x``/``norm_pos_y``.
``neon``                  Pupil Cloud / Neon Player ``gaze.csv`` (Neon and Invisible):
                          ``timestamp [ns]``, ``gaze x [px]``, ``gaze y [px]``, ``worn``,
                          optional ``blink id``. Scene frame 1600x1200 (Neon); pass
                          ``frame_size=(1088, 1080)`` for Invisible.
``neon_fixations``        their ``fixations.csv``: ``start/end timestamp [ns]``,
                          ``fixation x/y [px]``.
``tobii_g3``              Tobii Pro Glasses 3 ``gazedata`` / ``gazedata.gz``: JSON lines
                          ``{"type": "gaze", "timestamp": s, "data": {"gaze2d": [x, y]}}``,
                          normalised, origin top left; empty ``data`` = no gaze. 1920x1080.
``generic``               any CSV/TSV with a time column (``t``, ``time``, ``timestamp``;
                          unit from ``time_unit`` or a suffix like ``_ms`` / ``[ns]``), x and
                          y columns, optional ``confidence`` / ``valid``. Units ("px" or
                          "norm") and origin ("top-left" or "bottom-left") are declared by
                          arguments or by column suffixes (``x_px``, ``x [norm]``).
========================= ================================================================

Samples the device flags (not worn, blink, confidence below ``min_confidence``), NaN
coordinates and gaze outside the scene frame are kept but marked invalid; ``dropped``
counts them by reason.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from ....security import limits
from ....security.deadlines import checkpoint
from ....security.paths import check_regular_file
from .coords import check_units, to_frame_pixels
from .samples import Fixation, GazeError, GazeSamples
from .tables import csv_chunks, first_line, norm_name, open_text, split_header

__all__ = ["FORMATS", "RECORDING_FILES", "resolve_recording", "detect_format", "iter_gaze", "read_gaze", "samples_from_iterable", "samples_from_array",
           "read_frame_times"]

FORMATS = ("pupil_core", "pupil_core_fixations", "neon", "neon_fixations", "tobii_g3", "generic")
DEFAULT_FRAME = {"pupil_core": (1280, 720), "pupil_core_fixations": (1280, 720), "neon": (1600, 1200),
                 "neon_fixations": (1600, 1200), "tobii_g3": (1920, 1080)}
DEFAULT_MIN_CONFIDENCE = {"pupil_core": 0.6, "pupil_core_fixations": 0.0}
NOMINAL_FRAME = (1000, 1000)
TIME_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_T_ALIASES = ("t", "time", "timestamp", "gaze_timestamp", "time_s", "timestamp_s", "recording_timestamp")
_X_ALIASES = ("x", "gaze_x", "gx", "pos_x", "gaze_point_x", "norm_pos_x", "gaze2d_x", "x_px", "x_norm")
_Y_ALIASES = ("y", "gaze_y", "gy", "pos_y", "gaze_point_y", "norm_pos_y", "gaze2d_y", "y_px", "y_norm")


# --------------------------------------------------------------------------- detection
RECORDING_FILES = ("gaze.csv", "gaze_positions.csv", "gazedata.gz", "gazedata", "fixations.csv")


def resolve_recording(path: str | os.PathLike) -> Path:
    """A recording file, or the gaze file inside an export folder (searched recursively).

    In a folder the first match of :data:`RECORDING_FILES` wins (Neon/Invisible
    ``gaze.csv``, Pupil Player ``exports/000/gaze_positions.csv``, Tobii ``gazedata.gz``).
    """
    p = Path(path)
    if p.is_dir():
        for name in RECORDING_FILES:
            hits = sorted(p.rglob(name), key=lambda q: (len(q.parts), str(q)))
            if hits:
                return hits[0]
        raise GazeError(f"no gaze recording found in folder {p}: looked for {', '.join(RECORDING_FILES)}")
    return p


def detect_format(path: str | os.PathLike) -> str:
    """Guess the recording format from the first line (the CSV header or a JSON record)."""
    p = resolve_recording(path)
    if p.exists() and not p.is_file():
        check_regular_file(p, "gaze file")  # a FIFO, device or socket: say which
    if not p.is_file():
        raise GazeError(f"gaze file {p} does not exist (or is not a file)")
    line = first_line(p)
    if line.startswith("{"):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GazeError(f"{p}: the first line looks like JSON but does not parse ({exc}); expected Tobii Glasses 3 gazedata") from exc
        if isinstance(rec, dict) and ("data" in rec or rec.get("type") == "gaze"):
            return "tobii_g3"
        raise GazeError(f"{p}: JSON record without 'type'/'data' fields; expected Tobii Glasses 3 gazedata lines")
    cols = {norm_name(c) for c in split_header(line)}
    if {"gaze_timestamp", "norm_pos_x", "norm_pos_y"} <= cols:
        return "pupil_core"
    if {"start_timestamp", "duration", "norm_pos_x", "norm_pos_y"} <= cols:
        return "pupil_core_fixations"
    if {"timestamp [ns]", "gaze x [px]", "gaze y [px]"} <= cols:
        return "neon"
    if {"start timestamp [ns]", "fixation x [px]", "fixation y [px]"} <= cols:
        return "neon_fixations"
    if _find(cols, _T_ALIASES, "t") and _find(cols, _X_ALIASES, "x") and _find(cols, _Y_ALIASES, "y"):
        return "generic"
    raise GazeError(
        f"{p}: unknown gaze format; header columns {sorted(cols)[:12]} match none of {', '.join(FORMATS)}. "
        "For your own CSV name the columns t, x, y (or pass columns={'t': ..., 'x': ..., 'y': ...}) "
        "with format='generic', units='px'|'norm', origin='top-left'|'bottom-left'")


def _find(cols: Iterable[str], aliases: Iterable[str], axis: str) -> str | None:
    cols = list(cols)
    for a in aliases:
        if a in cols:
            return a
    # names with a unit suffix: "x [px]", "time_ms", "timestamp [ns]", "gaze x [norm]"
    pat = re.compile(rf"^(?:gaze[ _])?{axis}(?:[ _]?\[?(px|pixels?|norm|normali[sz]ed|s|ms|us|ns)\]?)?$")
    for c in cols:
        if pat.match(c):
            return c
    if axis == "t":
        for c in cols:
            if re.match(r"^(time|timestamp)[ _]?\[?(s|ms|us|ns)\]?$", c):
                return c
    return None


def _unit_from_name(name: str, kind: str) -> str | None:
    if kind == "space":
        if re.search(r"(\bpx\b|pixel|_px$|\[px\])", name):
            return "px"
        if re.search(r"norm", name):
            return "norm"
        return None
    m = re.search(r"(?:_|\[|\s)(s|ms|us|ns)\]?$", name)
    return m.group(1) if m else None


# --------------------------------------------------------------------------- per format
def _chunk(t, x, y, *, frame, units, origin, valid=None, confidence=None, source, reasons=None,
           fixations=None, path=None, check=True) -> GazeSamples:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    # No frame size with pixels: the coordinates are pixels of the image being segmented
    # (frame_size None). No frame size with normalised values: a nominal 1000x1000 frame.
    size = frame if frame is not None else (None if units == "px" else NOMINAL_FRAME)
    if check:
        check_units(x, y, units, size if size is not None else (10**6, 10**6), f"{path}")
    if size is None:
        px, py = x.copy(), y.copy()
        if origin == "bottom-left":
            raise GazeError("origin='bottom-left' with pixel units needs frame_size=(W, H) to flip y")
    else:
        px, py = to_frame_pixels(x, y, size, units, origin)
    dropped: dict[str, int] = {}
    v = np.ones(len(px), bool) if valid is None else np.asarray(valid, bool).copy()
    for reason, bad in (reasons or {}).items():
        bad = np.asarray(bad, bool) & v
        if bad.any():
            dropped[reason] = int(bad.sum())
            v &= ~bad
    nan = ~(np.isfinite(px) & np.isfinite(py)) & v
    if nan.any():
        dropped["nan"] = int(nan.sum())
        v &= ~nan
    if size is not None:
        off = ~((px >= 0) & (px <= size[0]) & (py >= 0) & (py <= size[1])) & v
        if off.any():
            dropped["off_scene"] = int(off.sum())
            v &= ~off
    s = GazeSamples(t=t, x=px, y=py, frame_size=size, valid=v, confidence=confidence, source=source,
                    fixations=fixations, dropped=dropped, meta={"path": str(path)} if path else {})
    if size == NOMINAL_FRAME and frame is None:
        s.meta["frame"] = "nominal"
    return s


def _read_pupil_core(path, header, rows, frame, min_conf, **_):
    t = rows.num("gaze_timestamp")
    conf = rows.num("confidence") if "confidence" in header else None
    x = rows.num("norm_pos_x")
    y = rows.num("norm_pos_y")
    reasons = {} if conf is None else {"low_confidence": ~(conf >= min_conf)}
    return t, dict(x=x, y=y, units="norm", origin="bottom-left", confidence=conf, reasons=reasons)


def _read_neon(path, header, rows, frame, min_conf, **_):
    t = rows.num("timestamp [ns]") * 1e-9
    x = rows.num("gaze x [px]")
    y = rows.num("gaze y [px]")
    reasons: dict[str, np.ndarray] = {}
    if "worn" in header:
        worn = rows.num("worn")
        reasons["not_worn"] = np.nan_to_num(worn, nan=1.0) < 0.5
    if "blink id" in header:
        reasons["blink"] = rows.present("blink id")
    return t, dict(x=x, y=y, units="px", origin="top-left", reasons=reasons)


def _fixation_list(t0, t1, x, y, n=None) -> list[Fixation]:
    return [Fixation(x=float(a), y=float(b), start=float(s), end=float(e), duration=float(e - s))
            for s, e, a, b in zip(t0, t1, x, y) if np.isfinite(a) and np.isfinite(b)]


def _read_neon_fixations(path, header, rows, frame, min_conf, **_):
    t0 = rows.num("start timestamp [ns]") * 1e-9
    t1 = rows.num("end timestamp [ns]") * 1e-9
    x = rows.num("fixation x [px]")
    y = rows.num("fixation y [px]")
    return t0, dict(x=x, y=y, units="px", origin="top-left", fixations=(t0, t1))


def _read_core_fixations(path, header, rows, frame, min_conf, **_):
    t0 = rows.num("start_timestamp")
    dur = rows.num("duration") * 1e-3
    x = rows.num("norm_pos_x")
    y = rows.num("norm_pos_y")
    return t0, dict(x=x, y=y, units="norm", origin="bottom-left", fixations=(t0, t0 + dur))


def _generic_columns(header: list[str], columns: Mapping[str, str] | None, path: Path) -> dict[str, str | None]:
    cols = {k: None for k in ("t", "x", "y", "confidence", "valid")}
    if columns:
        unknown = set(columns) - set(cols)
        if unknown:
            raise GazeError(f"columns= keys must be among {sorted(cols)}, got {sorted(unknown)}")
        for k, v in columns.items():
            if norm_name(v) not in header:
                raise GazeError(f"{path}: column {v!r} (for {k}) not in header {header[:15]}")
            cols[k] = norm_name(v)
    cols["t"] = cols["t"] or _find(header, _T_ALIASES, "t")
    cols["x"] = cols["x"] or _find(header, _X_ALIASES, "x")
    cols["y"] = cols["y"] or _find(header, _Y_ALIASES, "y")
    for k in ("t", "x", "y"):
        if cols[k] is None:
            raise GazeError(f"{path}: no {k!r} column in header {header[:15]}; pass columns={{'{k}': 'NAME'}}")
    for k, names in (("confidence", ("confidence", "conf")), ("valid", ("valid", "validity", "worn"))):
        if cols[k] is None:
            cols[k] = next((n for n in names if n in header), None)
    return cols


def _read_generic(path, header, rows, frame, min_conf, *, columns=None, units=None, origin=None,
                  time_unit=None, state=None, **_):
    cols = _generic_columns(header, columns, path)
    tu = time_unit or _unit_from_name(cols["t"], "time") or "s"
    if tu not in TIME_SCALE:
        raise GazeError(f"time_unit must be one of {sorted(TIME_SCALE)}, got {tu!r}")
    t = rows.num(cols["t"]) * TIME_SCALE[tu]
    x = rows.num(cols["x"])
    y = rows.num(cols["y"])
    u = units or _unit_from_name(cols["x"], "space")
    if u is None:
        u = state.get("units") if state else None
    if u is None:
        ok = np.isfinite(x) & np.isfinite(y)
        u = "norm" if ok.any() and np.abs(x[ok]).max() <= 1.5 and np.abs(y[ok]).max() <= 1.5 else "px"
        warnings.warn(f"{path}: gaze units not declared; values look {'normalised' if u == 'norm' else 'like pixels'} "
                      f"so units='{u}' is assumed (declare units='px' or 'norm' to silence this)", stacklevel=4)
    if state is not None:
        state["units"] = u
    reasons: dict[str, np.ndarray] = {}
    conf = None
    if cols["confidence"]:
        conf = rows.num(cols["confidence"])
        reasons["low_confidence"] = ~(conf >= min_conf)
    if cols["valid"]:
        reasons["flagged_invalid"] = ~(np.nan_to_num(rows.num(cols["valid"]), nan=1.0) > 0.5)
    return t, dict(x=x, y=y, units=u, origin=origin or "top-left", confidence=conf, reasons=reasons)


_CSV_READERS: dict[str, Callable[..., Any]] = {
    "pupil_core": _read_pupil_core, "neon": _read_neon, "neon_fixations": _read_neon_fixations,
    "pupil_core_fixations": _read_core_fixations, "generic": _read_generic,
}


def _tobii_chunks(path: Path, chunk_size: int) -> Iterator[tuple[np.ndarray, dict[str, Any], int]]:
    t: list[float] = []
    x: list[float] = []
    y: list[float] = []
    row0 = 1
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise GazeError(f"{path}: line {lineno} is not JSON ({exc.msg}); Tobii gazedata has one JSON object per line") from exc
            if not isinstance(rec, dict) or rec.get("type", "gaze") != "gaze":
                continue
            ts = rec.get("timestamp")
            g = (rec.get("data") or {}).get("gaze2d")
            t.append(float(ts) if isinstance(ts, (int, float)) else np.nan)
            if isinstance(g, (list, tuple)) and len(g) == 2 and all(isinstance(v, (int, float)) for v in g):
                x.append(float(g[0]))
                y.append(float(g[1]))
            else:
                x.append(np.nan)
                y.append(np.nan)
            if len(t) >= chunk_size:
                yield (*_tobii_arrays(t, x, y), row0)
                row0 = lineno + 1
                t, x, y = [], [], []
    if t:
        yield (*_tobii_arrays(t, x, y), row0)


def _tobii_arrays(t, x, y):
    ta, xa, ya = np.array(t), np.array(x), np.array(y)
    return ta, dict(x=xa, y=ya, units="norm", origin="top-left", reasons={"no_gaze": ~np.isfinite(xa)})


# --------------------------------------------------------------------------- public
def iter_gaze(source: str | os.PathLike, *, format: str | None = None, chunk_size: int = 65536,
              frame_size: tuple[int, int] | None = None, units: str | None = None, origin: str | None = None,
              time_unit: str | None = None, columns: Mapping[str, str] | None = None,
              min_confidence: float | None = None) -> Iterator[GazeSamples]:
    """Stream a recording as :class:`GazeSamples` chunks of at most ``chunk_size`` rows.

    ``format`` overrides detection (one of :data:`FORMATS`); ``frame_size`` (width,
    height) overrides the device default (for ``generic`` pixels without it, coordinates
    are taken as pixels of the image being segmented); ``units``/``origin``/``time_unit``/
    ``columns`` describe a generic CSV; ``min_confidence`` overrides the format default
    (Pupil Core 0.6). Raises :class:`GazeError` for an empty or unknown file, timestamps
    that go backwards, or coordinates contradicting their units.
    """
    path = resolve_recording(source)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise GazeError(f"unknown gaze format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if format is not None and not path.is_file():
        raise GazeError(f"gaze file {path} does not exist (or is not a file)")
    if chunk_size < 1:
        raise GazeError(f"chunk_size must be >= 1, got {chunk_size}")
    frame = tuple(int(v) for v in frame_size) if frame_size is not None else DEFAULT_FRAME.get(fmt)
    min_conf = DEFAULT_MIN_CONFIDENCE.get(fmt, 0.0) if min_confidence is None else float(min_confidence)
    if fmt != "generic" and (units is not None or origin is not None):
        warnings.warn(f"units/origin are fixed by the {fmt} format and were ignored", stacklevel=2)
    last_t = -np.inf
    state: dict[str, Any] = {}
    checked = False
    n = 0
    if fmt == "tobii_g3":
        chunks: Iterator[tuple[np.ndarray, dict[str, Any], int]] = _tobii_chunks(path, chunk_size)
    else:
        first_line(path)
        reader = _CSV_READERS[fmt]

        def _gen() -> Iterator[tuple[np.ndarray, dict[str, Any], int]]:
            for header, rows, row0 in csv_chunks(path, chunk_size):
                t, fields = reader(path, header, rows, frame, min_conf, columns=columns, units=units,
                                   origin=origin, time_unit=time_unit, state=state)
                yield t, fields, row0

        chunks = _gen()
    for t, fields, row0 in chunks:
        finite_t = np.isfinite(t)
        tt = t[finite_t]
        if tt.size:
            back = np.flatnonzero(np.diff(np.concatenate([[last_t], tt])) < 0)
            if back.size:
                i = int(np.flatnonzero(finite_t)[back[0]])
                prev = last_t if back[0] == 0 else tt[back[0] - 1]
                raise GazeError(f"{path}: timestamps go backwards at line {row0 + i} "
                                f"({t[i]:.6f}s after {prev:.6f}s); sort the recording by time or fix the export")
            last_t = tt[-1]
        fx = fields.pop("fixations", None)
        reasons = dict(fields.pop("reasons", {}) or {})
        if (~finite_t).any():
            reasons["bad_timestamp"] = ~finite_t
        fixations = _fixation_list(*fx, fields["x"], fields["y"]) if fx is not None else None
        chunk = _chunk(t, frame=frame, source=fmt, reasons=reasons, path=path, check=not checked,
                       **{k: v for k, v in fields.items()})
        if fixations is not None:
            fr = chunk.frame_size
            if fields["units"] == "norm" or fields["origin"] != "top-left":
                px, py = to_frame_pixels(np.array([f.x for f in fixations]), np.array([f.y for f in fixations]),
                                         fr, fields["units"], fields["origin"])
                fixations = [f.moved(a, b) for f, a, b in zip(fixations, px, py)]
            chunk.fixations = fixations
        checked = checked or np.count_nonzero(np.isfinite(fields["x"])) >= 20
        chunk.meta["format"] = fmt
        n += len(chunk)
        limits.check("gaze_rows", n, f"gaze file {path.name}", "split the recording or read a shorter export")
        checkpoint()
        yield chunk
    if n == 0:
        raise GazeError(f"gaze file {path} has a header but no samples")


def _check_time_order(t: np.ndarray) -> None:
    """Raise :class:`GazeError` naming the first sample whose time goes backwards."""
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise GazeError(f"gaze sample {i} goes back in time ({t[i]:.6f}s after {t[i - 1]:.6f}s); give samples in time order")


def samples_from_iterable(items: Iterable[Any], *, frame_size: tuple[int, int] | None = None,
                          units: str = "px", origin: str = "top-left") -> GazeSamples:
    """Samples given as (t, x, y[, confidence]) tuples or dicts with t/x/y[/confidence/valid]."""
    from .live import parse_sample

    rows = [parse_sample(s) for s in items]
    if not rows:
        raise GazeError("no gaze samples given (the iterable is empty)")
    arr = np.array([[r[0], r[1], r[2], r[3], 1.0 if r[4] else 0.0] for r in rows], dtype=np.float64)
    t = arr[:, 0]
    _check_time_order(t)
    return _chunk(t, arr[:, 1], arr[:, 2], frame=frame_size, units=units, origin=origin, valid=arr[:, 4] > 0.5,
                  confidence=arr[:, 3], source="samples", path=None)


def samples_from_array(arr: Any, *, frame_size: tuple[int, int] | None = None, units: str = "px",
                       origin: str = "top-left") -> GazeSamples:
    """Samples from an (N, 3) ``[t, x, y]`` (or (N, 4) with confidence) array, times in seconds."""
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] not in (3, 4) or a.shape[0] == 0:
        raise GazeError(f"a gaze array must be (N, 3) [t, x, y] or (N, 4) [t, x, y, confidence], got shape {a.shape}")
    t = a[:, 0]
    _check_time_order(t)
    return _chunk(t, a[:, 1], a[:, 2], frame=None if frame_size is None else tuple(int(v) for v in frame_size),
                  units=units, origin=origin, confidence=a[:, 3] if a.shape[1] == 4 else None, source="samples",
                  path=None)


def read_gaze(source: Any, **options: Any) -> GazeSamples:
    """A whole recording as one :class:`GazeSamples` (see :func:`iter_gaze` for options).

    ``source`` is a file path (format detected from its header) or an export folder, a :class:`GazeSamples`
    (returned unchanged), an (N, 3) ``[t, x, y]`` / (N, 4) array, or an iterable of
    samples ((t, x, y[, confidence]) tuples or dicts). Arrays and iterables take
    ``frame_size``, ``units`` and ``origin``. For long recordings prefer ``iter_gaze`` + ``detect_fixations`` on the chunks.
    """
    if isinstance(source, GazeSamples):
        return source
    if isinstance(source, (str, os.PathLike)):
        return GazeSamples.concat(iter_gaze(source, **options))
    if isinstance(source, np.ndarray):
        return samples_from_array(source, **{k: options[k] for k in ("frame_size", "units", "origin")
                                             if options.get(k) is not None})
    if isinstance(source, Iterable):
        allowed = {k: options[k] for k in ("frame_size", "units", "origin") if options.get(k) is not None}
        return samples_from_iterable(source, **allowed)
    raise GazeError(f"read_gaze takes a file path, GazeSamples or an iterable of samples, got {type(source).__name__}")


def read_frame_times(path: str | os.PathLike) -> np.ndarray:
    """Video frame timestamps in seconds on the gaze clock, for :func:`.coords.match_frames`.

    Reads Pupil Core ``world_timestamps.npy`` / ``world_timestamps.csv`` (seconds), Pupil
    Cloud / Neon ``world_timestamps.csv`` (``timestamp [ns]``) and any one-column or CSV
    file whose time column is named like the gaze readers expect (unit from the name,
    seconds by default).
    """
    p = Path(path)
    if not p.is_file():
        raise GazeError(f"frame timestamps file {p} does not exist")
    if p.suffix == ".npy":
        arr = np.load(p, allow_pickle=False).astype(np.float64).reshape(-1)
    else:
        header = [norm_name(c) for c in split_header(first_line(p))]
        col = next((c for c in header if "timestamp" in c or c in ("t", "time")), None)
        if col is None:
            raise GazeError(f"{p}: no timestamp column in {header[:10]}; expected e.g. 'timestamp [ns]' or "
                            "'# timestamps [seconds]'")
        unit = "ns" if "[ns]" in col or col.endswith("_ns") else ("ms" if col.endswith("_ms") or "[ms]" in col else "s")
        arr = np.concatenate([tab.num(col) for _, tab, _ in csv_chunks(p, 1 << 16)]) * TIME_SCALE[unit]
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise GazeError(f"{p} holds no frame timestamps")
    if arr.size > 1 and (np.diff(arr) <= 0).any():
        i = int(np.flatnonzero(np.diff(arr) <= 0)[0]) + 1
        raise GazeError(f"{p}: frame timestamps must increase; frame {i} is not after frame {i - 1}")
    return arr
