"""Candidates and gaze evidence for :mod:`.text_gaze`.

* :func:`gaze_evidence`: the fixations in image pixels, the looked-at places (fixations
  grouped, longest dwell first) and the tracker's accuracy ``sigma`` (px), with
  :meth:`GazeEvidence.score_masks` giving each mask its dwell inside.
* :func:`collect_candidates`: masks from both sides (multimask at each place, automatic
  masks, a detector's boxes, an engine's native text instances; each region with holes
  also filled, the whole around its parts), near-duplicates merged.
* :func:`engine_supports_text` / :func:`native_text_masks`: the hook for engines with
  native text (SAM 3). An engine declares it with ``supports_text`` (a bool or a method)
  or ``"text" in engine.capabilities``, and answers either ``engine.segment_text(image,
  phrase) -> Masks`` or ``engine.segment(image, Prompt(text=phrase))``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes
from scipy.special import ndtr

from ...types import Prompt
from .gaze.coords import SceneToImage, px_per_degree
from .gaze.prompts import _dwell_centre, fixations_in_image, group_fixations
from .gaze.samples import Fixation, GazeSamples

__all__ = [
    "DEFAULT_ACCURACY_DEG",
    "Candidate",
    "GazeEvidence",
    "collect_candidates",
    "engine_supports_text",
    "gaze_evidence",
    "native_text_masks",
]

DEFAULT_ACCURACY_DEG = 1.5
"""A head-mounted tracker's typical accuracy (degrees), the default spread of each fixation."""
READER_OPTIONS = (
    "format",
    "chunk_size",
    "scene_size",
    "frame_size",
    "units",
    "origin",
    "time_unit",
    "columns",
    "min_confidence",
)


@dataclass
class Candidate:
    """A candidate region: (H, W) bool ``mask``, xyxy ``box`` and where it came from."""

    mask: np.ndarray
    box: np.ndarray
    sources: list[str] = field(default_factory=list)


@dataclass
class GazeEvidence:
    """Fixations in image pixels, looked-at places and the accuracy ``sigma`` (px)."""

    fixations: list[Fixation]
    places: list[list[Fixation]]
    sigma: float
    image_size: tuple[int, int]

    @property
    def total_dwell(self) -> float:
        return float(sum(max(f.duration, 1e-3) for f in self.fixations))

    def centres(self) -> list[tuple[float, float]]:
        return [(float(c[0]), float(c[1])) for c in map(_dwell_centre, self.places)]

    def score_masks(self, masks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dwell inside s, share of the dwell 0..1, distance of the nearest fixation px) per mask.

        A fixation at signed distance ``d`` from a mask's edge (positive inside) lies inside
        with probability ``Phi(d / sigma)`` (the tracker's error as a Gaussian).
        """
        h, w = self.image_size
        pts = np.array([[min(max(f.x, 0), w - 1), min(max(f.y, 0), h - 1)] for f in self.fixations])
        wts = np.array([max(f.duration, 1e-3) for f in self.fixations])
        xi, yi = pts[:, 0].astype(int), pts[:, 1].astype(int)
        dwell, near = np.zeros(len(masks)), np.zeros(len(masks))
        for k, m in enumerate(masks):
            m8 = m.astype(np.uint8)
            inside = cv2.distanceTransform(m8, cv2.DIST_L2, 5)[yi, xi]
            outside = cv2.distanceTransform(1 - m8, cv2.DIST_L2, 5)[yi, xi]
            d = np.where(m[yi, xi], inside, -outside)
            p = ndtr(d / max(self.sigma, 1e-6))
            dwell[k] = float((wts * p).sum())
            near[k] = float(np.min(np.where(d > 0, 0.0, -d)))
        total = float(wts.sum())
        return dwell, dwell / total if total > 0 else dwell, near


def gaze_evidence(
    image: np.ndarray,
    gaze: Any,
    *,
    accuracy: float | None = None,
    accuracy_deg: float | None = None,
    max_places: int = 8,
    **options: Any,
) -> GazeEvidence:
    """The :class:`GazeEvidence` of ``gaze`` over ``image`` (options: reader, detection and mapping)."""
    from .gaze.errors import GazeError
    from .gaze.readers import read_gaze

    size = (int(image.shape[0]), int(image.shape[1]))
    reader = {k: options.pop(k) for k in READER_OPTIONS if k in options}
    is_fix = isinstance(gaze, (list, tuple)) and gaze and all(isinstance(f, Fixation) for f in gaze)
    if isinstance(gaze, (str, os.PathLike, np.ndarray)) or (isinstance(gaze, (list, tuple)) and not is_fix):
        gaze = read_gaze(gaze, **reader)
        reader = {}
    scene = reader.get("scene_size")
    fix = fixations_in_image(gaze, size, scene_size=scene, frame_size=reader.get("frame_size"), **options)
    diag = float(np.hypot(*size))
    sigma = _accuracy_px(accuracy, accuracy_deg, gaze, options, scene, size, diag)
    if max_places < 1:
        raise GazeError(f"max_places must be >= 1, got {max_places}")
    places = group_fixations(fix, max(0.03 * diag, sigma))[: int(max_places)]
    return GazeEvidence(fixations=fix, places=places, sigma=sigma, image_size=size)


def _accuracy_px(
    accuracy: float | None,
    accuracy_deg: float | None,
    gaze: Any,
    options: dict[str, Any],
    scene: Any,
    size: tuple[int, int],
    diag: float,
) -> float:
    from .gaze.errors import GazeError

    if accuracy is not None:
        if not np.isfinite(accuracy) or accuracy <= 0:
            raise GazeError(f"accuracy is the tracker's accuracy in image px (> 0), got {accuracy!r}")
        return float(accuracy)
    fov = options.get("fov")
    ssize = scene
    if isinstance(gaze, GazeSamples):
        fov = fov if fov is not None else gaze.meta.get("fov")
        ssize = gaze.scene_size
    if ssize is not None and fov is not None:
        deg = DEFAULT_ACCURACY_DEG if accuracy_deg is None else float(accuracy_deg)
        crop = options.get("crop")
        mapping = SceneToImage(scene_size=ssize, image_size=size, crop=tuple(crop) if crop is not None else None)
        return float(deg * px_per_degree(ssize, fov) * mapping.scale)
    if accuracy_deg is not None:
        raise GazeError(
            "accuracy_deg needs the scene camera (a device recording, or scene_size and fov); "
            "give accuracy in image px instead"
        )
    return 0.02 * diag


def engine_supports_text(engine: Any) -> bool:
    """Whether ``engine`` segments from words natively (SAM 3 and the like)."""
    flag = getattr(engine, "supports_text", None)
    if callable(flag):
        flag = flag()
    if flag is not None:
        return bool(flag)
    caps: Any = getattr(engine, "capabilities", None)
    if callable(caps):
        caps = caps()
    return bool(caps) and "text" in caps


def native_text_masks(engine: Any, image: np.ndarray, phrase: str) -> Any:
    """The instances of ``phrase`` from an engine with native text, as Masks (None when it has none)."""
    if not engine_supports_text(engine):
        return None
    if hasattr(engine, "segment_text"):
        return engine.segment_text(image, phrase)
    return engine.segment(image, Prompt(text=phrase))


def _add(cands: list[Candidate], mask: np.ndarray, source: str, min_area: int) -> None:
    mask = np.asarray(mask, bool)
    area = int(mask.sum())
    if area < min_area:
        return
    for c in cands:
        inter = np.count_nonzero(c.mask & mask)
        if inter and inter / (area + int(c.mask.sum()) - inter) > 0.9:
            if source not in c.sources:
                c.sources.append(source)
            return
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    cands.append(Candidate(mask=mask, box=box, sources=[source]))


def collect_candidates(
    image: np.ndarray,
    engine: Any,
    evidence: GazeEvidence,
    phrases: Sequence[str],
    *,
    proposals: str = "auto",
    detector: Any = None,
    generate_params: dict[str, Any] | None = None,
) -> list[Candidate]:
    """Candidate masks for the fusion (see the module docstring), near-duplicates merged."""
    from ...errors import PromptError

    if proposals not in ("auto", "masks", "none"):
        raise PromptError(f"proposals must be 'auto', 'masks' or 'none', got {proposals!r}")
    h, w = image.shape[:2]
    min_area = max(4, int(0.0005 * h * w))
    cands: list[Candidate] = []
    centres = evidence.centres()
    if centres:
        res = engine.segment(image, [Prompt(points=[[cx, cy]], labels=[1]) for cx, cy in centres], multimask=True)
        for r in range(len(res)):
            k = int(res.prompt_index[r]) if res.prompt_index is not None else r // 3
            _add(cands, res.masks[r], f"gaze:place{k}", min_area)
    if proposals in ("auto", "masks"):
        from .text import propose_regions

        try:
            regions = propose_regions(image, engine=engine, proposals="masks", generate_params=generate_params)
        except PromptError:
            regions = []
        for reg in regions:
            if reg.mask is not None:
                _add(cands, reg.mask, "automatic", min_area)
    if detector is not None:
        from .detectors import detect_phrases, load_detector

        model, processor = load_detector(detector)
        dets = detect_phrases(image, list(phrases), model, processor)
        if dets:
            res = engine.segment(image, [Prompt(box=b) for b, _, _ in dets])
            for r in range(len(res)):
                _add(cands, res.masks[r], f"detector:{dets[int(res.prompt_index[r])][2]}", min_area)
    for phrase in phrases:
        res = native_text_masks(engine, image, phrase)
        if res is None:
            continue
        for r in range(len(res)):
            _add(cands, res.masks[r], f"native-text:{phrase}", min_area)
    # a whole with its parts inside: a region with holes (a body around a shirt) also stands filled
    for c in cands:
        filled = binary_fill_holes(c.mask)
        if np.count_nonzero(filled) > np.count_nonzero(c.mask) + min_area:
            _add(cands, filled, "filled:" + c.sources[0], min_area)
    return cands
