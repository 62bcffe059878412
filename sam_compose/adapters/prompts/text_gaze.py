"""Text x gaze: "the mug I'm looking at" as one prompt.

:func:`text_gaze_prompts` returns the object that is both the thing named and the thing
looked at (docs/gaze.md, "Text and gaze together", has the model and its reasoning):

1. **Candidates** from both sides (:mod:`.text_gaze_candidates`): regions around each
   looked-at place at several extents (the engine's three multimask answers at the
   fixation, and its automatic masks near any fixation), and the text route's regions
   (the automatic masks as CLIP proposals, a zero-shot detector's boxes, or the instances
   of an engine with native text such as SAM 3). Near-duplicates are merged.
2. **Gaze evidence** ``G`` in 0..1: the share of the dwell time that fell inside the
   candidate, each fixation counted as a Gaussian of the tracker's accuracy, so a
   fixation just outside a small object still counts for it.
3. **Text evidence** ``T`` in 0..1, the product of two factors: *absolute*, the
   probability that the phrase describes the crop better than neutral phrases ("an
   object", ...); *relative*, how close the crop's similarity is to the best-matching
   candidate anywhere in the image (``exp(scale * (sim - best))``), which tells the whole
   ("person") from its part ("shirt"). A candidate a negative phrase matches at least as
   well gets ``T = 0``.
4. **Combination**: ``S = T * G``. The named kind wins over a longer-looked-at other kind
   (a small ``T`` is not rescued by a large ``G``); among things of the named kind the
   looked-at one wins (equal ``T``, larger ``G``); at one fixation the part and the whole
   have the same ``G`` and the words choose. A candidate needs ``T >= min_text`` and
   ``G >= min_gaze``; when none has both, :class:`NoMatchError` says what was looked at
   and where the phrase's best match is, instead of returning the nearest wrong thing
   (with several phrases, the ones that match are returned and the others named in a
   warning and in ``data["unmatched"]``).

Each prompt carries the candidate's mask (SAM ``mask_input`` logits), box and an inner
point, and ``data`` records ``score``, ``text_score``, ``gaze_score``, their parts and why
it won over the runner-up.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import PromptError
from ...image_io import load_image
from ...types import Prompt
from .phrases import parse_phrases
from .text import Region, Scorer, _resolve_scorer, score_regions
from .text_gaze_candidates import Candidate, collect_candidates, gaze_evidence

__all__ = ["NEUTRAL_PHRASES", "NoMatchError", "text_gaze_prompts"]

NEUTRAL_PHRASES: tuple[str, ...] = ("an object", "a thing", "the background")
"""What a crop is compared with to tell whether a phrase describes it at all."""


class NoMatchError(PromptError):
    """The text matches nothing that was looked at (or a negative phrase rules it out)."""


@dataclass
class _Scored:
    cand: Candidate
    sim: float
    neg_sim: float
    neutral: float
    absolute: float
    relative: float
    text: float
    gaze: float
    dwell: float
    nearest: float
    blocked_by: str | None
    whole_of: _Scored | None = None  # set when this is the whole object around a better-scoring piece

    @property
    def score(self) -> float:
        return self.text * self.gaze


def _softmax_first(values: np.ndarray, scale: float) -> np.ndarray:
    """Per row, the softmax probability of column 0 among all columns."""
    z = scale * (values - values.max(axis=1, keepdims=True))
    e = np.exp(z)
    return e[:, 0] / e.sum(axis=1)


def _explain(win: _Scored, runner: _Scored | None, looked: _Scored | None, phrase: str, total_dwell: float) -> str:
    """Why ``win`` won, in one line: its evidence, and what it beat."""
    text = (
        f"most like {phrase!r} (text {win.text:.2f}: similarity {win.sim:.3f}, "
        f"{win.absolute:.0%} against neutral phrases, {win.relative:.2f} of the best match)"
    )
    parts = [text, f"looked at for {win.dwell:.2f} s of {total_dwell:.2f} s (gaze {win.gaze:.2f})"]
    whole = win.whole_of
    if whole is not None:
        parts.append(
            f"the whole object: it contains the best-scoring piece ({int(whole.cand.mask.sum())} px) and "
            "the words still name it"
        )
    if looked is not None:
        parts.append(
            f"beat something looked at longer (gaze {looked.gaze:.2f}) that matches the words less "
            f"(text {looked.text:.2f})"
        )
    if runner is not None and runner is not looked:
        if runner.text >= 0.5 * win.text:
            parts.append(f"beat another {phrase!r} that was looked at less (gaze {runner.gaze:.2f})")
        else:
            parts.append(
                f"the next other thing scored {runner.score:.3f} (text {runner.text:.2f}, gaze {runner.gaze:.2f})"
            )
    return "; ".join(parts)


def _no_match(phrase: str, scored: list[_Scored], min_text: float, min_gaze: float, total: float) -> NoMatchError:
    looked = [s for s in scored if s.gaze >= min_gaze]
    texty = max(scored, key=lambda s: s.text) if scored else None
    blocked = [s for s in looked if s.blocked_by]
    if blocked and max(s.sim for s in blocked) >= max((s.sim for s in looked), default=-1):
        b = max(blocked, key=lambda s: s.gaze)
        return NoMatchError(
            f"{phrase!r}: the looked-at object matches the negative phrase {b.blocked_by!r} at least as "
            f"well (similarity {b.neg_sim:.3f} vs {b.sim:.3f}); nothing else looked at is like "
            f"{phrase!r}; drop the negative or rephrase"
        )
    if not looked:
        return NoMatchError(
            f"{phrase!r}: no candidate region lies where the eyes rested ({total:.2f} s of fixations); "
            "check that the gaze belongs to this image (scene_size, crop)"
        )
    best_look = max(looked, key=lambda s: s.gaze)
    where = ""
    if texty is not None and texty.text >= min_text:
        x0, y0, x1, y1 = (int(v) for v in texty.cand.box)
        where = (
            f"; the best match for {phrase!r} is at [{x0}, {y0}, {x1}, {y1}] px and got {texty.gaze:.0%} of the dwell"
        )
    return NoMatchError(
        f"{phrase!r} matches nothing that was looked at: the most looked-at region (gaze "
        f"{best_look.gaze:.2f}) has text evidence {best_look.text:.2f} < {min_text}{where}; look at "
        "the object, or rephrase"
    )


def text_gaze_prompts(
    image: Any,
    text: str | Sequence[str],
    gaze: Any,
    *,
    engine: Any,
    clip: Any = None,
    scorer: Scorer | None = None,
    negative: str | Sequence[str] | None = None,
    top_k: int = 1,
    min_text: float = 0.1,
    min_gaze: float = 0.05,
    accuracy: float | None = None,
    accuracy_deg: float | None = None,
    neutral: Sequence[str] = NEUTRAL_PHRASES,
    logit_scale: float | None = None,
    background: str = "blur",
    context: float = 0.1,
    proposals: str = "auto",
    detector: Any = None,
    max_places: int = 8,
    generate_params: dict[str, Any] | None = None,
    **gaze_options: Any,
) -> list[Prompt]:
    """The named thing that was looked at: one prompt per positive phrase (``top_k`` each).

    Args:
        image: (H, W, 3) uint8 RGB or anything :func:`~sam_compose.load_image` takes.
        text: ``"the mug"``; several phrases ``"mug, cup"`` (one answer each); ``"-phrase"``
            or ``negative=`` for phrases to avoid.
        gaze: anything :func:`.gaze.read_gaze` accepts (a recording path or folder,
            :class:`~.gaze.GazeSamples`, an (N, 3) ``[t, x, y]`` array in image pixels,
            samples), or a list of :class:`~.gaze.Fixation`. Reader, detection and mapping
            options go in ``gaze_options`` (``scene_size``, ``crop``, ``fixations``,
            ``method``, ``fov``, ``frame``/``fps``/``video_start`` ...).
        engine: an engine spec or :class:`~sam_compose.engines.Engine` (keyword): its
            multimask answers and automatic masks are the candidates; an engine with
            native text (SAM 3) also contributes its instances of each phrase.
        clip: a CLIP scorer or spec (default: ``$SAM_COMPOSE_CLIP`` or ViT-B-32).
        scorer: ``scorer(crops, phrases) -> (N, P)`` similarities replacing CLIP.
        top_k: prompts per phrase (best first; more only when they also qualify).
        min_text, min_gaze: least text and gaze evidence (0..1) a candidate needs.
        accuracy: the tracker's accuracy in image px (default: ``accuracy_deg`` = 1.5 deg
            when the recording's scene camera is known, else 2% of the image diagonal).
        neutral: phrases the absolute text evidence compares with (``()``: skip).
        logit_scale: temperature of the text evidence (default: the scorer's, CLIP 100).
        background, context: how crops are made (see :func:`.text.crop_regions`).
        proposals: ``"auto"``/``"masks"``: automatic masks as text proposals; ``"none"``:
            only the gaze candidates (and the detector's / native text ones).
        detector: a zero-shot detector (see :mod:`.detectors`) adding its boxes as candidates.
        max_places: most looked-at places given multimask candidates (longest dwell first).
        generate_params: parameters for the engine's automatic masks.

    Returns:
        ``[Prompt(mask=logits, box, points, data={"adapter": "text_gaze", "phrase",
        "score", "text_score", "gaze_score", "text": {...}, "gaze": {...}, "why",
        "runner_up", ...})]``, phrases in order.

    Raises:
        PromptError: bad text; NoMatchError: the text matches nothing looked at;
        NoFixationError (a ``GazeError``): no usable fixation in the image.
    """
    from ...engines import resolve_engine

    img = load_image(image)
    eng = resolve_engine(engine)
    pos, neg = parse_phrases(text, negative)
    if int(top_k) < 1:
        raise PromptError(f"top_k must be at least 1, got {top_k}")
    for name, v in (("min_text", min_text), ("min_gaze", min_gaze)):
        if not 0.0 <= float(v) <= 1.0:
            raise PromptError(f"{name} is evidence in 0..1, got {v!r}")
    score_fn, scale = _resolve_scorer(clip, scorer)
    scale = float(logit_scale) if logit_scale is not None else scale
    evidence = gaze_evidence(
        img, gaze, accuracy=accuracy, accuracy_deg=accuracy_deg, max_places=max_places, **gaze_options
    )
    cands = collect_candidates(
        img, eng, evidence, pos, proposals=proposals, detector=detector, generate_params=generate_params
    )
    if not cands:
        raise NoMatchError("no candidate regions: the engine found no mask at the looked-at places")
    regions = [
        Region(box=c.box.astype(np.float32), mask=c.mask, proposal="+".join(c.sources), index=i)
        for i, c in enumerate(cands)
    ]
    neutral = [n for n in neutral if n not in pos and n not in neg]
    sims = score_regions(score_fn, img, regions, pos + neg + list(neutral), background=background, context=context)
    n_pos, n_neg = len(pos), len(neg)
    neg_sims = sims[:, n_pos : n_pos + n_neg]
    neu_sims = sims[:, n_pos + n_neg :]
    dwell, frac, nearest = evidence.score_masks([c.mask for c in cands])
    out: list[Prompt] = []
    misses: list[NoMatchError] = []
    for p, phrase in enumerate(pos):
        s = sims[:, p]
        absolute = (
            _softmax_first(np.concatenate([s[:, None], neu_sims], 1), scale) if neu_sims.shape[1] else np.ones(len(s))
        )
        relative = np.exp(scale * (s - s.max()))
        scored: list[_Scored] = []
        for i, c in enumerate(cands):
            blocked = None
            ns = float(neg_sims[i].max()) if n_neg else -np.inf
            if n_neg and ns >= s[i]:
                blocked = neg[int(np.argmax(neg_sims[i]))]
            t = 0.0 if blocked else float(absolute[i] * relative[i])
            scored.append(
                _Scored(
                    c,
                    float(s[i]),
                    ns,
                    float(neu_sims[i].max()) if neu_sims.shape[1] else float("nan"),
                    float(absolute[i]),
                    float(relative[i]),
                    t,
                    float(frac[i]),
                    float(dwell[i]),
                    float(nearest[i]),
                    blocked,
                )
            )
        ok = _objects_first([x for x in scored if x.text >= min_text and x.gaze >= min_gaze], img.shape[:2])
        if not ok:
            misses.append(_no_match(phrase, scored, min_text, min_gaze, evidence.total_dwell))
            continue
        ranked = [_whole(x, ok) for x in sorted(ok, key=lambda x: -x.score)]
        others = sorted(scored, key=lambda x: (-round(x.score, 3), -x.text))
        picked: list[_Scored] = []
        for x in ranked:
            if any(_iou(x.cand.mask, y.cand.mask) > 0.5 for y in picked):
                continue
            picked.append(x)
            if len(picked) >= int(top_k):
                break
        for rank, win in enumerate(picked):
            apart = [y for y in others if _overlap(y.cand.mask, win.cand.mask) < 0.5]  # other things, not extents
            runner = apart[0] if apart else None
            looked = max(apart, key=lambda y: y.gaze) if apart else None
            if looked is not None and looked.gaze <= win.gaze:
                looked = None
            out.append(_prompt(img, win, runner, looked, phrase, rank, neg, evidence, len(cands)))
    if misses and not out:
        if len(misses) == 1:
            raise misses[0]
        raise NoMatchError(f"none of the {len(misses)} phrases matches anything that was looked at; first: {misses[0]}")
    for miss in misses:  # several phrases, some found: say which were not
        warnings.warn(str(miss), UserWarning, stacklevel=2)
    unmatched = [str(m) for m in misses]
    if unmatched:
        for q in out:
            q.data["unmatched"] = unmatched
    return out


SCENE_SHARE = 0.85
"""A candidate covering at least this share of the image is the scene around the objects (the
background region that automatic masks or a 'whole' multimask level return holds every object
in view, so it matches any words and any fixation): it qualifies only when nothing smaller does."""


def _objects_first(ok: list[_Scored], size: tuple[int, int]) -> list[_Scored]:
    """``ok`` without scene-sized candidates (see SCENE_SHARE), unless they are all there is."""
    limit = SCENE_SHARE * size[0] * size[1]
    objects = [x for x in ok if np.count_nonzero(x.cand.mask) < limit]
    return objects or ok


WHOLE_RATIO = 0.5
"""A larger extent containing the best candidate replaces it when it scores at least this share
of the best score: the words still name it, so the whole object is meant, not a piece of it."""


def _whole(best: _Scored, ok: list[_Scored]) -> _Scored:
    """The largest qualifying candidate that contains ``best`` and scores >= WHOLE_RATIO of it."""
    area = int(best.cand.mask.sum())
    out = best
    for c in ok:
        a = int(c.cand.mask.sum())
        if a <= int(out.cand.mask.sum()) or c.score < WHOLE_RATIO * best.score:
            continue
        if np.count_nonzero(c.cand.mask & best.cand.mask) >= 0.9 * area:
            out = c
    if out is not best:
        out.whole_of = best
    return out


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller mask: 1 when one lies inside the other."""
    inter = np.count_nonzero(a & b)
    small = min(np.count_nonzero(a), np.count_nonzero(b))
    return inter / small if small else 0.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.count_nonzero(a & b)
    union = np.count_nonzero(a | b)
    return inter / union if union else 0.0


def _r(v: float, d: int = 4) -> float | None:
    return None if not np.isfinite(v) else round(float(v), d)


def _summary(x: _Scored) -> dict[str, Any]:
    out: dict[str, Any] = {
        "score": _r(x.score),
        "text_score": _r(x.text),
        "gaze_score": _r(x.gaze),
        "sources": list(x.cand.sources),
        "area": int(x.cand.mask.sum()),
        "box": [round(float(v), 1) for v in x.cand.box],
    }
    if x.blocked_by:
        out["blocked_by_negative"] = x.blocked_by
    return out


def _prompt(
    img: np.ndarray,
    win: _Scored,
    runner: _Scored | None,
    looked: _Scored | None,
    phrase: str,
    rank: int,
    neg: list[str],
    evidence: Any,
    n_cands: int,
) -> Prompt:
    from .masks import mask_to_prompt

    base = mask_to_prompt(win.cand.mask, image_size=img.shape[:2], box=True, points=1)
    data: dict[str, Any] = {
        "adapter": "text_gaze",
        "phrase": phrase,
        "rank": rank,  # JSON-friendly provenance
        "score": _r(win.score),
        "text_score": _r(win.text),
        "gaze_score": _r(win.gaze),
        "text": {
            "similarity": _r(win.sim),
            "neutral": _r(win.neutral),
            "absolute": _r(win.absolute),
            "relative": _r(win.relative),
        },
        "gaze": {
            "dwell_inside_s": _r(win.dwell),
            "dwell_total_s": _r(evidence.total_dwell),
            "nearest_fixation_px": _r(win.nearest, 2),
            "accuracy_px": _r(evidence.sigma, 2),
            "fixations": len(evidence.fixations),
            "places": len(evidence.places),
        },
        "candidate": {
            "sources": list(win.cand.sources),
            "area": int(win.cand.mask.sum()),
            "box": [round(float(v), 1) for v in win.cand.box],
        },
        "candidates": n_cands,
        "why": _explain(win, runner, looked, phrase, evidence.total_dwell),
    }
    if neg:
        data["negative"] = list(neg)
    if runner is not None:
        data["runner_up"] = _summary(runner)
    if looked is not None:
        data["longest_look"] = _summary(looked)
    return base.replace(data=data)
