"""Colour models over the colour-word vocabulary, as GrabCut learns them, but per region.

A model is a smoothed histogram of colour words (log-probabilities, (k,)). The cost of
labelling a superpixel with a model is the negative log-likelihood of all its pixels,
``-hist_i . log p``: one matrix-vector product for every superpixel at once.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

SMOOTHING = 0.5  # pseudo-count per colour word


def fit(hist: csr_matrix, weights: np.ndarray) -> np.ndarray:
    """(k,) log-probabilities of colour words under regions weighted by ``weights`` (n,) >= 0.

    ``hist`` is the (n, k) sparse matrix of colour-word counts per region.
    """
    counts = np.asarray(hist.T @ np.asarray(weights, np.float64)).ravel() + SMOOTHING
    return np.log(counts / counts.sum())


def costs(hist: csr_matrix, logp: np.ndarray) -> np.ndarray:
    """(n,) negative log-likelihood of every region's pixels under the model ``logp``."""
    return -np.asarray(hist @ logp).ravel()


def separation(hist: csr_matrix, fg: np.ndarray, bg: np.ndarray) -> float:
    """Hellinger distance in [0, 1] between the colours of two sets of regions (bool (n,))."""
    if not fg.any() or not bg.any():
        return 0.0
    hf = np.asarray(hist.T @ fg.astype(np.float64)).ravel()
    hb = np.asarray(hist.T @ bg.astype(np.float64)).ravel()
    hf = hf / max(hf.sum(), 1e-12)
    hb = hb / max(hb.sum(), 1e-12)
    return float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(hf * hb).sum()))))
