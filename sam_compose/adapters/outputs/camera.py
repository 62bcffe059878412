"""Pinhole camera intrinsics and poses, parsed once at the boundary.

Conventions (OpenCV's):

* camera frame: x right, y down, z forward (into the scene), units of the depth map
  (metres in this project);
* pixel ``(u, v)`` = (column, row) index; the centre of pixel ``(u, v)`` has image
  coordinates ``(u, v)``, as in OpenCV calibration and the Middlebury data sets, so a
  point at depth ``z`` is ``x = (u - cx) * z / fx``, ``y = (v - cy) * z / fy``;
* poses are camera-to-world 4x4 matrices ``[R | t]`` mapping camera coordinates to world
  coordinates: ``p_world = R @ p_cam + t``.

:func:`as_intrinsics` accepts every form users hold: ``(fx, fy, cx, cy)``, a dict
(``fx``/``fy``/``cx``/``cy``, or ``f``/``focal``, or ``fov``/``fov_x``/``fov_y`` in degrees),
a 3x3 matrix ``K``, a single number (the horizontal field of view in degrees), or an
:class:`Intrinsics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels: focal lengths ``fx``, ``fy`` and principal point ``cx``, ``cy``."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        vals = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in vals):
            raise InputError(f"intrinsics must be finite numbers, got fx, fy, cx, cy = {vals}")
        if self.fx <= 0 or self.fy <= 0:
            raise InputError(
                f"focal lengths must be positive pixels, got fx={self.fx:g}, fy={self.fy:g}; "
                "pass (fx, fy, cx, cy) in pixels, a 3x3 matrix K, or a field of view in degrees"
            )
        if self.cx < 0 or self.cy < 0:
            raise InputError(
                f"principal point must have non-negative pixel coordinates, got cx={self.cx:g}, cy={self.cy:g}; "
                "cx, cy are pixels from the top-left corner (about width/2, height/2)"
            )

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, sx: float, sy: float) -> Intrinsics:
        """Intrinsics for the image resized by ``sx`` horizontally and ``sy`` vertically."""
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5)

    def to_dict(self) -> dict[str, float]:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}

    @classmethod
    def from_fov(cls, fov_deg: float, size: tuple[int, int], axis: str = "x") -> Intrinsics:
        """Square pixels, principal point at the centre, field of view ``fov_deg`` along ``axis``.

        ``size`` is (H, W); ``axis`` is "x" (horizontal, default) or "y" (vertical).
        """
        fov = _number(fov_deg, "field of view")
        if not 0.0 < fov < 180.0:
            raise InputError(f"field of view must be in (0, 180) degrees, got {fov:g}")
        h, w = int(size[0]), int(size[1])
        if h <= 0 or w <= 0:
            raise InputError(f"image size must be positive to use a field of view, got {w}x{h}")
        extent = w if axis == "x" else h
        f = 0.5 * extent / math.tan(math.radians(fov) / 2.0)
        return cls(f, f, (w - 1) / 2.0, (h - 1) / 2.0)


def _number(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(v):
        raise InputError(f"{what} must be finite, got {value!r}")
    return v


def as_intrinsics(value: Any, size: tuple[int, int] | None = None) -> Intrinsics:
    """Parse intrinsics from any accepted form (see the module docstring).

    ``size`` (H, W) is needed for a field of view or a dict that omits ``cx``/``cy``
    (the principal point then defaults to the image centre).
    """
    if isinstance(value, Intrinsics):
        return value
    if value is None:
        raise InputError(
            "intrinsics are required: pass (fx, fy, cx, cy), a 3x3 matrix K, or a field of view in degrees"
        )
    if isinstance(value, Mapping):
        return _from_mapping(value, size)
    if isinstance(value, (int, float, np.integer, np.floating)):
        if size is None:
            raise InputError("a field of view needs the image size to become intrinsics")
        return Intrinsics.from_fov(float(value), size)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot read intrinsics from {value!r}; pass (fx, fy, cx, cy) or a 3x3 matrix") from exc
    if arr.shape == (3, 3):
        if not np.allclose(arr[2], [0.0, 0.0, 1.0]) or abs(arr[1, 0]) > 1e-9:
            raise InputError(
                f"a camera matrix K must look like [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {arr.tolist()}"
            )
        return Intrinsics(float(arr[0, 0]), float(arr[1, 1]), float(arr[0, 2]), float(arr[1, 2]))
    if arr.shape == (4,):
        return Intrinsics(*(float(v) for v in arr))
    if arr.shape == (1,) and size is not None:
        return Intrinsics.from_fov(float(arr[0]), size)
    raise InputError(
        f"intrinsics have shape {arr.shape}; expected 4 numbers (fx, fy, cx, cy), a 3x3 matrix K, "
        "a dict, or one number (horizontal field of view in degrees)"
    )


def _from_mapping(d: Mapping[str, Any], size: tuple[int, int] | None) -> Intrinsics:
    keys = {str(k).lower(): v for k, v in d.items()}
    for fov_key, axis in (("fov", "x"), ("fov_x", "x"), ("hfov", "x"), ("fov_y", "y"), ("vfov", "y")):
        if fov_key in keys:
            if size is None:
                raise InputError("a field of view needs the image size to become intrinsics")
            return Intrinsics.from_fov(_number(keys[fov_key], fov_key), size, axis=axis)
    f = keys.get("f", keys.get("focal", keys.get("focal_length")))
    fx = keys.get("fx", f)
    fy = keys.get("fy", fx)
    if fx is None:
        raise InputError(f"intrinsics dict needs fx (and fy, cx, cy) or fov, got keys {sorted(keys)}")
    cx, cy = keys.get("cx"), keys.get("cy")
    if cx is None or cy is None:
        if size is None:
            raise InputError(
                "intrinsics dict without cx, cy needs the image size (the principal point defaults to the centre)"
            )
        h, w = int(size[0]), int(size[1])
        cx = (w - 1) / 2.0 if cx is None else cx
        cy = (h - 1) / 2.0 if cy is None else cy
    return Intrinsics(_number(fx, "fx"), _number(fy, "fy"), _number(cx, "cx"), _number(cy, "cy"))


def as_pose(value: Any) -> np.ndarray:
    """A camera-to-world pose as a 4x4 float64 matrix; accepts 4x4, 3x4 or None (identity).

    The rotation block must be orthonormal with determinant +1 (within 1e-3).
    """
    if value is None:
        return np.eye(4)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"a pose must be a 4x4 or 3x4 matrix of numbers, got {value!r}") from exc
    if arr.shape == (3, 4):
        arr = np.vstack([arr, [0.0, 0.0, 0.0, 1.0]])
    if arr.shape != (4, 4):
        raise InputError(f"a pose must be a 4x4 or 3x4 camera-to-world matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError("a pose contains NaN or infinite values")
    rot = arr[:3, :3]
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-3) or abs(np.linalg.det(rot) - 1.0) > 1e-3:
        raise InputError("a pose's 3x3 rotation block must be orthonormal with determinant +1 (a proper rotation)")
    if not np.allclose(arr[3], [0.0, 0.0, 0.0, 1.0]):
        raise InputError(f"a 4x4 pose must end with the row [0, 0, 0, 1], got {arr[3].tolist()}")
    return arr


@dataclass(frozen=True)
class StereoCalibration:
    """Rectified stereo calibration: depth = focal * baseline / (disparity + doffs).

    ``focal`` and the principal point in pixels; ``doffs`` is the difference of the two
    cameras' principal points x (pixels); ``baseline`` in the unit depth should come out in.
    """

    focal: float
    cx: float
    cy: float
    baseline: float
    doffs: float = 0.0

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics(self.focal, self.focal, self.cx, self.cy)


MOTORCYCLE_CALIBRATION = StereoCalibration(focal=994.978, cx=311.193, cy=254.877, baseline=0.193001, doffs=31.086)
"""Calibration of ``skimage.data.stereo_motorcycle`` (Middlebury 2014, downsampled 4x), from its
docstring; baseline in metres (193.001 mm) so depths come out in metres."""
