"""Text prompts: find the regions a phrase describes and turn them into SAM prompts.

Pipeline (:func:`select_regions`, used by :func:`text_to_prompts` and :func:`text_to_masks`):

1. **phrases**: ``"cat, dog"`` is two phrases (split on ``,`` ``;`` ``|`` and new lines);
   a phrase starting with ``-`` (or passed in ``negative=``) is a negative phrase;
   leading articles are dropped; empty text or only stopwords raise :class:`PromptError`.
2. **region proposals**: the engine's automatic masks (``proposals="masks"``), a
   multi-scale box grid (``"grid"``), or both; ``"auto"`` uses masks when an engine is
   given (falling back to the grid when it finds nothing) and the grid otherwise.
3. **crops**: each region's box, squared and enlarged by ``context``; pixels outside a
   mask region are blurred (``background="blur"``), greyed (``"mask"``) or kept (``"none"``).
4. **scores**: ``scorer(crops, phrases) -> (N, P)`` similarities; by default CLIP
   (:mod:`.clip`: batched image embeddings, text embeddings averaged over prompt
   templates, cosine similarity). Any callable with that signature can be injected.
5. **selection**: per phrase, a softmax over the regions (``logit_scale`` x similarity)
   gives each region a normalised score; a region goes to the positive phrase it
   matches best, and is never selected when a negative phrase matches it at least as
   well; the ``top_k`` best regions per phrase whose score reaches ``threshold``
   are kept (overlapping picks are suppressed).

Each selected region becomes a ``Prompt(box=region box, points=[positive point inside])``
with ``data = {"adapter": "text", "phrase", "score", "similarity", "rank", "proposal"}``.

**Native route.** When the engine understands concepts itself (``engine.supports_text``:
SAM 3), :func:`text_to_prompts` skips the pipeline above and returns one
``Prompt(text=phrase)`` per positive phrase (``data["route"] = "native"``, negative
phrases in ``data["negative"]``): the engine then returns every instance. ``route="clip"``
forces the CLIP pipeline, ``route="native"`` insists on the engine's own.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ...errors import PromptError
from ...geometry import mask_iou
from ...image_io import load_image
from ...types import Prompt
from .boxes import box_iou
from .phrases import parse_phrases

__all__ = [
    "Region",
    "Scorer",
    "Selection",
    "crop_regions",
    "parse_phrases",
    "propose_regions",
    "score_regions",
    "select_regions",
    "text_to_masks",
    "text_to_prompts",
]

Scorer = Callable[[Sequence[np.ndarray], Sequence[str]], np.ndarray]
"""``scorer(crops, phrases) -> (len(crops), len(phrases))`` similarities, higher = better,
on CLIP's cosine scale (about -1..1; the softmax over regions multiplies by ``logit_scale``)."""

GREY = (124, 116, 104)  # CLIP's mean pixel: a background that carries no content
PROPOSAL_POINTS_PER_SIDE = 16


@dataclass
class Region:
    """A candidate region: ``box`` xyxy pixels, optional (H, W) bool ``mask``, where it came from."""

    box: np.ndarray
    mask: np.ndarray | None
    proposal: str
    index: int
    logits: np.ndarray | None = None


@dataclass
class Selection:
    """A region chosen for a phrase, with its normalised ``score`` and raw ``similarity``."""

    region: Region
    phrase: str
    score: float
    similarity: float
    rank: int


def _grid_boxes(size: tuple[int, int], scales: Sequence[int]) -> list[np.ndarray]:
    h, w = size
    boxes = []
    for n in scales:
        n = int(n)
        if n < 1:
            continue
        bw, bh = w / n, h / n
        steps = 2 * n - 1  # windows overlap by half
        for j in range(steps):
            for i in range(steps):
                x0, y0 = i * bw / 2, j * bh / 2
                boxes.append(np.array([x0, y0, min(x0 + bw, w), min(y0 + bh, h)], dtype=np.float32))
    return boxes


def propose_regions(
    image: np.ndarray,
    *,
    engine: Any = None,
    proposals: str = "auto",
    grid_scales: Sequence[int] = (1, 2, 3),
    max_regions: int = 48,
    min_area: float = 0.002,
    max_area: float = 0.95,
    generate_params: dict[str, Any] | None = None,
) -> list[Region]:
    """Candidate regions of an (H, W, 3) image: the engine's automatic masks and/or a box grid.

    Masks smaller than ``min_area`` or larger than ``max_area`` (fractions of the image)
    are dropped, near-duplicates (IoU > 0.9) merged, and at most ``max_regions`` kept
    (largest score x sqrt(area) first). The grid has, for each n in ``grid_scales``,
    (2n - 1)^2 windows of 1/n of the image overlapping by half (n = 1, 2, 3: 35 boxes).
    """
    if proposals not in ("auto", "masks", "grid", "both"):
        raise PromptError(f"proposals must be 'auto', 'masks', 'grid' or 'both', got {proposals!r}")
    size = (int(image.shape[0]), int(image.shape[1]))
    regions: list[Region] = []
    use_masks = proposals in ("masks", "both") or (proposals == "auto" and engine is not None)
    if use_masks:
        if engine is None:
            raise PromptError(
                f"proposals={proposals!r} needs an engine for automatic masks; pass engine=... or use 'grid'"
            )
        if isinstance(engine, str):
            from ...engines import shared_engine

            engine = shared_engine(engine)
        params = dict(generate_params or {})
        accepted = engine.generate_params() if hasattr(engine, "generate_params") else {}
        if generate_params is None and "points_per_side" in accepted:
            params["points_per_side"] = PROPOSAL_POINTS_PER_SIDE  # enough for object proposals, 4x fewer than SAM's 32
        res = engine.generate(image, **params)
        total = float(size[0] * size[1])
        order = np.argsort(-(res.scores * np.sqrt(res.areas.astype(np.float64))), kind="stable")
        kept: list[int] = []
        for i in order:
            frac = res.areas[i] / total
            if frac < min_area or frac > max_area:
                continue
            if any(mask_iou(res.masks[i], res.masks[k]) > 0.9 for k in kept):
                continue
            kept.append(int(i))
            if len(kept) >= max_regions:
                break
        for i in kept:
            regions.append(
                Region(
                    box=res.boxes[i].astype(np.float32),
                    mask=res.masks[i],
                    proposal="masks",
                    index=len(regions),
                    logits=None if res.logits is None else res.logits[i],
                )
            )
    if proposals in ("grid", "both") or (proposals == "auto" and not regions):
        for b in _grid_boxes(size, grid_scales):
            regions.append(Region(box=b, mask=None, proposal="grid", index=len(regions)))
    if not regions:
        raise PromptError("no region proposals: the engine found no masks and the grid is empty (check grid_scales)")
    return regions


def crop_regions(
    image: np.ndarray, regions: Sequence[Region], *, background: str = "blur", context: float = 0.1
) -> list[np.ndarray]:
    """One square (s, s, 3) uint8 crop per region, background handled as described above."""
    if background not in ("blur", "mask", "none"):
        raise PromptError(f"background must be 'blur', 'mask' or 'none', got {background!r}")
    h, w = image.shape[:2]
    blurred = None
    crops = []
    for r in regions:
        x0, y0, x1, y1 = (float(v) for v in r.box)
        side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * context)
        side = max(side, 8.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        sx0, sy0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        s = int(round(side))
        crop = np.empty((s, s, 3), np.uint8)
        crop[:] = GREY
        ix0, iy0, ix1, iy1 = max(sx0, 0), max(sy0, 0), min(sx0 + s, w), min(sy0 + s, h)
        if ix1 > ix0 and iy1 > iy0:
            win = image[iy0:iy1, ix0:ix1]
            if r.mask is not None and background != "none":  # only the crop window, not the whole image
                if background == "blur":
                    if blurred is None:
                        blurred = cv2.GaussianBlur(image, (0, 0), max(3.0, 0.02 * max(h, w)))
                    fill = blurred[iy0:iy1, ix0:ix1]
                else:
                    fill = np.array(GREY, np.uint8)
                win = np.where(r.mask[iy0:iy1, ix0:ix1, None], win, fill)
            crop[iy0 - sy0 : iy1 - sy0, ix0 - sx0 : ix1 - sx0] = win
        crops.append(crop)
    return crops


def score_regions(
    score_fn: Scorer,
    image: np.ndarray,
    regions: Sequence[Region],
    phrases: Sequence[str],
    *,
    background: str = "blur",
    context: float = 0.1,
) -> np.ndarray:
    """(R, P) float64 similarity of each region's crop (:func:`crop_regions`) to each phrase.

    Raises :class:`PromptError` when ``score_fn`` answers with another shape or non-finite values.
    """
    crops = crop_regions(image, regions, background=background, context=context)
    sims = np.asarray(score_fn(crops, list(phrases)), dtype=np.float64)
    if sims.shape != (len(regions), len(phrases)):
        raise PromptError(
            f"scorer returned shape {sims.shape}, expected ({len(regions)}, {len(phrases)}) "
            "(one row per crop, one column per phrase)"
        )
    if not np.isfinite(sims).all():
        raise PromptError("scorer returned NaN or infinite similarities")
    return sims


# --- selection --------------------------------------------------------------------------
def _overlap(a: Region, b: Region) -> float:
    if a.mask is not None and b.mask is not None:
        return mask_iou(a.mask, b.mask)
    return box_iou(a.box, b.box)


def _resolve_scorer(clip: Any, scorer: Scorer | None) -> tuple[Scorer, float]:
    if scorer is not None:
        if not callable(scorer):
            raise PromptError(
                f"scorer must be a callable scorer(crops, phrases) -> (N, P), got {type(scorer).__name__}"
            )
        return scorer, float(getattr(scorer, "logit_scale", 100.0))
    from .clip import ClipScorer, shared_clip

    if isinstance(clip, ClipScorer):
        return clip, clip.logit_scale
    if clip is None or isinstance(clip, str):
        sc = shared_clip(clip)
        return sc, sc.logit_scale
    if callable(clip):
        return clip, float(getattr(clip, "logit_scale", 100.0))
    raise PromptError(
        f"clip must be a ClipScorer, a spec string such as 'ViT-B-32:laion2b_s34b_b79k' or None, "
        f"got {type(clip).__name__}"
    )


def select_regions(
    image: Any,
    text: str | Sequence[str],
    *,
    engine: Any = None,
    clip: Any = None,
    scorer: Scorer | None = None,
    negative: str | Sequence[str] | None = None,
    top_k: int = 1,
    threshold: float | None = None,
    proposals: str = "auto",
    background: str = "blur",
    context: float = 0.1,
    grid_scales: Sequence[int] = (1, 2, 3),
    max_regions: int = 48,
    generate_params: dict[str, Any] | None = None,
    logit_scale: float | None = None,
    regions: Sequence[Region] | None = None,
) -> list[Selection]:
    """The regions that match ``text``, best first within each phrase (see the module docstring).

    ``regions`` reuses proposals from :func:`propose_regions` (e.g. several queries on one
    image); otherwise they are computed here.
    """
    img = load_image(image)
    pos, neg = parse_phrases(text, negative)
    if int(top_k) < 1:
        raise PromptError(f"top_k must be at least 1, got {top_k}")
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise PromptError(f"threshold is a normalised score in 0..1, got {threshold}")
    score_fn, scale = _resolve_scorer(clip, scorer)  # load CLIP first: fail fast when weights are missing
    scale = float(logit_scale) if logit_scale is not None else scale
    if regions is None:
        regions = propose_regions(
            img,
            engine=engine,
            proposals=proposals,
            grid_scales=grid_scales,
            max_regions=max_regions,
            generate_params=generate_params,
        )
    elif not regions:
        raise PromptError("regions is empty: pass the output of propose_regions, or None to compute them")
    regions = list(regions)
    sims = score_regions(score_fn, img, regions, pos + neg, background=background, context=context)
    z = scale * (sims - sims.max(axis=0, keepdims=True))
    probs = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)  # softmax over regions, per phrase
    n_pos = len(pos)
    owner = np.argmax(sims[:, :n_pos], axis=1)  # each region belongs to the positive phrase it matches best
    best_pos = sims[np.arange(len(regions)), owner]
    # ... unless a negative phrase matches it at least as well
    blocked = sims[:, n_pos:].max(axis=1) >= best_pos if neg else np.zeros(len(regions), dtype=bool)
    out: list[Selection] = []
    for p, phrase in enumerate(pos):
        order = [int(i) for i in np.argsort(-probs[:, p], kind="stable") if owner[i] == p and not blocked[i]]
        picked: list[int] = []
        for i in order:
            if threshold is not None and probs[i, p] < float(threshold):
                break
            if any(_overlap(regions[i], regions[k]) > 0.5 for k in picked):
                continue
            picked.append(i)
            if len(picked) >= int(top_k):
                break
        if not picked:
            why = (
                "a negative or another phrase matches every region better"
                if not order
                else f"no region reaches threshold={threshold}"
            )
            warnings.warn(f"text {phrase!r}: nothing selected ({why})", stacklevel=2)
        for rank, i in enumerate(picked):
            out.append(Selection(regions[i], phrase, float(probs[i, p]), float(sims[i, p]), rank))
    return out


def _prompt_for(sel: Selection, negative: list[str], points: int) -> Prompt:
    from .masks import interior_points

    r = sel.region
    if r.mask is not None and points > 0:
        pts = interior_points(r.mask, points)
    elif points > 0:
        x0, y0, x1, y1 = (float(v) for v in r.box)
        pts = np.array([[(x0 + x1) / 2, (y0 + y1) / 2]], dtype=np.float32)
    else:
        pts = None
    data: dict[str, Any] = {
        "adapter": "text",
        "phrase": sel.phrase,
        "score": round(sel.score, 6),
        "similarity": round(sel.similarity, 6),
        "rank": sel.rank,
        "proposal": r.proposal,
        "region": r.index,
    }
    if negative:
        data["negative"] = list(negative)
    return Prompt(points=pts if pts is not None and len(pts) else None, box=r.box, data=data)


ROUTES = ("auto", "native", "clip")


def native_text_engine(engine: Any) -> Any:
    """The engine (resolved from a spec) when it segments text natively, else None."""
    if engine is None:
        return None
    from ...engines import resolve_engine

    eng = resolve_engine(engine)
    return eng if getattr(eng, "supports_text", False) else None


def _native_prompts(text: str | Sequence[str], negative: str | Sequence[str] | None) -> list[Prompt]:
    pos, neg = parse_phrases(text, negative)
    data: dict[str, Any] = {"adapter": "text", "route": "native"}
    if neg:
        data["negative"] = list(neg)
    return [Prompt(text=p, data={**data, "phrase": p}) for p in pos]


def text_to_prompts(
    image: Any,
    text: str | Sequence[str],
    *,
    engine: Any = None,
    clip: Any = None,
    scorer: Scorer | None = None,
    negative: str | Sequence[str] | None = None,
    top_k: int = 1,
    threshold: float | None = None,
    points: int = 1,
    detector: Any = None,
    route: str = "auto",
    **options: Any,
) -> list[Prompt]:
    """Prompts for the regions ``text`` describes: one per selected region, per phrase.

    With an engine that understands text (SAM 3) the engine's own route is used (see the
    module docstring): one ``Prompt(text=phrase)`` per phrase, every instance found later.

    Args:
        image: (H, W, 3) uint8 RGB array or anything ``load_image`` takes.
        text: ``"a red mug"``; several phrases ``"cat, dog"``; ``"-phrase"`` for a negative.
        engine: an engine (or spec) whose automatic masks are the region proposals, or which
            understands text itself.
        route: ``"auto"`` (native when the engine has it and no ``clip``/``scorer``/``detector``
            is given, else CLIP), ``"native"`` or ``"clip"``.
        clip: a :class:`~.clip.ClipScorer` or a CLIP spec (default ``$SAM_COMPOSE_CLIP`` or
            ViT-B-32 ``laion2b_s34b_b79k``).
        scorer: a callable ``scorer(crops, phrases) -> (N, P)`` replacing CLIP.
        negative: phrases to avoid (regions closer to them are never selected).
        top_k: regions per phrase; ``threshold``: least normalised score (0..1).
        points: positive points per prompt (inside the region's mask, else its box centre).
        detector: use a zero-shot detector instead of CLIP proposals (see
            :mod:`.detectors`): a transformers model id/folder or ``(model, processor)``.
        **options: ``proposals``, ``background``, ``context``, ``grid_scales``,
            ``max_regions``, ``generate_params``, ``logit_scale``, ``regions`` (see :func:`select_regions`).

    Returns:
        list of ``Prompt(box, points, data={"phrase", "score", ...})``, phrases in order.
    """
    if route not in ROUTES:
        raise PromptError(f"route must be one of {', '.join(ROUTES)}, got {route!r}")
    if route != "clip" and (route == "native" or (clip is None and scorer is None and detector is None)):
        native = native_text_engine(engine)
        if native is not None:
            return _native_prompts(text, negative)
        if route == "native":
            raise PromptError(
                f"route='native' needs an engine that segments text itself (SAM 3: "
                f"engine='facebook/sam3'), got {getattr(engine, 'name', engine)!r}"
            )
    if detector is not None:
        from .detectors import detect_with_text

        return detect_with_text(
            image, text, detector=detector, negative=negative, top_k=top_k, threshold=threshold, points=points
        )
    pos, neg = parse_phrases(text, negative)
    sels = select_regions(
        image,
        pos + ["-" + n for n in neg],
        engine=engine,
        clip=clip,
        scorer=scorer,
        top_k=top_k,
        threshold=threshold,
        **options,
    )
    return [_prompt_for(s, neg, int(points)) for s in sels]


def text_to_masks(image: Any, text: str | Sequence[str], *, engine: Any, **kwargs: Any) -> Any:
    """Like :func:`text_to_prompts`, then segment: one mask (the best of the engine's
    answer) per selected region, in the order of the prompts.

    ``Masks.data["selections"]`` lists ``{"phrase", "score"}`` per row.
    """
    from ...masks import Masks

    if isinstance(engine, str):
        from ...engines import shared_engine

        engine = shared_engine(engine)
    img = load_image(image)
    prompts = text_to_prompts(img, text, engine=engine, **kwargs)
    if not prompts:
        return Masks.empty(img.shape[:2], data={"adapter": "text", "selections": []})
    res = engine.segment(img, prompts)
    if not any(p.is_concept for p in prompts):
        res = res.best()
    res.data["adapter"] = "text"
    res.data["selections"] = [{"phrase": p.data.get("phrase"), "score": p.data.get("score")} for p in prompts]
    return res
