"""Read eye-tracker recordings in chunks: Pupil Labs Core / Neon / Invisible, Tobii, generic CSV.

:func:`iter_gaze` streams a file as :class:`GazeSamples` chunks of ``chunk_size`` rows
(memory stays bounded however long the recording; every line and the row count are
bounded, see :mod:`.limits`); :func:`read_gaze` joins them. The format is detected from
the header (:func:`detect_format`) unless ``format=`` is given.

Formats (all converted to top-left scene-frame pixels and seconds, see :mod:`.samples`):

========================= ================================================================
``pupil_core``            Pupil Player ``gaze_positions.csv``: ``gaze_timestamp`` (s),
                          ``confidence``, ``norm_pos_x``/``norm_pos_y`` (0..1, origin
                          bottom left). Scene frame 720x1280 (H, W) unless ``scene_size``.
``pupil_core_fixations``  Pupil Player ``fixations.csv``: ``start_timestamp`` (s),
                          ``duration`` (ms), ``norm_pos_x``/``norm_pos_y``.
``neon``                  Pupil Cloud / Neon Player ``gaze.csv`` (Neon **and** Invisible):
                          ``timestamp [ns]``, ``gaze x [px]``, ``gaze y [px]``, ``worn``,
                          ``blink id``, ``fixation id`` (the device's fixations). Neon
                          (1200x1600) and Invisible (1080x1088) are told apart by
                          :func:`.devices.identify_pupil_cloud`.
``neon_fixations``        their ``fixations.csv``: ``start/end timestamp [ns]``,
                          ``fixation x/y [px]``.
``neon_native``           a Neon recording folder as the Companion app writes it (binary
                          ``.raw``/``.time`` streams), read with ``pupil-labs-neon-recording``.
``tobii_g3``              Tobii Pro Glasses 3 ``gazedata`` / ``gazedata.gz`` JSON lines,
                          ``gaze2d`` normalised, origin top left. 1080x1920.
``tobii_prolab``          Tobii Pro Lab data export (TSV): ``Recording timestamp``,
                          ``Gaze point X/Y`` (px), ``Eye movement type`` + index (the
                          I-VT filter's fixations).
``generic``               any CSV/TSV with a time column (``t``, ``time``, ``timestamp``;
                          unit from ``time_unit``, a suffix like ``_ms`` / ``[ns]``, or the
                          sample interval), x and y columns, optional ``confidence`` /
                          ``valid``; units "px" or "norm" and origin declared by arguments
                          or suffixes (``x_px``, ``x [norm]``).
========================= ================================================================

Next to a gaze file, the device's fixations are picked up from ``fixations.csv`` in the
same folder (Pupil Cloud, Pupil Player), so :func:`.fixations.detect_fixations` uses them
unless asked to detect. Samples the device flags (not worn, blink, confidence below
``min_confidence``), NaN coordinates and gaze outside the scene frame are kept but marked
invalid; ``dropped`` counts them by reason.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ....security.deadlines import checkpoint
from ....security.paths import check_regular_file
from .compat import scene_size_arg
from .devices import DEVICES
from .errors import GazeError
from .formats import (
    CSV_PARSERS,
    T_ALIASES,
    X_ALIASES,
    Y_ALIASES,
    ReadContext,
    find_column,
    tobii_chunks,
)
from .limits import check_rows
from .parse import parse_sample
from .samples import Fixation, GazeSamples, merge_fixation_parts
from .tables import csv_chunks, first_line, norm_name, split_header
from .units import TIME_SCALE, check_units, infer_time_unit, size_text, to_scene_pixels

__all__ = [
    "FORMATS",
    "RECORDING_FILES",
    "detect_format",
    "iter_gaze",
    "read_frame_times",
    "read_gaze",
    "resolve_recording",
    "samples_from_array",
    "samples_from_iterable",
]

FORMATS = (
    "pupil_core",
    "pupil_core_fixations",
    "neon",
    "neon_fixations",
    "neon_native",
    "tobii_g3",
    "tobii_prolab",
    "generic",
)
FORMAT_DEVICE = {
    "pupil_core": "pupil_core",
    "pupil_core_fixations": "pupil_core",
    "tobii_g3": "tobii_g3",
    "neon_native": "neon",
}
DEFAULT_MIN_CONFIDENCE = {"pupil_core": 0.6, "pupil_core_fixations": 0.0}
NOMINAL_SCENE = (1000, 1000)
RECORDING_FILES = ("gaze.csv", "gaze_positions.csv", "gazedata.gz", "gazedata", "fixations.csv")


# --------------------------------------------------------------------------- detection
def _is_neon_native(p: Path) -> bool:
    return (
        p.is_dir() and (p / "info.json").is_file() and ((p / "gaze_200hz.raw").is_file() or any(p.glob("gaze ps*.raw")))
    )


def resolve_recording(path: str | os.PathLike) -> Path:
    """A recording file, a Neon native recording folder, or the gaze file inside an export folder.

    In a folder the first match of :data:`RECORDING_FILES` wins (searched recursively:
    Neon/Invisible ``gaze.csv``, Pupil Player ``exports/000/gaze_positions.csv``, Tobii
    ``gazedata.gz``); a folder holding ``info.json`` and ``gaze ps1.raw`` is a Neon native recording.
    """
    p = Path(path)
    if p.is_dir():
        if _is_neon_native(p):
            return p
        for name in RECORDING_FILES:
            hits = sorted(p.rglob(name), key=lambda q: (len(q.parts), str(q)))
            if hits:
                return hits[0]
        native = sorted((q.parent for q in p.rglob("info.json") if _is_neon_native(q.parent)), key=str)
        if native:
            return native[0]
        raise GazeError(
            f"no gaze recording found in folder {p}: looked for {', '.join(RECORDING_FILES)} and Neon "
            "native recordings (info.json + gaze ps1.raw)"
        )
    return p


def detect_format(path: str | os.PathLike) -> str:
    """Guess the recording format from the first line (the CSV header or a JSON record)."""
    p = resolve_recording(path)
    if _is_neon_native(p):
        return "neon_native"
    if p.exists() and not p.is_file():
        check_regular_file(p, "gaze file")  # a FIFO, device or socket: say which
    if not p.is_file():
        raise GazeError(f"gaze file {p} does not exist (or is not a file)")
    line = first_line(p)
    if line.startswith("{"):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GazeError(
                f"{p}: the first line looks like JSON but does not parse ({exc}); expected Tobii Glasses 3 gazedata"
            ) from exc
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
    if any(c.startswith("recording timestamp") for c in cols) and any(c.startswith("gaze point x") for c in cols):
        return "tobii_prolab"
    if find_column(cols, T_ALIASES, "t") and find_column(cols, X_ALIASES, "x") and find_column(cols, Y_ALIASES, "y"):
        return "generic"
    raise GazeError(
        f"{p}: unknown gaze format; header columns {sorted(cols)[:12]} match none of {', '.join(FORMATS)}. "
        "For your own CSV name the columns t, x, y (or pass columns={'t': ..., 'x': ..., 'y': ...}) "
        "with format='generic', units='px'|'norm', origin='top-left'|'bottom-left'"
    )


# --------------------------------------------------------------------------- one chunk
def _chunk(
    t: np.ndarray,
    x: Any,
    y: Any,
    *,
    scene: tuple[int, int] | None,
    units: str,
    origin: str,
    valid: Any = None,
    confidence: Any = None,
    source: str,
    reasons: Mapping[str, np.ndarray] | None = None,
    fixations: list[Fixation] | None = None,
    path: Any = None,
    check: bool = True,
    nominal: bool = False,
) -> GazeSamples:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if check:
        check_units(x, y, units, scene, f"{path}")
    if scene is None:
        if origin == "bottom-left":
            raise GazeError("origin='bottom-left' with pixel units needs scene_size=(H, W) to flip y")
        px, py = x.copy(), y.copy()
    else:
        px, py = to_scene_pixels(x, y, scene, units, origin)
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
    if scene is not None:
        h, w = scene
        off = ~((px >= 0) & (px <= w) & (py >= 0) & (py <= h)) & v
        if off.any():
            dropped["off_scene"] = int(off.sum())
            v &= ~off
    if fixations is not None and (units == "norm" or origin != "top-left") and scene is not None:
        fxs, fys = to_scene_pixels(
            np.array([f.x for f in fixations]), np.array([f.y for f in fixations]), scene, units, origin
        )
        fixations = [f.moved(a, b) for f, a, b in zip(fixations, fxs, fys)]
    meta: dict[str, Any] = {"path": str(path)} if path else {}
    if nominal:
        meta["scene"] = "nominal"
    return GazeSamples(
        t=t,
        x=px,
        y=py,
        scene_size=scene,
        valid=v,
        confidence=confidence,
        source=source,
        fixations=fixations,
        dropped=dropped,
        meta=meta,
    )


def _check_order(t: np.ndarray, last_t: float, row0: int, path: Path) -> float:
    finite_t = np.isfinite(t)
    tt = t[finite_t]
    if tt.size:
        back = np.flatnonzero(np.diff(np.concatenate([[last_t], tt])) < 0)
        if back.size:
            i = int(np.flatnonzero(finite_t)[back[0]])
            prev = last_t if back[0] == 0 else tt[back[0] - 1]
            raise GazeError(
                f"{path}: timestamps go backwards at line {row0 + i} "
                f"({t[i]:.6f}s after {prev:.6f}s); sort the recording by time or fix the export"
            )
        return float(tt[-1])
    return last_t


def _sibling_fixations(path: Path, fmt: str) -> list[Fixation] | None:
    """The device's fixations from ``fixations.csv`` beside a Pupil Cloud / Pupil Player gaze file."""
    if fmt not in ("neon", "pupil_core"):
        return None
    sib = path.parent / "fixations.csv"
    if not sib.is_file() or sib == path:
        return None
    try:
        kind = detect_format(sib)
    except GazeError:
        return None
    want = {"neon": "neon_fixations", "pupil_core": "pupil_core_fixations"}[fmt]
    if kind != want:
        return None
    with warnings.catch_warnings():  # its pixels need no scene size; the gaze file tells the device
        warnings.simplefilter("ignore", UserWarning)
        return list(read_gaze(sib).fixations or [])


def _warn_nominal(path: Path, units: str) -> None:
    if units == "norm":
        warnings.warn(
            f"{path}: the scene size cannot be told; normalised gaze is placed in a nominal "
            f"{size_text(NOMINAL_SCENE)} frame (pass scene_size=(H, W) of the scene camera)",
            UserWarning,
            stacklevel=4,
        )
    else:
        warnings.warn(
            f"{path}: the scene size cannot be told; the pixel coordinates are taken as pixels of the image "
            "being segmented (pass scene_size=(H, W) if they are scene-camera pixels)",
            UserWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------- public
def iter_gaze(
    source: str | os.PathLike,
    *,
    format: str | None = None,
    chunk_size: int = 65536,
    scene_size: tuple[int, int] | None = None,
    units: str | None = None,
    origin: str | None = None,
    time_unit: str | None = None,
    columns: Mapping[str, str] | None = None,
    min_confidence: float | None = None,
    frame_size: tuple[int, int] | None = None,
) -> Iterator[GazeSamples]:
    """Stream a recording as :class:`GazeSamples` chunks of at most ``chunk_size`` rows.

    ``format`` overrides detection (one of :data:`FORMATS`); ``scene_size`` (H, W) overrides
    the device's (for ``generic`` pixels without it, coordinates are taken as pixels of the
    image being segmented, with one warning); ``units``/``origin``/``time_unit``/``columns``
    describe a generic CSV; ``min_confidence`` overrides the format default (Pupil Core 0.6).
    ``frame_size=(W, H)`` is the deprecated spelling of ``scene_size``. Raises
    :class:`GazeError` for an empty or unknown file, timestamps that go backwards, or
    coordinates contradicting their units, and :class:`.errors.GazeLimitError` past the
    line and row bounds.
    """
    size = scene_size_arg(scene_size, frame_size, "iter_gaze", stacklevel=4)
    path = resolve_recording(source)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise GazeError(f"unknown gaze format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if chunk_size < 1:
        raise GazeError(f"chunk_size must be >= 1, got {chunk_size}")
    if fmt == "neon_native":
        from .neon_native import iter_neon_native

        yield from iter_neon_native(path, chunk_size=chunk_size, scene_size=size)
        return
    if format is not None and not path.is_file():
        raise GazeError(f"gaze file {path} does not exist (or is not a file)")
    dev = DEVICES.get(FORMAT_DEVICE.get(fmt, ""))
    ctx = ReadContext(
        path=path,
        scene_size=size if size is not None else (dev.scene_size if dev else None),
        min_confidence=DEFAULT_MIN_CONFIDENCE.get(fmt, 0.0) if min_confidence is None else float(min_confidence),
        columns=columns,
        units=units,
        origin=origin,
        time_unit=time_unit,
    )
    if dev is not None:
        ctx.state["device"] = dev.name
    if fmt not in ("generic",) and (units is not None or origin is not None):
        warnings.warn(f"units/origin are fixed by the {fmt} format and were ignored", UserWarning, stacklevel=2)
    sibling = _sibling_fixations(path, fmt)
    last_t, checked, n, warned = -np.inf, False, 0, False
    if fmt == "tobii_g3":
        chunks: Iterator[tuple[np.ndarray, dict[str, Any], int]] = tobii_chunks(path, chunk_size)
    else:
        first_line(path)
        parser = CSV_PARSERS[fmt]

        def _gen() -> Iterator[tuple[np.ndarray, dict[str, Any], int]]:
            for header, rows, row0 in csv_chunks(path, chunk_size):
                t, fields = parser(path, header, rows, ctx)
                yield t, fields, row0

        chunks = _gen()
    for t, fields, row0 in chunks:
        n += len(t)
        check_rows(n, path)
        last_t = _check_order(t, last_t, row0, path)
        reasons = dict(fields.pop("reasons", {}) or {})
        if (~np.isfinite(t)).any():
            reasons["bad_timestamp"] = ~np.isfinite(t)
        fix = fields.pop("fixations", None)
        scene, nominal = ctx.scene_size, False
        if scene is None and fields["units"] == "norm":
            scene, nominal = NOMINAL_SCENE, True
        if size is None and dev is None and ctx.scene_size is None and fmt == "generic" and not warned:
            _warn_nominal(path, fields["units"])
            warned = True
        chunk = _chunk(
            t,
            scene=scene,
            source=fmt,
            reasons=reasons,
            path=path,
            check=not checked,
            nominal=nominal,
            fixations=fix,
            **fields,
        )
        if sibling is not None:
            chunk.fixations = sibling if n == len(t) else []
        checked = checked or bool(np.count_nonzero(np.isfinite(fields["x"])) >= 20)
        chunk.meta["format"] = fmt
        checkpoint()
        device = ctx.state.get("device")
        if device in DEVICES:
            chunk.meta["device"] = device
            chunk.meta["fov"] = DEVICES[device].fov
            if "device_from" in ctx.state:
                chunk.meta["device_from"] = ctx.state["device_from"]
        yield chunk
    if n == 0:
        raise GazeError(f"gaze file {path} has a header but no samples")


def _time_seconds(t: np.ndarray, time_unit: str | None, where: str) -> np.ndarray:
    if time_unit is None:
        guess = infer_time_unit(t)
        if guess is None or guess == "s":
            return t
        warnings.warn(
            f"{where}: times are not seconds; their sample interval suggests {guess}, which is assumed "
            f"(pass time_unit='s'|'ms'|'us'|'ns' to silence this)",
            UserWarning,
            stacklevel=4,
        )
        time_unit = guess
    if time_unit not in TIME_SCALE:
        raise GazeError(f"time_unit must be one of {sorted(TIME_SCALE)}, got {time_unit!r}")
    return t * TIME_SCALE[time_unit]


def _check_time_order(t: np.ndarray) -> None:
    """Raise :class:`GazeError` naming the first sample whose time goes backwards."""
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise GazeError(
            f"gaze sample {i} goes back in time ({t[i]:.6f}s after {t[i - 1]:.6f}s); give samples in time order"
        )


def _in_memory(
    a: np.ndarray,
    where: str,
    size: tuple[int, int] | None,
    units: str,
    origin: str,
    time_unit: str | None,
    *,
    valid: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
) -> GazeSamples:
    """Samples from in-memory (N, >= 3) columns ``[t, x, y, ...]``: times to seconds, checked in order.

    ``where`` names the input in messages; ``size`` is the scene size (H, W) or None.
    """
    t = _time_seconds(a[:, 0], time_unit, where)
    _check_time_order(t)
    return _chunk(
        t,
        a[:, 1],
        a[:, 2],
        scene=size,
        units=units,
        origin=origin,
        valid=valid,
        confidence=confidence,
        source="samples",
        path=None,
    )


def samples_from_iterable(
    items: Iterable[Any],
    *,
    scene_size: tuple[int, int] | None = None,
    units: str = "px",
    origin: str = "top-left",
    time_unit: str | None = None,
    frame_size: tuple[int, int] | None = None,
) -> GazeSamples:
    """Samples given as (t, x, y[, confidence]) tuples or dicts with t/x/y[/confidence/valid]."""
    size = scene_size_arg(scene_size, frame_size, "read_gaze", stacklevel=4)
    rows = []
    for s in items:
        rows.append(parse_sample(s))
        check_rows(len(rows), "the gaze samples")
    if not rows:
        raise GazeError("no gaze samples given (the iterable is empty)")
    arr = np.array([[r[0], r[1], r[2], r[3], 1.0 if r[4] else 0.0] for r in rows], dtype=np.float64)
    return _in_memory(arr, "gaze samples", size, units, origin, time_unit, valid=arr[:, 4] > 0.5, confidence=arr[:, 3])


def samples_from_array(
    arr: Any,
    *,
    scene_size: tuple[int, int] | None = None,
    units: str = "px",
    origin: str = "top-left",
    time_unit: str | None = None,
    frame_size: tuple[int, int] | None = None,
) -> GazeSamples:
    """Samples from an (N, 3) ``[t, x, y]`` (or (N, 4) with confidence) array.

    Times are seconds unless ``time_unit`` says otherwise (undeclared ms, us or ns are told
    from the sample interval, with a warning); without ``scene_size`` x, y are image pixels.
    """
    size = scene_size_arg(scene_size, frame_size, "read_gaze", stacklevel=4)
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] not in (3, 4) or a.shape[0] == 0:
        raise GazeError(f"a gaze array must be (N, 3) [t, x, y] or (N, 4) [t, x, y, confidence], got shape {a.shape}")
    check_rows(a.shape[0], "the gaze array")
    return _in_memory(a, "gaze array", size, units, origin, time_unit, confidence=a[:, 3] if a.shape[1] == 4 else None)


def read_gaze(source: Any, **options: Any) -> GazeSamples:
    """A whole recording as one :class:`GazeSamples` (see :func:`iter_gaze` for options).

    ``source`` is a file path (format detected from its header), an export folder or a Neon
    native recording folder, a :class:`GazeSamples` (returned unchanged), an (N, 3)
    ``[t, x, y]`` / (N, 4) array, or an iterable of samples ((t, x, y[, confidence])
    tuples or dicts). Arrays and iterables take ``scene_size``, ``units``, ``origin`` and
    ``time_unit``. For long recordings prefer ``iter_gaze`` + ``detect_fixations`` on the chunks.
    """
    if isinstance(source, GazeSamples):
        return source
    if isinstance(source, (str, os.PathLike)):
        out = GazeSamples.concat(iter_gaze(source, **options))
        if out.fixations is not None:
            out.fixations = merge_fixation_parts(out.fixations)
        return out
    allowed = {
        k: options[k]
        for k in ("scene_size", "frame_size", "units", "origin", "time_unit")
        if options.get(k) is not None
    }
    unknown = sorted(k for k, v in options.items() if v is not None and k not in allowed)
    if unknown:
        raise GazeError(
            f"read_gaze: options {unknown} apply to files only; arrays and sample lists take "
            "scene_size, units, origin, time_unit"
        )
    if isinstance(source, np.ndarray):
        return samples_from_array(source, **allowed)
    if isinstance(source, Iterable):
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
        arr = np.load(p, allow_pickle=False, mmap_mode="r")
        check_rows(int(arr.size), p)
        arr = np.asarray(arr, dtype=np.float64).reshape(-1)
    else:
        header = [norm_name(c) for c in split_header(first_line(p))]
        col = next((c for c in header if "timestamp" in c or c in ("t", "time")), None)
        if col is None:
            raise GazeError(
                f"{p}: no timestamp column in {header[:10]}; expected e.g. 'timestamp [ns]' or '# timestamps [seconds]'"
            )
        unit = "ns" if "[ns]" in col or col.endswith("_ns") else ("ms" if col.endswith("_ms") or "[ms]" in col else "s")
        parts, n = [], 0
        for _, tab, _ in csv_chunks(p, 1 << 16):
            parts.append(tab.num(col))
            n += len(parts[-1])
            check_rows(n, p)
        arr = np.concatenate(parts) * TIME_SCALE[unit]
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise GazeError(f"{p} holds no frame timestamps")
    if arr.size > 1 and (np.diff(arr) <= 0).any():
        i = int(np.flatnonzero(np.diff(arr) <= 0)[0]) + 1
        raise GazeError(f"{p}: frame timestamps must increase; frame {i} is not after frame {i - 1}")
    return arr
