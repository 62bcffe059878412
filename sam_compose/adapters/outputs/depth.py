"""Depth maps: from a file, from stereo disparity, or from a monocular estimator.

A depth map here is an (H, W) ``float32`` array of z-depth (distance along the optical
axis, not along the ray) in **metres**; pixels without depth are ``NaN``.

* :func:`load_depth`: 16-bit PNG/TIFF in millimetres (0 = no depth), ``.npy``/``.npz`` in
  metres, PFM (Middlebury's format; disparity files are turned into depth with a
  calibration), or an array.
* :func:`depth_from_disparity`: ``depth = focal * baseline / (disparity + doffs)`` for a
  rectified stereo pair (Middlebury convention; ``doffs`` = difference of principal points).
* :func:`estimate_depth`: a monocular estimator (Depth Anything and friends) through
  transformers' ``AutoModelForDepthEstimation`` (what the ``depth-estimation`` pipeline
  runs, without importing the pipeline machinery), when its weights are available locally.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...engines.hub import download_hint, hub_offline, normalize_device, shared_model
from ...errors import EngineError, InputError, require
from .camera import StereoCalibration

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
"""Relative-depth model used when none is named (about 100 MB)."""

PNG_DEPTH_SCALE = 1000.0
"""16-bit depth PNGs hold millimetres (Kinect, RealSense, TUM, ScanNet convention)."""


def _as_depth_array(arr: Any, what: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim != 2:
        raise InputError(f"{what} must be a single-channel (H, W) map, got shape {a.shape}")
    if a.size == 0:
        raise InputError(f"{what} is empty (shape {a.shape})")
    if a.dtype == bool or not np.issubdtype(a.dtype, np.number):
        raise InputError(f"{what} must hold numbers, got dtype {a.dtype}")
    out = a.astype(np.float32)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def load_depth(source: Any, *, scale: float | None = None, calibration: StereoCalibration | None = None) -> np.ndarray:
    """Read a depth map in metres as (H, W) float32 with NaN where there is none.

    Args:
        source: a path (``.png``/``.tif`` 16-bit, ``.npy``, ``.npz`` with one array or a
            ``depth`` key, ``.pfm``) or an array already in metres.
        scale: metres per stored unit, overriding the default (1/1000 for integer images,
            1 for ``.npy``/``.npz``/float images).
        calibration: for a ``.pfm`` disparity file: converts disparity to depth.

    Zero, negative and non-finite values mean "no depth" and become NaN.
    """
    if scale is not None and not (isinstance(scale, (int, float, np.number)) and np.isfinite(scale) and scale > 0):
        raise InputError(f"depth scale must be a positive number of metres per unit, got {scale!r}")
    if isinstance(source, np.ndarray):
        depth = _as_depth_array(source, "depth array")
        return depth * np.float32(scale) if scale is not None else depth
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"cannot read depth from a {type(source).__name__}; pass a file path or an (H, W) array")
    path = Path(source)
    if not path.is_file():
        raise InputError(f"depth file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        raw = np.load(path, allow_pickle=False)
        default = 1.0
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            key = "depth" if "depth" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise InputError(f"{path.name} holds arrays {keys}; name the depth array 'depth'")
            raw = z[key]
        default = 1.0
    elif suffix == ".pfm":
        raw = read_pfm(path)
        if calibration is not None:
            return depth_from_disparity(raw, calibration)
        default = 1.0
    else:
        raw = _read_image_depth(path)
        default = 1.0 / PNG_DEPTH_SCALE if np.issubdtype(raw.dtype, np.integer) else 1.0
        if raw.dtype == np.uint8:
            warnings.warn(
                f"{path.name} is an 8-bit image: depth PNGs are normally 16-bit millimetres; "
                "reading it as millimetres (max 0.255 m); pass scale= if that is wrong",
                stacklevel=2,
            )
    depth = _as_depth_array(raw, f"depth file {path.name}")
    factor = default if scale is None else float(scale)
    return depth * np.float32(factor)


def _read_image_depth(path: Path) -> np.ndarray:
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError(f"{path} is not a depth image OpenCV can read (16-bit PNG or TIFF, .npy, .npz, .pfm)")
    if raw.ndim == 3:
        if (
            raw.shape[2] >= 3
            and np.array_equal(raw[:, :, 0], raw[:, :, 1])
            and np.array_equal(raw[:, :, 1], raw[:, :, 2])
        ):
            raw = raw[:, :, 0]
        else:
            raise InputError(
                f"{path.name} is a colour image; a depth file has one channel (a colourised depth "
                "visualisation cannot be turned back into depth)"
            )
    return raw


def save_depth_png(path: str | os.PathLike, depth: np.ndarray) -> Path:
    """Write depth in metres as a 16-bit PNG of millimetres (NaN -> 0, clipped to 65.535 m)."""
    import cv2

    d = np.asarray(depth, dtype=np.float64)
    mm = np.where(np.isfinite(d), np.round(d * PNG_DEPTH_SCALE), 0.0)
    mm = np.clip(mm, 0, 65535).astype(np.uint16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), mm):
        raise InputError(f"could not write {path}; use a .png path")
    return path


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """Read a PFM file (Middlebury disparity format) as (H, W) or (H, W, 3) float32, top row first."""
    with open(path, "rb") as f:
        header = f.readline().strip()
        if header not in (b"Pf", b"PF"):
            raise InputError(f"{path} is not a PFM file (header {header[:8]!r}, expected 'Pf' or 'PF')")
        dims = f.readline().split()
        scale = float(f.readline().strip())
        w, h = int(dims[0]), int(dims[1])
        channels = 3 if header == b"PF" else 1
        dtype = "<f4" if scale < 0 else ">f4"
        data = np.frombuffer(f.read(w * h * channels * 4), dtype=dtype)
    if data.size != w * h * channels:
        raise InputError(f"{path} is truncated: expected {w}x{h}x{channels} floats")
    arr = data.reshape(h, w, channels) if channels == 3 else data.reshape(h, w)
    return np.ascontiguousarray(arr[::-1]).astype(np.float32)


def depth_from_disparity(
    disparity: Any,
    calibration: StereoCalibration | None = None,
    *,
    focal: float | None = None,
    baseline: float | None = None,
    doffs: float = 0.0,
) -> np.ndarray:
    """Depth (units of ``baseline``) from a disparity map (pixels) of a rectified stereo pair.

    ``depth = focal * baseline / (disparity + doffs)``. Give a :class:`StereoCalibration`
    or ``focal`` (pixels) and ``baseline``. Non-finite disparities and pixels where
    ``disparity + doffs <= 0`` get NaN.
    """
    if calibration is not None:
        focal, baseline, doffs = calibration.focal, calibration.baseline, calibration.doffs
    if focal is None or baseline is None:
        raise InputError("depth_from_disparity needs a calibration or both focal (pixels) and baseline")
    if not (np.isfinite(focal) and focal > 0 and np.isfinite(baseline) and baseline > 0):
        raise InputError(f"focal and baseline must be positive, got focal={focal!r}, baseline={baseline!r}")
    d = np.asarray(disparity, dtype=np.float64)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2:
        raise InputError(f"disparity must be an (H, W) map, got shape {d.shape}")
    denom = d + float(doffs)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = float(focal) * float(baseline) / denom
    depth[~np.isfinite(depth) | (denom <= 0) | (depth <= 0)] = np.nan
    return depth.astype(np.float32)


def disparity_sgbm(left: np.ndarray, right: np.ndarray, max_disparity: int = 128, block: int = 5) -> np.ndarray:
    """Disparity (pixels, NaN where unknown) of a rectified pair with OpenCV's semi-global matcher."""
    import cv2

    left, right = np.asarray(left), np.asarray(right)
    if left.shape != right.shape:
        raise InputError(f"stereo images must have the same size, got {left.shape} and {right.shape}")
    num = int(np.ceil(max_disparity / 16.0) * 16)
    gl = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY) if left.ndim == 3 else left
    gr = cv2.cvtColor(right, cv2.COLOR_RGB2GRAY) if right.ndim == 3 else right
    matcher = cv2.StereoSGBM_create(
        minDisparity=0,
        numDisparities=num,
        blockSize=block,
        P1=8 * block * block,
        P2=32 * block * block,
        uniquenessRatio=10,
        speckleWindowSize=100,
        speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    disp = matcher.compute(gl, gr).astype(np.float32) / 16.0
    disp[disp <= 0] = np.nan
    return disp


def estimate_depth(
    image: Any, model: str = DEFAULT_DEPTH_MODEL, *, device: str | None = None, metric: bool | None = None
) -> np.ndarray:
    """Monocular depth for ``image`` with a transformers depth-estimation model, (H, W) float32.

    ``model`` is a Hugging Face id (Depth Anything V1/V2, DPT, ...) already in the local
    cache, or a local folder written by ``save_pretrained``. Metric models (name containing
    "metric", or ``metric=True``) return metres. Relative models predict inverse depth
    up to an affine scale; it is turned into depth up to scale, normalised to median 1.
    Lift such depth only for shapes, not sizes.

    Raises :class:`~sam_compose.errors.EngineError` within seconds when the weights are not
    available offline, naming how to download them.
    """
    from PIL import Image

    from ...image_io import load_image

    img = load_image(image)
    processor, net = _depth_model(str(model), device)  # fails fast offline, before importing torch
    import torch

    inputs = processor(images=Image.fromarray(img), return_tensors="pt").to(net.device)
    with torch.inference_mode():
        out = net(**inputs)
    post = getattr(processor, "post_process_depth_estimation", None)
    if post is not None:
        pred = post(out, target_sizes=[img.shape[:2]])[0]["predicted_depth"]
    else:  # older processors: the raw head output
        pred = out.predicted_depth[0]
    arr = np.squeeze(pred.detach().float().cpu().numpy())
    if arr.ndim != 2:
        raise EngineError(f"depth model {model} returned shape {arr.shape}; expected one (H, W) map")
    import cv2

    if arr.shape != img.shape[:2]:
        arr = cv2.resize(arr.astype(np.float32), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    is_metric = ("metric" in str(model).lower()) if metric is None else bool(metric)
    if is_metric:
        return _as_depth_array(arr, "predicted depth")
    inv = np.where(np.isfinite(arr) & (arr > 0), arr, np.nan).astype(np.float64)
    if not np.isfinite(inv).any():
        raise EngineError(f"depth model {model} predicted no positive values")
    lo = np.nanpercentile(inv, 1.0)
    depth = 1.0 / np.maximum(inv, max(lo, 1e-6))
    depth /= np.nanmedian(depth)
    return depth.astype(np.float32)


def _depth_model(model: str, device: str | None) -> Any:
    """(image processor, model) for ``model``, loaded once per (model, device)."""
    dev = normalize_device(device)
    return shared_model(("depth", model, dev), lambda: _load_depth_model(model, dev))


def _load_depth_model(model: str, device: str) -> Any:
    local = Path(model).expanduser()
    if not local.is_dir():
        _check_cached(model)  # before importing transformers: the offline answer comes at once
    transformers = require("transformers", feature="monocular depth estimation")
    source = str(local) if local.is_dir() else model
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(source)
        net = transformers.AutoModelForDepthEstimation.from_pretrained(source).eval().to(device)
    except (OSError, ValueError) as exc:
        raise EngineError(
            f"could not load depth model {model!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
            f"on a machine with internet run {download_hint(model)} and copy the cache, or pass a local folder"
        ) from exc
    return processor, net


def _check_cached(model: str) -> None:
    """Fail fast (no network retries) when ``model`` is not in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return
    try:
        hit = try_to_load_from_cache(model, "config.json")
    except Exception as exc:  # invalid repo id and the like
        raise EngineError(f"{model!r} is neither a local folder nor a Hugging Face model id ({exc})") from exc
    if isinstance(hit, str):
        return
    if hub_offline():
        raise EngineError(
            f"depth model {model!r} is not in the local Hugging Face cache and offline mode is on; "
            f"run {download_hint(model)} on a machine with internet, or pass a local folder"
        )
