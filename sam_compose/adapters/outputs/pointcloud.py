"""The point cloud type: :class:`PointCloud` (points, colours, object ids) and its
:class:`OrientedBox`; outlier removal, voxel downsampling and files (PLY, GLB via
:mod:`.pointcloud_io`). Camera frame: x right, y down, z forward; metres in this project.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from .camera import as_pose
from .pointcloud_io import glb_bytes, read_glb_points, read_ply, write_glb, write_ply

__all__ = ["OUTLIER_METHODS", "OrientedBox", "PointCloud"]

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

    __slots__ = ("colors", "data", "labels", "points")

    def __init__(
        self, points: Any, colors: Any = None, labels: Any = None, data: Mapping[str, Any] | None = None
    ) -> None:
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
        return (
            f"PointCloud(n={len(self)}, colors={self.colors is not None}, extents={np.round(self.extents, 4).tolist()})"
        )

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
    def select(self, keep: Any) -> PointCloud:
        """The points where ``keep`` (a boolean or index array) selects."""
        return PointCloud(
            self.points[keep],
            None if self.colors is None else self.colors[keep],
            None if self.labels is None else self.labels[keep],
            self.data,
        )

    def split(self) -> dict[int, PointCloud]:
        """One cloud per label (object)."""
        if self.labels is None:
            return {0: self}
        return {int(k): self.select(self.labels == k) for k in np.unique(self.labels)}

    def transform(self, pose: Any) -> PointCloud:
        """The cloud mapped by a 4x4 (or 3x4) rigid transform, e.g. a camera-to-world pose."""
        T = as_pose(pose)
        pts = self.points.astype(np.float64) @ T[:3, :3].T + T[:3, 3]
        return PointCloud(pts, self.colors, self.labels, self.data)

    def remove_outliers(
        self,
        method: str = "statistical",
        *,
        neighbors: int = 20,
        std_ratio: float = 2.0,
        radius: float | None = None,
        min_neighbors: int = 5,
    ) -> PointCloud:
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
        groups = (
            [np.arange(len(self))]
            if self.labels is None
            else [np.flatnonzero(self.labels == k) for k in np.unique(self.labels)]
        )
        for idx in groups:
            keep[idx] = _inliers(
                self.points[idx].astype(np.float64), method, neighbors, std_ratio, radius, min_neighbors
            )
        out = self.select(keep)
        out.data = {**self.data, "outliers_removed": int((~keep).sum()) + int(self.data.get("outliers_removed", 0))}
        return out

    def voxel_downsample(self, voxel: float) -> PointCloud:
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
    def concat(cls, clouds: Sequence[PointCloud]) -> PointCloud:
        """All points of ``clouds`` in one cloud (colours kept only if every cloud has them)."""
        clouds = list(clouds)
        if not clouds:
            raise InputError("PointCloud.concat needs at least one cloud")
        pts = np.concatenate([c.points for c in clouds])
        cols = np.concatenate([c.colors for c in clouds]) if all(c.colors is not None for c in clouds) else None
        labs = np.concatenate([c.labels for c in clouds]) if all(c.labels is not None for c in clouds) else None
        return cls(pts, cols, labs, clouds[0].data)

    # --- files ----------------------------------------------------------------------------
    def save(
        self, path: str | os.PathLike, *, binary: bool = True, gltf_axes: bool = True, splat: float | None = None
    ) -> Path:
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
    def load(cls, path: str | os.PathLike) -> PointCloud:
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
            out.update(
                centroid=self.centroid.tolist(),
                extents=self.extents.tolist(),
                oriented_box=self.oriented_box().to_dict(),
            )
        return out


def _inliers(
    p: np.ndarray, method: str, neighbors: int, std_ratio: float, radius: float | None, min_neighbors: int
) -> np.ndarray:
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
