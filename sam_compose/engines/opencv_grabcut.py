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


@dataclass
class GrabCutResult:
    """Output of :func:`grabcut`: final mask, label map and the learned colour models."""

    mask: np.ndarray          # (h, w) bool, FGD | PR_FGD
    labels: np.ndarray        # (h, w) uint8 GrabCut labels
    fg_model: np.ndarray | None  # (1, 65) float64, None when GrabCut could not run
    bg_model: np.ndarray | None


def is_fg(labels: np.ndarray) -> np.ndarray:
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def grabcut(image: np.ndarray, labels: np.ndarray, iterations: int = 5) -> GrabCutResult:
    """Run GrabCut from ``labels`` (modified copy returned) on ``image`` (h, w, 3) uint8."""
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
    try:
        cv2.grabCut(np.ascontiguousarray(image), lab, None, bgd, fgd, int(iterations), cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return GrabCutResult(is_fg(labels), labels.copy(), None, None)
    return GrabCutResult(is_fg(lab), lab, fgd, bgd)


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
