"""Deprecated location of :class:`~sam_compose.engines.opencv.OpenCVEngine` (until 0.3)."""

from __future__ import annotations

import warnings

from .opencv import OpenCVEngine

warnings.warn(
    "sam_compose.engines.opencv_engine is deprecated: import OpenCVEngine from sam_compose.engines.opencv",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["OpenCVEngine"]
