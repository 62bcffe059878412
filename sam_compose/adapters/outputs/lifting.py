"""Lifting masks into 3D: mask + depth + intrinsics -> an object point cloud.

``lift_to_3d(masks, depth, intrinsics, image=None)`` back-projects every masked pixel
with valid depth through the pinhole model of :mod:`.camera` (camera frame: x right,
y down, z forward; units of the depth map, metres in this project), colours the points
from ``image``, removes outliers per object and returns a :class:`PointCloud`.
:func:`fuse` merges clouds of several views given their camera-to-world poses. The
:class:`PointCloud` type lives in :mod:`.pointcloud`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ...errors import InputError
from ...masks import Masks
from .camera import Intrinsics, as_intrinsics
from .depth import load_depth
from .pointcloud import OrientedBox, PointCloud


def _mask_stack(masks: Any) -> np.ndarray:
    if isinstance(masks, Masks):
        return masks.masks
    m = np.asarray(masks)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise InputError(f"masks must be a Masks result or an (H, W) / (N, H, W) boolean array, got shape {m.shape}")
    return m.astype(bool)


def _fit_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``depth`` (nearest neighbour) to ``size`` when the aspect ratios agree."""
    import cv2

    h, w = size
    dh, dw = depth.shape
    if (dh, dw) == (h, w):
        return depth
    if abs(dw / dh - w / h) > 0.02 * (w / h):
        raise InputError(
            f"depth map is {dw}x{dh} but the masks are {w}x{h} with a different aspect ratio; "
            "give a depth map aligned with the image (same size, or the same aspect ratio to be resized)"
        )
    warnings.warn(f"depth map is {dw}x{dh}, the masks {w}x{h}: resizing depth (nearest neighbour)", stacklevel=3)
    return cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)


def lift_to_3d(
    masks: Any,
    depth: Any,
    intrinsics: Any,
    image: Any = None,
    *,
    outliers: str = "statistical",
    neighbors: int = 20,
    std_ratio: float = 2.0,
    radius: float | None = None,
    min_neighbors: int = 5,
    erode: int = 0,
    depth_range: tuple[float, float] | None = None,
    max_points: int | None = None,
    pose: Any = None,
) -> PointCloud:
    """Back-project masked pixels with valid depth into a coloured, cleaned point cloud.

    Args:
        masks: :class:`~sam_compose.masks.Masks` or an (H, W) / (N, H, W) boolean array.
            Point ``labels`` are mask row indices.
        depth: (H, W) z-depth in metres (NaN/0 = unknown) or a file for :func:`load_depth`.
            A map of another size with the same aspect ratio is resized (nearest).
        intrinsics: (fx, fy, cx, cy), a dict, a 3x3 K, or a horizontal field of view in
            degrees, for the masks' resolution (see :func:`.camera.as_intrinsics`).
        image: optional (H, W, 3) image (anything ``load_image`` reads) for colours.
        outliers: ``"statistical"`` (default), ``"radius"`` or ``"none"``; see
            :meth:`PointCloud.remove_outliers` for ``neighbors``, ``std_ratio``, ``radius``,
            ``min_neighbors``.
        erode: shrink each mask by this many pixels first (drops depth-edge "flying pixels").
        depth_range: keep only depths within (near, far) metres.
        max_points: subsample each object evenly to at most this many points.
        pose: camera-to-world 4x4 pose; the cloud is returned in world coordinates.

    Raises :class:`InputError` when no mask has any pixel, or when no masked pixel has depth.
    Masks without valid depth are skipped with a warning.
    """
    import cv2

    if not isinstance(erode, (int, np.integer)) or isinstance(erode, bool) or erode < 0:
        raise InputError(f"erode must be a whole number of pixels >= 0, got {erode!r}")
    if max_points is not None and (not isinstance(max_points, (int, np.integer)) or max_points < 1):
        raise InputError(f"max_points must be a whole number >= 1 or None, got {max_points!r}")
    m = _mask_stack(masks)
    n, h, w = m.shape
    if n == 0 or not m.any():
        raise InputError("the masks are empty: there are no pixels to lift into 3D")
    d = load_depth(depth)
    d = _fit_depth(d, (h, w))
    K = as_intrinsics(intrinsics, size=(h, w))
    colors_img = None
    if image is not None:
        from ...image_io import load_image

        colors_img = load_image(image)
        if colors_img.shape[:2] != (h, w):
            raise InputError(
                f"image is {colors_img.shape[1]}x{colors_img.shape[0]} but the masks are {w}x{h}; "
                "pass the image the masks were computed on"
            )
    valid = np.isfinite(d)
    if depth_range is not None:
        near, far = float(depth_range[0]), float(depth_range[1])
        if not 0 <= near < far:
            raise InputError(f"depth_range must be (near, far) with 0 <= near < far, got {depth_range!r}")
        valid &= (d >= near) & (d <= far)
    kernel = np.ones((2 * erode + 1, 2 * erode + 1), np.uint8) if erode > 0 else None
    pts_all, cols_all, labs_all, skipped = [], [], [], []
    for i in range(n):
        mi = m[i]
        if kernel is not None:
            mi = cv2.erode(mi.astype(np.uint8), kernel).astype(bool)
        sel = mi & valid
        if not sel.any():
            skipped.append(i)
            continue
        v, u = np.nonzero(sel)
        if max_points is not None and len(u) > max_points:
            idx = np.linspace(0, len(u) - 1, int(max_points)).astype(np.int64)
            v, u = v[idx], u[idx]
        z = d[v, u].astype(np.float64)
        x = (u - K.cx) * z / K.fx
        y = (v - K.cy) * z / K.fy
        pts_all.append(np.stack([x, y, z], axis=1))
        labs_all.append(np.full(len(z), i, np.int32))
        if colors_img is not None:
            cols_all.append(colors_img[v, u])
    if not pts_all:
        raise InputError(
            f"no masked pixel has a valid depth ({int(m.sum())} masked pixels, all NaN, zero or out of range); "
            "check that the depth map is aligned with the image"
        )
    if skipped:
        warnings.warn(f"masks {skipped} have no pixel with valid depth and were skipped", stacklevel=2)
    cloud = PointCloud(
        np.concatenate(pts_all),
        np.concatenate(cols_all) if cols_all else None,
        np.concatenate(labs_all),
        data={
            "intrinsics": K.to_dict(),
            "units": "m",
            "frame": "camera" if pose is None else "world",
            "skipped_masks": skipped,
        },
    )
    cloud = cloud.remove_outliers(
        outliers, neighbors=neighbors, std_ratio=std_ratio, radius=radius, min_neighbors=min_neighbors
    )
    if pose is not None:
        cloud = cloud.transform(pose)
        cloud.data["frame"] = "world"
    return cloud


def fuse(clouds: Iterable[PointCloud], poses: Iterable[Any] | None = None, *, voxel: float | None = None) -> PointCloud:
    """Merge clouds from several views into one world-frame cloud.

    ``poses`` are camera-to-world 4x4 matrices, one per cloud (omit when the clouds are
    already in world coordinates). ``voxel`` merges points closer than a voxel edge.
    """
    clouds = list(clouds)
    if not clouds:
        raise InputError("fuse needs at least one point cloud")
    if poses is not None:
        poses = list(poses)
        if len(poses) != len(clouds):
            raise InputError(f"fuse got {len(clouds)} clouds but {len(poses)} poses; give one pose per view")
        clouds = [c.transform(p) for c, p in zip(clouds, poses)]
    out = PointCloud.concat(clouds)
    out.data = {**out.data, "frame": "world", "views": len(clouds)}
    return out.voxel_downsample(voxel) if voxel else out


def lift_views(views: Iterable[Mapping[str, Any]], *, voxel: float | None = None, **options: Any) -> PointCloud:
    """Lift several views and fuse them: each view is a dict with ``masks``, ``depth``,
    ``intrinsics``, ``pose`` (camera-to-world) and optionally ``image``; ``options`` go to
    :func:`lift_to_3d`."""
    clouds = []
    for j, view in enumerate(views):
        missing = {"masks", "depth", "intrinsics"} - set(view)
        if missing:
            raise InputError(f"view {j} lacks {sorted(missing)}; each view needs masks, depth, intrinsics, pose")
        clouds.append(
            lift_to_3d(
                view["masks"],
                view["depth"],
                view["intrinsics"],
                view.get("image"),
                pose=view.get("pose", np.eye(4)),
                **options,
            )
        )
    return fuse(clouds, voxel=voxel)


__all__ = ["Intrinsics", "OrientedBox", "PointCloud", "fuse", "lift_to_3d", "lift_views"]
