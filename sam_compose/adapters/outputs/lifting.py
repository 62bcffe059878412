"""Lifting masks into 3D: mask + depth + intrinsics -> an object point cloud.

``lift_to_3d(masks, depth, intrinsics, image=None)`` back-projects every masked pixel
with valid depth through the pinhole model of :mod:`.camera` (camera frame: x right,
y down, z forward; units of the depth map, metres in this project), colours the points
from ``image``, removes outliers per object and returns a :class:`PointCloud`.
:func:`fuse` merges clouds of several views given their camera-to-world poses.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ...errors import InputError
from ...masks import Masks
from .camera import Intrinsics, as_intrinsics, as_pose
from .depth import load_depth
from .pointcloud_io import glb_bytes, read_glb_points, read_ply, write_glb, write_ply

OUTLIER_METHODS = ("statistical", "radius", "cluster", "none")


@dataclass(frozen=True)
class OrientedBox:
    """An oriented bounding box: ``center`` (3,), ``axes`` (3, 3) with one unit axis per
    column (descending spread, right-handed) and ``size`` (3,) full edge lengths along them."""

    center: np.ndarray
    axes: np.ndarray
    size: np.ndarray

    @property
    def corners(self) -> np.ndarray:
        """(8, 3) corner coordinates."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
        return self.center + (signs * (self.size / 2.0)) @ self.axes.T

    @property
    def volume(self) -> float:
        return float(np.prod(self.size))

    def to_dict(self) -> dict[str, Any]:
        return {"center": self.center.tolist(), "axes": self.axes.tolist(), "size": self.size.tolist()}


class PointCloud:
    """Points with optional colours and per-point object labels.

    Attributes:
        points: (N, 3) float32 coordinates (camera or world frame, metres).
        colors: (N, 3) uint8 RGB or None.
        labels: (N,) int32 index of the mask (object) each point came from, or None.
        data: provenance (``intrinsics``, ``frame``, ``units``, counts of removed points).
    """

    __slots__ = ("points", "colors", "labels", "data")

    def __init__(self, points: Any, colors: Any = None, labels: Any = None,
                 data: Mapping[str, Any] | None = None) -> None:
        pts = np.asarray(points, dtype=np.float32)
        if pts.size == 0:
            pts = pts.reshape(0, 3)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise InputError(f"points must have shape (N, 3), got {pts.shape}")
        n = len(pts)
        cols = None
        if colors is not None:
            cols = np.asarray(colors)
            if cols.shape != (n, 3):
                raise InputError(f"colors must have shape ({n}, 3), got {cols.shape}")
            if cols.dtype != np.uint8:
                if np.issubdtype(cols.dtype, np.floating) and cols.size and cols.max() <= 1.0:
                    cols = np.round(cols * 255.0)
                cols = np.clip(cols, 0, 255).astype(np.uint8)
        labs = None
        if labels is not None:
            labs = np.asarray(labels, dtype=np.int32).reshape(-1)
            if labs.shape != (n,):
                raise InputError(f"labels must have shape ({n},), got {labs.shape}")
        self.points = pts
        self.colors = cols
        self.labels = labs
        self.data: dict[str, Any] = dict(data or {})

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def __repr__(self) -> str:
        return f"PointCloud(n={len(self)}, colors={self.colors is not None}, extents={np.round(self.extents, 4).tolist()})"

    # --- geometry -----------------------------------------------------------------------
    def _require_points(self, what: str) -> np.ndarray:
        if len(self) == 0:
            raise InputError(f"{what} of an empty point cloud is undefined")
        return self.points.astype(np.float64)

    @property
    def centroid(self) -> np.ndarray:
        """(3,) mean of the points."""
        return self._require_points("the centroid").mean(axis=0)

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3): minimum and maximum corner of the axis-aligned box."""
        p = self._require_points("the bounds")
        return np.stack([p.min(axis=0), p.max(axis=0)])

    @property
    def extents(self) -> np.ndarray:
        """(3,) axis-aligned size (max - min) along x, y, z; zeros when empty."""
        if len(self) == 0:
            return np.zeros(3)
        b = self.bounds
        return b[1] - b[0]

    def oriented_box(self) -> OrientedBox:
        """Oriented bounding box from PCA: the axes are the principal directions of the points."""
        p = self._require_points("the oriented box")
        mean = p.mean(axis=0)
        centred = p - mean
        cov = centred.T @ centred / max(len(p) - 1, 1)
        _, vecs = np.linalg.eigh(cov)
        axes = vecs[:, ::-1].copy()  # descending variance
        if np.linalg.det(axes) < 0:
            axes[:, 2] *= -1.0
        local = centred @ axes
        lo, hi = local.min(axis=0), local.max(axis=0)
        center = mean + axes @ ((lo + hi) / 2.0)
        return OrientedBox(center=center, axes=axes, size=hi - lo)

    # --- editing ------------------------------------------------------------------------
    def select(self, keep: Any) -> "PointCloud":
        """The points where ``keep`` (a boolean or index array) selects."""
        return PointCloud(self.points[keep], None if self.colors is None else self.colors[keep],
                          None if self.labels is None else self.labels[keep], self.data)

    def split(self) -> dict[int, "PointCloud"]:
        """One cloud per label (object)."""
        if self.labels is None:
            return {0: self}
        return {int(k): self.select(self.labels == k) for k in np.unique(self.labels)}

    def transform(self, pose: Any) -> "PointCloud":
        """The cloud mapped by a 4x4 (or 3x4) rigid transform, e.g. a camera-to-world pose."""
        T = as_pose(pose)
        pts = self.points.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
        return PointCloud(pts, self.colors, self.labels, self.data)

    def remove_outliers(self, method: str = "statistical", *, neighbors: int = 20, std_ratio: float = 2.0,
                        radius: float | None = None, min_neighbors: int = 5) -> "PointCloud":
        """Drop outliers, per label.

        ``statistical``: drop points whose mean distance to their ``neighbors`` nearest points
        exceeds the mean of that statistic by ``std_ratio`` standard deviations.
        ``radius``: drop points with fewer than ``min_neighbors`` others within ``radius``
        (default: 4x the median nearest-neighbour distance). ``cluster``: keep the largest
        group of points linked by gaps under ``radius`` (same default): drops background
        that a mask leaked onto, across a depth discontinuity. ``none``: keep everything.
        """
        method = str(method).lower()
        if method not in OUTLIER_METHODS:
            raise InputError(f"unknown outlier method {method!r}; choose one of {', '.join(OUTLIER_METHODS)}")
        if method == "none" or len(self) == 0:
            return self
        keep = np.ones(len(self), dtype=bool)
        groups = [np.arange(len(self))] if self.labels is None else [np.flatnonzero(self.labels == k) for k in np.unique(self.labels)]
        for idx in groups:
            keep[idx] = _inliers(self.points[idx].astype(np.float64), method, neighbors, std_ratio, radius, min_neighbors)
        out = self.select(keep)
        out.data = {**self.data, "outliers_removed": int((~keep).sum()) + int(self.data.get("outliers_removed", 0))}
        return out

    def voxel_downsample(self, voxel: float) -> "PointCloud":
        """One point per occupied voxel of edge ``voxel``: the mean position and colour (per label)."""
        if not (np.isfinite(voxel) and voxel > 0):
            raise InputError(f"voxel size must be positive, got {voxel!r}")
        if len(self) == 0:
            return self
        keys = np.floor(self.points.astype(np.float64) / voxel).astype(np.int64)
        if self.labels is not None:
            keys = np.concatenate([keys, self.labels[:, None].astype(np.int64)], axis=1)
        _, inv, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        m = len(counts)
        pts = np.zeros((m, 3))
        np.add.at(pts, inv, self.points.astype(np.float64))
        pts /= counts[:, None]
        cols = None
        if self.colors is not None:
            c = np.zeros((m, 3))
            np.add.at(c, inv, self.colors.astype(np.float64))
            cols = np.round(c / counts[:, None]).astype(np.uint8)
        labs = None
        if self.labels is not None:
            labs = np.zeros(m, dtype=np.int32)
            labs[inv] = self.labels
        return PointCloud(pts, cols, labs, self.data)

    @classmethod
    def concat(cls, clouds: Sequence["PointCloud"]) -> "PointCloud":
        """All points of ``clouds`` in one cloud (colours kept only if every cloud has them)."""
        clouds = list(clouds)
        if not clouds:
            raise InputError("PointCloud.concat needs at least one cloud")
        pts = np.concatenate([c.points for c in clouds])
        cols = np.concatenate([c.colors for c in clouds]) if all(c.colors is not None for c in clouds) else None
        labs = np.concatenate([c.labels for c in clouds]) if all(c.labels is not None for c in clouds) else None
        return cls(pts, cols, labs, clouds[0].data)

    # --- files ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, binary: bool = True, gltf_axes: bool = True,
             splat: float | None = None) -> Path:
        """Write ``.ply`` (binary unless ``binary=False``; labels as an ``int label`` property)
        or ``.glb`` (glTF 2.0 points for ``gr.Model3D``; y and z flipped to glTF's axes;
        ``splat`` = size of a small octahedron drawn per point, for viewers that draw
        points one pixel wide)."""
        suffix = Path(path).suffix.lower()
        if suffix == ".ply":
            extra = {"label": self.labels} if self.labels is not None else None
            return write_ply(path, self.points, self.colors, binary=binary, extra=extra)
        if suffix in (".glb", ".gltf"):
            if suffix == ".gltf":
                raise InputError("write .glb (binary glTF with the buffer embedded), not .gltf")
            return write_glb(path, self.points, self.colors, gltf_axes=gltf_axes, splat=splat)
        raise InputError(f"unknown point cloud file type {suffix or path!r}; use .ply or .glb")

    def to_glb(self, *, gltf_axes: bool = True, splat: float | None = None) -> bytes:
        """The bytes :meth:`save` writes to a ``.glb`` file."""
        return glb_bytes(self.points, self.colors, gltf_axes=gltf_axes, splat=splat)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PointCloud":
        """Read a ``.ply`` or ``.glb`` written by :meth:`save` (or any vertex PLY / points GLB)."""
        suffix = Path(path).suffix.lower()
        if not Path(path).is_file():
            raise InputError(f"point cloud file not found: {path}")
        if suffix == ".ply":
            d = read_ply(path)
            return cls(d["points"], d.get("colors"), d.get("label"))
        if suffix == ".glb":
            pts, cols = read_glb_points(path)
            return cls(pts, cols)
        raise InputError(f"unknown point cloud file type {suffix!r}; use .ply or .glb")

    def summary(self) -> dict[str, Any]:
        """JSON-friendly facts: count, centroid, extents, oriented box."""
        out: dict[str, Any] = {"points": len(self)}
        if len(self):
            out.update(centroid=self.centroid.tolist(), extents=self.extents.tolist(),
                       oriented_box=self.oriented_box().to_dict())
        return out


def _inliers(p: np.ndarray, method: str, neighbors: int, std_ratio: float, radius: float | None,
             min_neighbors: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    n = len(p)
    if n < 3:
        return np.ones(n, dtype=bool)
    tree = cKDTree(p)
    if method == "statistical":
        k = min(int(neighbors), n - 1)
        dist, _ = tree.query(p, k=k + 1, workers=-1)
        mean = dist[:, 1:].mean(axis=1)
        return mean <= mean.mean() + float(std_ratio) * mean.std()
    if radius is None:
        nn, _ = tree.query(p, k=2, workers=-1)
        radius = 4.0 * float(np.median(nn[:, 1])) or 1e-9
    if method == "cluster":
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        pairs = tree.query_pairs(r=float(radius), output_type="ndarray")
        graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        return comp == np.argmax(np.bincount(comp))
    counts = tree.query_ball_point(p, r=float(radius), return_length=True, workers=-1) - 1
    return counts >= int(min_neighbors)


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
            raise InputError(f"image is {colors_img.shape[1]}x{colors_img.shape[0]} but the masks are {w}x{h}; "
                             "pass the image the masks were computed on")
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
        np.concatenate(pts_all), np.concatenate(cols_all) if cols_all else None, np.concatenate(labs_all),
        data={"intrinsics": K.to_dict(), "units": "m", "frame": "camera" if pose is None else "world",
              "skipped_masks": skipped},
    )
    cloud = cloud.remove_outliers(outliers, neighbors=neighbors, std_ratio=std_ratio, radius=radius,
                                  min_neighbors=min_neighbors)
    if pose is not None:
        cloud = cloud.transform(pose)
        cloud.data["frame"] = "world"
    return cloud


def fuse(clouds: Iterable[PointCloud], poses: Iterable[Any] | None = None, *,
         voxel: float | None = None) -> PointCloud:
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
        clouds.append(lift_to_3d(view["masks"], view["depth"], view["intrinsics"], view.get("image"),
                                 pose=view.get("pose", np.eye(4)), **options))
    return fuse(clouds, voxel=voxel)


__all__ = ["PointCloud", "OrientedBox", "lift_to_3d", "fuse", "lift_views", "Intrinsics"]
