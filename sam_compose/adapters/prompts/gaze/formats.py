"""Per-format parsing of one chunk of a recording into arrays (used by :mod:`.readers`).

Each CSV parser takes ``(path, header, rows, ctx)`` and returns ``(t, fields)``: ``t``
seconds, ``fields`` with ``x``, ``y`` (in ``units`` / ``origin``), optional
``confidence``, ``reasons`` (name -> bool array of samples the device flags) and
``fixations`` (:class:`~.samples.Fixation` list from the device, coordinates in the same
units as x, y). ``ctx`` is a :class:`ReadContext` shared by the chunks of one file (what
was decided on the first chunk stays decided).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .devices import DEVICES, identify_pupil_cloud
from .errors import GazeError
from .samples import Fixation
from .tables import norm_name, open_text
from .units import TIME_SCALE, infer_time_unit

__all__ = [
    "CSV_PARSERS",
    "T_ALIASES",
    "X_ALIASES",
    "Y_ALIASES",
    "ReadContext",
    "find_column",
    "fixations_from_ids",
    "tobii_chunks",
    "unit_from_name",
]

T_ALIASES = ("t", "time", "timestamp", "gaze_timestamp", "time_s", "timestamp_s", "recording_timestamp")
X_ALIASES = ("x", "gaze_x", "gx", "pos_x", "gaze_point_x", "norm_pos_x", "gaze2d_x", "x_px", "x_norm")
Y_ALIASES = ("y", "gaze_y", "gy", "pos_y", "gaze_point_y", "norm_pos_y", "gaze2d_y", "y_px", "y_norm")


@dataclass
class ReadContext:
    """What a reader decided for a file, kept across its chunks."""

    path: Path
    scene_size: tuple[int, int] | None
    min_confidence: float
    columns: Mapping[str, str] | None = None
    units: str | None = None
    origin: str | None = None
    time_unit: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


def find_column(cols: Any, aliases: Any, axis: str) -> str | None:
    """The header name (normalised) holding ``axis`` ("t", "x", "y"), by alias or unit-suffixed name."""
    cols = list(cols)
    for a in aliases:
        if a in cols:
            return a
    # names with a unit suffix: "x [px]", "time_ms", "timestamp [ns]", "gaze x [norm]"
    pat = re.compile(rf"^(?:gaze[ _])?{axis}(?:[ _]?\[?(px|pixels?|norm|normali[sz]ed|s|ms|us|µs|μs|ns)\]?)?$")
    for c in cols:
        if pat.match(c):
            return c
    if axis == "t":
        for c in cols:
            if re.match(r"^(time|timestamp)[ _]?\[?(s|ms|us|µs|μs|ns)\]?$", c):
                return c
    return None


def unit_from_name(name: str, kind: str) -> str | None:
    """Units named in a column header: "px"/"norm" (``kind="space"``) or "s"/"ms"/"us"/"ns" (``"time"``)."""
    if kind == "space":
        if re.search(r"(\bpx\b|pixel|_px$|\[px\]|px\])", name):
            return "px"
        if re.search(r"norm", name):
            return "norm"
        return None
    m = re.search(r"(?:_|\[|\s)(s|ms|us|µs|μs|ns)\]?$", name)
    if not m:
        return None
    u = m.group(1)
    return "us" if u in ("µs", "μs") else u


def _time(ctx: ReadContext, raw: np.ndarray, column: str) -> np.ndarray:
    """Seconds from a time column: the declared unit, the one in its name, or the one its
    sample interval implies (told once, with a warning naming the assumption)."""
    unit = ctx.time_unit or unit_from_name(column, "time") or ctx.state.get("time_unit")
    if unit is None:
        guess = infer_time_unit(raw)
        unit = guess or "s"  # too few samples to tell: seconds, the documented default
        if unit != "s":
            warnings.warn(
                f"{ctx.path}: time column {column!r} declares no unit; its sample interval suggests "
                f"{unit}, which is assumed (declare time_unit='s'|'ms'|'us'|'ns' to silence this)",
                UserWarning,
                stacklevel=5,
            )
        ctx.state["time_unit"] = unit
    if unit not in TIME_SCALE:
        raise GazeError(f"time_unit must be one of {sorted(TIME_SCALE)}, got {unit!r}")
    return raw * TIME_SCALE[unit]


def fixations_from_ids(t: np.ndarray, x: np.ndarray, y: np.ndarray, ids: np.ndarray, ok: np.ndarray) -> list[Fixation]:
    """Device fixations from a per-sample fixation id column (NaN: no fixation), one per id run.

    Positions are the means of the id's samples (``ok`` ones), times its first and last
    sample. O(n log n).
    """
    has = np.isfinite(ids)
    if not has.any():
        return []
    idx = np.flatnonzero(has)
    fid = ids[idx]
    brk = np.flatnonzero(np.diff(fid) != 0) + 1
    out: list[Fixation] = []
    for part in np.split(idx, brk):
        good = part[ok[part] & np.isfinite(x[part]) & np.isfinite(y[part])]
        use = good if good.size else part
        xs, ys = x[use], y[use]
        if not np.isfinite(xs).any():
            continue
        t0, t1 = float(t[part[0]]), float(t[part[-1]])
        out.append(
            Fixation(
                x=float(np.nanmean(xs)),
                y=float(np.nanmean(ys)),
                start=t0,
                end=t1,
                duration=t1 - t0,
                n_samples=int(part.size),
                dispersion=float(np.nanmax(xs) - np.nanmin(xs) + np.nanmax(ys) - np.nanmin(ys)),
                id=int(ids[part[0]]),
            )
        )
    return out


# --------------------------------------------------------------------------- Pupil Labs
def pupil_core(path: Path, header: list[str], rows: Any, ctx: ReadContext) -> tuple[np.ndarray, dict[str, Any]]:
    t = rows.num("gaze_timestamp")
    conf = rows.num("confidence") if "confidence" in header else None
    reasons = {} if conf is None else {"low_confidence": ~(conf >= ctx.min_confidence)}
    ctx.state.setdefault("device", "pupil_core")
    return t, {
        "x": rows.num("norm_pos_x"),
        "y": rows.num("norm_pos_y"),
        "units": "norm",
        "origin": "bottom-left",
        "confidence": conf,
        "reasons": reasons,
    }


def pupil_cloud(path: Path, header: list[str], rows: Any, ctx: ReadContext) -> tuple[np.ndarray, dict[str, Any]]:
    """Pupil Cloud / Neon Player ``gaze.csv`` (Neon and Invisible): ns, pixels, worn, blinks, fixation ids."""
    t = rows.num("timestamp [ns]") * 1e-9
    x, y = rows.num("gaze x [px]"), rows.num("gaze y [px]")
    reasons: dict[str, np.ndarray] = {}
    if "worn" in header:
        reasons["not_worn"] = np.nan_to_num(rows.num("worn"), nan=1.0) < 0.5
    if "blink id" in header:
        reasons["blink"] = rows.present("blink id")
    if "device" not in ctx.state and ctx.scene_size is None:
        az = rows.num("azimuth [deg]") if "azimuth [deg]" in header else None
        el = rows.num("elevation [deg]") if "elevation [deg]" in header else None
        dev, how = identify_pupil_cloud(path, x, y, az, el)
        ctx.state.update(device=dev.name, device_from=how)
        ctx.scene_size = dev.scene_size
    fields: dict[str, Any] = {"x": x, "y": y, "units": "px", "origin": "top-left", "reasons": reasons}
    if "fixation id" in header:
        ids = rows.num("fixation id")
        if "vendor_ids" not in ctx.state:  # an exported but empty column (no Cloud detection) is no fixations
            ctx.state["vendor_ids"] = bool(np.isfinite(ids).any())
        if ctx.state["vendor_ids"]:
            ok = np.ones(t.size, bool)
            for bad in reasons.values():
                ok &= ~bad
            fields["fixations"] = fixations_from_ids(t, x, y, ids, ok)
    return t, fields


def _table_fixations(
    start: np.ndarray, end: np.ndarray, duration: np.ndarray, x: np.ndarray, y: np.ndarray, ids: np.ndarray
) -> list[Fixation]:
    """One :class:`Fixation` per row of a vendor's fixation table (times in seconds, x, y as the
    table gives them); rows without a finite x, y are dropped, a NaN id becomes None."""
    return [
        Fixation(
            x=float(a),
            y=float(b),
            start=float(s),
            end=float(e),
            duration=float(d),
            id=None if not np.isfinite(i) else int(i),
        )
        for s, e, d, a, b, i in zip(start, end, duration, x, y, ids)
        if np.isfinite(a) and np.isfinite(b)
    ]


def pupil_cloud_fixations(
    path: Path, header: list[str], rows: Any, ctx: ReadContext
) -> tuple[np.ndarray, dict[str, Any]]:
    t0 = rows.num("start timestamp [ns]") * 1e-9
    t1 = rows.num("end timestamp [ns]") * 1e-9
    x, y = rows.num("fixation x [px]"), rows.num("fixation y [px]")
    ids = rows.num("fixation id") if "fixation id" in header else np.full(t0.size, np.nan)
    fix = _table_fixations(t0, t1, t1 - t0, x, y, ids)
    if "device" not in ctx.state and ctx.scene_size is None:
        dev, how = identify_pupil_cloud(path, x, y)
        ctx.state.update(device=dev.name, device_from=how)
        ctx.scene_size = dev.scene_size
    return t0, {"x": x, "y": y, "units": "px", "origin": "top-left", "fixations": fix}


def pupil_player_fixations(
    path: Path, header: list[str], rows: Any, ctx: ReadContext
) -> tuple[np.ndarray, dict[str, Any]]:
    t0 = rows.num("start_timestamp")
    dur = rows.num("duration") * 1e-3
    x, y = rows.num("norm_pos_x"), rows.num("norm_pos_y")
    ids = rows.num("id") if "id" in header else np.full(t0.size, np.nan)
    fix = _table_fixations(t0, t0 + dur, dur, x, y, ids)
    ctx.state.setdefault("device", "pupil_core")
    return t0, {"x": x, "y": y, "units": "norm", "origin": "bottom-left", "fixations": fix}


# --------------------------------------------------------------------------- Tobii
_PROLAB_T = (
    "recording timestamp",
    "recording timestamp [μs]",
    "recording timestamp [µs]",
    "recording timestamp [us]",
    "recording timestamp [ms]",
)


def _prolab_col(header: list[str], stem: str) -> str | None:
    for c in header:
        if c == stem or c.startswith(stem + " ["):
            return c
    return None


def tobii_prolab(path: Path, header: list[str], rows: Any, ctx: ReadContext) -> tuple[np.ndarray, dict[str, Any]]:
    """Tobii Pro Lab data export (TSV): gaze points in pixels of the recording media, and the
    I-VT filter's events ("Eye movement type" = Fixation, with its index)."""
    tcol = next((c for c in header if c in _PROLAB_T), None) or _prolab_col(header, "recording timestamp")
    if tcol is None:
        raise GazeError(f"{path}: no 'Recording timestamp' column; header {header[:12]}")
    t = _time(ctx, rows.num(tcol), tcol)
    xc, yc = _prolab_col(header, "gaze point x"), _prolab_col(header, "gaze point y")
    if xc is None or yc is None:
        raise GazeError(f"{path}: no 'Gaze point X' / 'Gaze point Y' columns; header {header[:12]}")
    x, y = rows.num(xc), rows.num(yc)
    if ctx.scene_size is None:
        wc, hc = _prolab_col(header, "recording resolution width"), _prolab_col(header, "recording resolution height")
        if wc and hc:
            w, h = rows.num(wc), rows.num(hc)
            ok = np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
            if ok.any():
                ctx.scene_size = (int(h[ok][0]), int(w[ok][0]))
        if ctx.scene_size is None:
            ctx.scene_size = DEVICES["tobii_g3"].scene_size
            ctx.state.setdefault("device", "tobii_g3")
    reasons: dict[str, np.ndarray] = {}
    valid_cols = [c for c in ("validity left", "validity right") if c in header]
    if valid_cols:
        bad = np.ones(t.size, bool)
        for c in valid_cols:
            bad &= np.array([v.lower() != "valid" for v in rows.text(c)])
        reasons["invalid"] = bad
    fields: dict[str, Any] = {"x": x, "y": y, "units": "px", "origin": "top-left", "reasons": reasons}
    if "eye movement type" in header:
        kind = rows.text("eye movement type")
        idx_col = _prolab_col(header, "eye movement type index")
        ids = rows.num(idx_col) if idx_col else np.full(t.size, np.nan)
        ids = np.where(np.array([k.lower() == "fixation" for k in kind]), ids, np.nan)
        fx, fy = x, y
        fxc, fyc = _prolab_col(header, "fixation point x"), _prolab_col(header, "fixation point y")
        if fxc and fyc:
            fx, fy = rows.num(fxc), rows.num(fyc)
        if "vendor_ids" not in ctx.state:
            ctx.state["vendor_ids"] = bool(np.isfinite(ids).any())
        if ctx.state["vendor_ids"]:
            fields["fixations"] = fixations_from_ids(t, fx, fy, ids, np.isfinite(fx) & np.isfinite(fy))
    return t, fields


def tobii_chunks(path: Path, chunk_size: int) -> Iterator[tuple[np.ndarray, dict[str, Any], int]]:
    """Tobii Pro Glasses 3 ``gazedata(.gz)`` JSON lines as (t, fields, first line number) chunks."""
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
                raise GazeError(
                    f"{path}: line {lineno} is not JSON ({exc.msg}); Tobii gazedata has one JSON object per line"
                ) from exc
            if not isinstance(rec, dict) or rec.get("type", "gaze") != "gaze":
                continue
            ts = rec.get("timestamp")
            data = rec.get("data")
            g = data.get("gaze2d") if isinstance(data, dict) else None
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


def _tobii_arrays(t: list[float], x: list[float], y: list[float]) -> tuple[np.ndarray, dict[str, Any]]:
    ta, xa, ya = np.array(t), np.array(x), np.array(y)
    return ta, {"x": xa, "y": ya, "units": "norm", "origin": "top-left", "reasons": {"no_gaze": ~np.isfinite(xa)}}


# --------------------------------------------------------------------------- generic
def _generic_columns(header: list[str], columns: Mapping[str, str] | None, path: Path) -> dict[str, str | None]:
    cols: dict[str, str | None] = {k: None for k in ("t", "x", "y", "confidence", "valid")}
    if columns:
        unknown = set(columns) - set(cols)
        if unknown:
            raise GazeError(f"columns= keys must be among {sorted(cols)}, got {sorted(unknown)}")
        for k, v in columns.items():
            if norm_name(v) not in header:
                raise GazeError(f"{path}: column {v!r} (for {k}) not in header {header[:15]}")
            cols[k] = norm_name(v)
    cols["t"] = cols["t"] or find_column(header, T_ALIASES, "t")
    cols["x"] = cols["x"] or find_column(header, X_ALIASES, "x")
    cols["y"] = cols["y"] or find_column(header, Y_ALIASES, "y")
    for k in ("t", "x", "y"):
        if cols[k] is None:
            raise GazeError(f"{path}: no {k!r} column in header {header[:15]}; pass columns={{'{k}': 'NAME'}}")
    for k, names in (("confidence", ("confidence", "conf")), ("valid", ("valid", "validity", "worn"))):
        if cols[k] is None:
            cols[k] = next((n for n in names if n in header), None)
    return cols


def generic(path: Path, header: list[str], rows: Any, ctx: ReadContext) -> tuple[np.ndarray, dict[str, Any]]:
    cols = _generic_columns(header, ctx.columns, path)
    t = _time(ctx, rows.num(cols["t"]), str(cols["t"]))
    x, y = rows.num(cols["x"]), rows.num(cols["y"])
    u = ctx.units or unit_from_name(str(cols["x"]), "space") or ctx.state.get("units")
    if u is None:
        ok = np.isfinite(x) & np.isfinite(y)
        u = "norm" if ok.any() and np.abs(x[ok]).max() <= 1.5 and np.abs(y[ok]).max() <= 1.5 else "px"
        warnings.warn(
            f"{path}: gaze units not declared; values look {'normalised' if u == 'norm' else 'like pixels'} "
            f"so units='{u}' is assumed (declare units='px' or 'norm' to silence this)",
            UserWarning,
            stacklevel=5,
        )
    ctx.state["units"] = u
    reasons: dict[str, np.ndarray] = {}
    conf = None
    if cols["confidence"]:
        conf = rows.num(cols["confidence"])
        reasons["low_confidence"] = ~(conf >= ctx.min_confidence)
    if cols["valid"]:
        reasons["flagged_invalid"] = ~(np.nan_to_num(rows.num(cols["valid"]), nan=1.0) > 0.5)
    return t, {"x": x, "y": y, "units": u, "origin": ctx.origin or "top-left", "confidence": conf, "reasons": reasons}


CSV_PARSERS: dict[str, Callable[..., tuple[np.ndarray, dict[str, Any]]]] = {
    "pupil_core": pupil_core,
    "pupil_core_fixations": pupil_player_fixations,
    "neon": pupil_cloud,
    "neon_fixations": pupil_cloud_fixations,
    "tobii_prolab": tobii_prolab,
    "generic": generic,
}
