"""Eye-tracker devices: scene camera sizes and fields of view, and telling one device from another.

Sizes are (height, width) pixels, fields of view (horizontal, vertical) degrees, from the
vendors' specifications:

============== ============ ============ =====================================================
device         scene_size   fov (deg)    note
============== ============ ============ =====================================================
pupil_core     720 x 1280   99 x 53      world camera, 1280x720 mode, wide-angle lens
neon           1200 x 1600  103 x 77     Pupil Labs Neon
invisible      1080 x 1088  82 x 82      Pupil Labs Invisible
tobii_g3       1080 x 1920  95 x 63      Tobii Pro Glasses 3
============== ============ ============ =====================================================

Pupil Cloud exports the same ``gaze.csv`` for Neon and Invisible. :func:`identify_pupil_cloud`
tells them apart from, in order: ``scene_camera.json`` (its principal point), ``info.json``
(its device fields), the recording's ``azimuth [deg]`` / ``elevation [deg]`` columns (the
pixel position they project to gives the principal point), and last the coordinate range,
which is an assumption and says so in one warning.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .units import size_text

__all__ = ["DEVICES", "Device", "device", "identify_pupil_cloud", "read_json_small"]


@dataclass(frozen=True)
class Device:
    """A scene camera: ``name``, ``scene_size`` (H, W) px, ``fov`` (horizontal, vertical) deg."""

    name: str
    scene_size: tuple[int, int]
    fov: tuple[float, float]
    label: str

    @property
    def principal_point(self) -> tuple[float, float]:
        """(cx, cy) of an ideal camera: the image centre."""
        return self.scene_size[1] / 2.0, self.scene_size[0] / 2.0


DEVICES: dict[str, Device] = {
    "pupil_core": Device("pupil_core", (720, 1280), (99.0, 53.0), "Pupil Core"),
    "neon": Device("neon", (1200, 1600), (103.0, 77.0), "Pupil Labs Neon"),
    "invisible": Device("invisible", (1080, 1088), (82.0, 82.0), "Pupil Labs Invisible"),
    "tobii_g3": Device("tobii_g3", (1080, 1920), (95.0, 63.0), "Tobii Pro Glasses 3"),
}
MAX_JSON_BYTES = 1 << 20


def device(name: str) -> Device:
    """The :class:`Device` called ``name`` (one of :data:`DEVICES`)."""
    return DEVICES[name]


def read_json_small(path: Path) -> dict[str, Any] | None:
    """A small JSON object file (< 1 MiB), or None when missing or unreadable."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_JSON_BYTES:
            return None
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _nearest(cx: float, cy: float) -> Device:
    cands = [DEVICES["neon"], DEVICES["invisible"]]
    return min(cands, key=lambda d: float(np.hypot(cx - d.principal_point[0], cy - d.principal_point[1])))


def _from_camera_json(folder: Path) -> tuple[Device, str] | None:
    cam = read_json_small(folder / "scene_camera.json")
    if not cam:
        return None
    mat: Any = cam.get("camera_matrix")
    try:
        cx, cy = float(mat[0][2]), float(mat[1][2])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    dev = _nearest(cx, cy)
    return dev, f"scene_camera.json (principal point {cx:.0f}, {cy:.0f})"


def _from_info_json(folder: Path) -> tuple[Device, str] | None:
    info = read_json_small(folder / "info.json")
    if not info:
        return None
    text = " ".join(
        str(info.get(k, "")) for k in ("android_device_name", "android_device_model", "app_version", "frame_name")
    ).lower()
    if "module_serial_number" in info or "neon" in text:
        return DEVICES["neon"], "info.json (a Neon module)"
    if "glasses_serial_number" in info or "invisible" in text or "scene_camera_serial_number" in info:
        return DEVICES["invisible"], "info.json (Pupil Invisible glasses)"
    return None


def _from_angles(
    x: np.ndarray, y: np.ndarray, az: np.ndarray | None, el: np.ndarray | None
) -> tuple[Device, str] | None:
    """The principal point from x = cx + f tan(azimuth) (and the same for y), fit by least squares."""
    if az is None or el is None:
        return None
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(az) & np.isfinite(el)
    if np.count_nonzero(ok) < 50:
        return None
    ta, te = np.tan(np.deg2rad(az[ok])), np.tan(np.deg2rad(el[ok]))
    if np.ptp(ta) < 0.05 or np.ptp(te) < 0.05:
        return None
    fits = []
    for u, v in ((ta, x[ok]), (te, y[ok])):
        A = np.stack([u, np.ones_like(u)], 1)
        coef, res, *_ = np.linalg.lstsq(A, v, rcond=None)
        r2 = 1.0 - (float(res[0]) / float(np.sum((v - v.mean()) ** 2))) if res.size and np.ptp(v) > 0 else 0.0
        fits.append((float(coef[1]), r2))
    (cx, r2x), (cy, r2y) = fits
    if min(r2x, r2y) < 0.9:
        return None
    dev = _nearest(cx, cy)
    return dev, f"the gaze angles (principal point {cx:.0f}, {cy:.0f})"


def _from_range(x: np.ndarray, y: np.ndarray) -> tuple[Device, str, bool]:
    inv = DEVICES["invisible"]
    ok = np.isfinite(x) & np.isfinite(y)
    h, w = inv.scene_size
    if ok.any() and (np.quantile(x[ok], 0.99) > 1.1 * w or np.quantile(y[ok], 0.99) > 1.1 * h):
        return DEVICES["neon"], "the coordinate range (beyond Pupil Invisible's frame)", False
    return inv, "the coordinate range", True


def identify_pupil_cloud(
    path: Path, x: np.ndarray, y: np.ndarray, az: np.ndarray | None = None, el: np.ndarray | None = None
) -> tuple[Device, str]:
    """(device, how it was told) for a Pupil Cloud ``gaze.csv`` at ``path`` with the first chunk's
    pixel coordinates ``x``, ``y`` (and angles when exported). Warns once when only the
    coordinate range is left to go by, naming the assumption."""
    folder = Path(path).parent
    for found in (_from_camera_json(folder), _from_info_json(folder), _from_angles(x, y, az, el)):
        if found is not None:
            return found
    dev, how, assumed = _from_range(x, y)
    if assumed:
        other = DEVICES["neon"]
        warnings.warn(
            f"{path}: the scene camera cannot be told (no info.json or scene_camera.json beside the export, no gaze "
            f"angles); every gaze point fits {dev.label}'s {size_text(dev.scene_size)} frame, so it is assumed; pass "
            f"scene_size={other.scene_size} if this is a {other.label} recording",
            UserWarning,
            stacklevel=4,
        )
    return dev, how
