"""Output nodes: inpaint, depth, lift3d, save_pointcloud, export.

Thin wrappers over :mod:`sam_compose.adapters.outputs` (inpainting, depth, lifting,
exports). Relative output paths go under ``--out DIR`` (see :func:`output_path`);
input files are resolved next to the graph file (:func:`input_path`).
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .api import Param, file_stamp, input_path, node, output_path
from .ports import Depth, FilePath, Image, Masks, PointCloud

SAMPLE_MOTORCYCLE = "sample:motorcycle"


@node(
    "inpaint",
    category="outputs",
    description="Remove the masked objects from the image and fill them from their surroundings.",
)
def inpaint_node(
    image: Image,
    masks: Masks,
    *,
    method: str = Param(
        "telea",
        choices=("telea", "ns", "diffusers"),
        description="OpenCV Telea or Navier-Stokes, or Stable Diffusion (optional)",
    ),
    radius: int = Param(5, ge=1, le=100, description="OpenCV inpainting radius in pixels"),
    dilate: int = Param(3, ge=0, le=100, description="grow the mask by this many pixels first"),
    feather: int = Param(0, ge=0, le=100, description="blend the fill into the image over this many pixels"),
    prompt: str = Param("", description="diffusers only: what to paint instead"),
    model: str = Param(
        "stabilityai/stable-diffusion-2-inpainting",
        kind="model",
        description="diffusers only: inpainting model id or folder",
    ),
) -> Image:
    from ..adapters.outputs.inpainting import inpaint

    return inpaint(
        image, masks, method=method, radius=radius, dilate=dilate, feather=feather, prompt=prompt, model=model
    )


@node(
    "depth",
    category="inputs",
    cache_key=file_stamp,
    description="A depth map in metres: from a file (16-bit PNG mm, .npy m, .pfm disparity), from "
    "sample:motorcycle (ground-truth stereo disparity + calibration), from stereo matching "
    "with a right image, or from a monocular model.",
)
def depth_node(
    image: Image | None = None,
    *,
    source: str = Param(
        "file",
        choices=("file", "stereo", "monocular"),
        description="file: read path; stereo: match image with the right image at path; "
        "monocular: estimate from image with model",
    ),
    path: str | None = Param(
        None, kind="path_in", description="depth file, sample:motorcycle, or (stereo) the right image"
    ),
    scale: float | None = Param(None, gt=0, description="metres per stored unit (default: mm for 16-bit PNG)"),
    calibration: dict[str, float] | None = Param(
        None, description="stereo/disparity: {focal, baseline (m), doffs, cx, cy}; default: the motorcycle's"
    ),
    max_disparity: int = Param(128, ge=16, le=1024, description="stereo: largest disparity searched"),
    model: str = Param(
        "depth-anything/Depth-Anything-V2-Small-hf",
        kind="model",
        description="monocular: transformers depth model id or folder",
    ),
) -> Depth:
    from ..adapters.outputs import depth as D
    from ..adapters.outputs.camera import MOTORCYCLE_CALIBRATION, StereoCalibration

    calib = MOTORCYCLE_CALIBRATION if calibration is None else _calibration(calibration, StereoCalibration)
    if source == "monocular":
        if image is None:
            raise InputError("depth: source 'monocular' needs the image input wired")
        return D.estimate_depth(image, model=model)
    if not path:
        raise InputError(f"depth: source {source!r} needs path (a depth file, sample:motorcycle or the right image)")
    if source == "stereo":
        if image is None:
            raise InputError("depth: source 'stereo' needs the left image wired to the image input")
        from ..image_io import load_image

        right = load_image("sample:motorcycle_right" if path == SAMPLE_MOTORCYCLE else input_path(path))
        return D.depth_from_disparity(D.disparity_sgbm(image, right, max_disparity=max_disparity), calib)
    if path == SAMPLE_MOTORCYCLE:
        from skimage import data

        return D.depth_from_disparity(data.stereo_motorcycle()[2], calib)
    return D.load_depth(input_path(path), scale=scale, calibration=calib if path.lower().endswith(".pfm") else None)


def _calibration(d: dict[str, float], cls: Any) -> Any:
    missing = {"focal", "baseline"} - set(d)
    if missing:
        raise InputError(f"calibration needs focal (px) and baseline (m); missing {sorted(missing)}")
    unknown = set(d) - {"focal", "baseline", "doffs", "cx", "cy"}
    if unknown:
        raise InputError(f"unknown calibration keys {sorted(unknown)}; use focal, baseline, doffs, cx, cy")
    return cls(
        focal=float(d["focal"]),
        baseline=float(d["baseline"]),
        doffs=float(d.get("doffs", 0.0)),
        cx=float(d.get("cx", 0.0)),
        cy=float(d.get("cy", 0.0)),
    )


@node(
    "lift3d",
    category="outputs",
    description="Lift masks into a coloured 3D point cloud from depth and camera intrinsics.",
)
def lift3d_node(
    masks: Masks,
    depth: Depth,
    image: Image | None = None,
    *,
    intrinsics: Any = Param(
        description="[fx, fy, cx, cy] px, {fx, fy, cx, cy}, 3x3 K, a horizontal "
        "field of view in degrees, or sample:motorcycle"
    ),
    outliers: str = Param(
        "statistical",
        choices=("statistical", "radius", "cluster", "none"),
        description="outlier removal per object (cluster: drop background a mask leaked onto, behind a depth jump)",
    ),
    erode: int = Param(0, ge=0, le=50, description="shrink masks first (drops depth-edge pixels)"),
    max_points: int | None = Param(None, ge=1, description="subsample each object to at most this many"),
    pose: list[list[float]] | None = Param(None, description="camera-to-world 4x4 pose (world frame)"),
) -> PointCloud:
    from ..adapters.outputs.lifting import lift_to_3d

    if intrinsics == SAMPLE_MOTORCYCLE:
        from ..adapters.outputs.camera import MOTORCYCLE_CALIBRATION

        intrinsics = MOTORCYCLE_CALIBRATION.intrinsics
    return lift_to_3d(masks, depth, intrinsics, image, outliers=outliers, erode=erode, max_points=max_points, pose=pose)


@node(
    "save_pointcloud",
    category="outputs",
    cacheable=False,
    description="Write a point cloud as .ply (binary or ASCII) or .glb (for gr.Model3D and glTF viewers).",
)
def save_pointcloud_node(
    cloud: PointCloud,
    *,
    path: str = Param(kind="path_out", description="output file ending in .ply or .glb"),
    ascii: bool = Param(False, description="PLY only: ASCII instead of binary"),
    splat: float | None = Param(
        None,
        gt=0,
        description="GLB only: draw each point as an octahedron this big (metres), for viewers with 1-pixel points",
    ),
) -> FilePath:
    target = output_path(path)
    save = getattr(cloud, "save", None)
    if save is None:
        raise InputError("save_pointcloud: the input is not a sam_compose PointCloud")
    if splat is not None and target.suffix.lower() != ".glb":
        raise InputError("save_pointcloud: splat applies to .glb files only")
    return str(save(target, binary=not ascii, splat=splat)) if splat else str(save(target, binary=not ascii))


@node(
    "export",
    category="outputs",
    cacheable=False,
    description="Export masks: COCO JSON, PNG folder, polygons JSON, supervision .npz, or a provenance record.",
)
def export_node(
    masks: Masks,
    *,
    path: str = Param(
        kind="path_out", description="output file (coco, polygons, record: .json; supervision: .npz) or folder (png)"
    ),
    format: str = Param(
        "coco", choices=("coco", "png", "polygons", "supervision", "record"), description="export format"
    ),
    options: dict[str, Any] = Param(
        {}, description='format options, e.g. {"segmentation": "polygon"} or {"categories": [...]} for coco'
    ),
) -> FilePath:
    from ..adapters.outputs.exports import export_masks

    return str(export_masks(masks, output_path(path), format=format, **options))
