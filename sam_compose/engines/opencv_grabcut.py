"""Seeded GrabCut and its colour models.

:func:`grabcut` runs ``cv2.grabCut`` from a label map (``cv2.GC_BGD``, ``GC_FGD``,
``GC_PR_BGD``, ``GC_PR_FGD``) and never raises: degenerate label maps (no background or
no foreground samples) are repaired or answered with the initial guess.
:func:`gmm_posterior` evaluates the two Gaussian mixtures GrabCut learned (OpenCV's
``1 x 65`` model layout: 5 weights, 5 x 3 means, 5 x 9 covariances) at every pixel,
giving a soft foreground probability for scoring and candidate extents.

Images are (h, w, 3) uint8; label maps (h, w) uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

N_COMPONENTS = 5
MIN_SAMPLES = 2 * N_COMPONENTS
DITHER = True
FLAT_STD = 4.0  # windows this flat get dithered (see _dither)
CONVERGED = 0.002  # stop iterating when fewer than this fraction of undecided pixels flip


@dataclass
class GrabCutResult:
    """Output of :func:`grabcut`: final mask, label map and the learned colour models."""

    mask: np.ndarray          # (h, w) bool, FGD | PR_FGD
    labels: np.ndarray        # (h, w) uint8 GrabCut labels
    fg_model: np.ndarray | None  # (1, 65) float64, None when GrabCut could not run
    bg_model: np.ndarray | None


def is_fg(labels: np.ndarray) -> np.ndarray:
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def grabcut(image: np.ndarray, labels: np.ndarray, iterations: int = 5, context: float = 0.3) -> GrabCutResult:
    """Run GrabCut from ``labels`` (modified copy returned) on ``image`` (h, w, 3) uint8.

    Iterates at most ``iterations`` times and stops early once the labelling converges.
    Only the bounding rectangle of the undecided pixels (not ``GC_BGD``), grown by
    ``context`` times its size, is processed; definite background farther away would only
    dilute the background model and cost time.
    """
    und = labels != cv2.GC_BGD
    ys, xs = np.nonzero(und)
    if xs.size and context >= 0:
        h, w = labels.shape
        my = int(context * (ys.max() - ys.min() + 1)) + 4
        mx = int(context * (xs.max() - xs.min() + 1)) + 4
        y0, y1 = max(ys.min() - my, 0), min(ys.max() + my + 1, h)
        x0, x1 = max(xs.min() - mx, 0), min(xs.max() + mx + 1, w)
        if (y1 - y0) * (x1 - x0) < 0.8 * h * w:
            sub = _grabcut(np.ascontiguousarray(image[y0:y1, x0:x1]), labels[y0:y1, x0:x1], iterations)
            full = labels.copy()
            full[y0:y1, x0:x1] = sub.labels
            return GrabCutResult(is_fg(full), full, sub.fg_model, sub.bg_model)
    return _grabcut(image, labels, iterations)


def _grabcut(image: np.ndarray, labels: np.ndarray, iterations: int) -> GrabCutResult:
    lab = labels.copy()
    fg = is_fg(lab)
    if fg.sum() < MIN_SAMPLES:
        return GrabCutResult(fg, lab, None, None)
    if (~fg).sum() < MIN_SAMPLES:
        # no background sample: take the outer ring of the window as probable background
        ring = np.ones(lab.shape, bool)
        ring[2:-2, 2:-2] = False
        lab[ring & (lab != cv2.GC_FGD)] = cv2.GC_PR_BGD
        if (~is_fg(lab)).sum() < MIN_SAMPLES:
            return GrabCutResult(is_fg(lab), lab, None, None)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    flat = DITHER and float(image.reshape(-1, 3).std(axis=0).max()) < FLAT_STD
    img = _dither(image) if flat else np.ascontiguousarray(image)
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG: make results repeatable
    undecided = int(((lab == cv2.GC_PR_FGD) | (lab == cv2.GC_PR_BGD)).sum())
    try:
        cv2.grabCut(img, lab, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)
        for _ in range(int(iterations) - 1):
            before = is_fg(lab)
            cv2.grabCut(img, lab, None, bgd, fgd, 1, cv2.GC_EVAL)
            if (before != is_fg(lab)).sum() <= CONVERGED * max(undecided, 1):
                break
    except cv2.error:
        return GrabCutResult(is_fg(labels), labels.copy(), None, None)
    return GrabCutResult(is_fg(lab), lab, fgd, bgd)


def _dither(image: np.ndarray) -> np.ndarray:
    """The image with fixed low-amplitude noise (std 1.5 levels).

    Perfectly flat regions make GrabCut's mixtures singular and its max-flow crawl
    (seconds on a 160x120 window); a little noise keeps both well-conditioned.
    """
    noise = np.random.default_rng(0).normal(0.0, 1.5, size=image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _gmm_loglik(model: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log p(x) under OpenCV's GrabCut mixture ``model`` (1 x 65); x is (N, 3) float64."""
    m = model.reshape(-1)
    w = m[:N_COMPONENTS]
    mu = m[N_COMPONENTS:4 * N_COMPONENTS].reshape(N_COMPONENTS, 3)
    cov = m[4 * N_COMPONENTS:].reshape(N_COMPONENTS, 3, 3)
    out = np.full((x.shape[0], N_COMPONENTS), -np.inf)
    for k in range(N_COMPONENTS):
        if w[k] <= 0:
            continue
        c = cov[k] + np.eye(3) * 1e-2
        det = np.linalg.det(c)
        if det <= 0:
            continue
        d = x - mu[k]
        inv = np.linalg.inv(c)
        maha = np.einsum("ni,ij,nj->n", d, inv, d)
        out[:, k] = np.log(w[k]) - 0.5 * (maha + np.log(det) + 3 * np.log(2 * np.pi))
    mx = out.max(axis=1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    return (mx + np.log(np.exp(out - mx).sum(axis=1, keepdims=True) + 1e-300))[:, 0]


def gmm_posterior(image: np.ndarray, result: GrabCutResult) -> np.ndarray | None:
    """(h, w) float32 P(foreground | colour) from the result's mixtures (equal priors)."""
    if result.fg_model is None or result.bg_model is None:
        return None
    x = image.reshape(-1, 3).astype(np.float64)
    lf = _gmm_loglik(result.fg_model, x)
    lb = _gmm_loglik(result.bg_model, x)
    p = 1.0 / (1.0 + np.exp(np.clip(lb - lf, -50, 50)))
    return p.reshape(image.shape[:2]).astype(np.float32)
