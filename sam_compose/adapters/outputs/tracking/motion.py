"""Dense optical flow for the flow tracker: where each pixel of the new frame came from.

:class:`FlowField` computes the backward flow (new frame -> previous frame) with OpenCV's
DIS (or Farneback) on frames reduced to at most ``max_side`` pixels, and marks the pixels
whose motion can be trusted:

* **forward-backward consistency**: following the backward flow into the previous frame and
  the forward flow back must return to the start (within ``fb_threshold`` px + 10% of the
  motion) -- fails on the background uncovered behind a moving object;
* **photometric consistency**: the colour where the flow says a pixel came from must match
  its own (largest channel difference <= ``photometric_threshold``) -- fails at cuts,
  occlusions and flow errors.

:meth:`FlowField.carry` warps a soft mask of the previous frame into the new one by
backward warping (``cv2.remap``), so pixels now covered by something else take the label of
what covers them. Frames are (h, w) uint8 grey and (h, w, 3) uint8 RGB at one resolution.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ....errors import InputError

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowField:
    """Backward flow from ``current`` to ``previous`` with a reliability map.

    Attributes after :meth:`compute`: ``map_x``, ``map_y`` (h, w) float32 source positions
    in the previous frame, ``valid`` (h, w) float32 in {0, 1}, ``motion`` (2,) median
    displacement (x, y) of the valid pixels, ``valid_share`` of the frame.
    """

    def __init__(
        self,
        method: str = "dis",
        preset: str = "medium",
        max_side: int = 480,
        fb_check: bool = True,
        fb_threshold: float = 1.5,
        photometric_threshold: int = 40,
    ) -> None:
        if method not in ("dis", "farneback"):
            raise InputError(f"flow must be 'dis' or 'farneback', got {method!r}")
        if preset not in DIS_PRESETS:
            raise InputError(f"flow_preset must be one of {', '.join(DIS_PRESETS)}, got {preset!r}")
        if max_side < 16:
            raise InputError(f"flow_max_side must be at least 16 pixels, got {max_side}")
        self.method, self.preset, self.max_side = method, preset, int(max_side)
        self.fb_check, self.fb_threshold = bool(fb_check), float(fb_threshold)
        self.photometric_threshold = int(photometric_threshold)
        self._dis: Any = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self.map_x = self.map_y = self.valid = np.zeros((0, 0), np.float32)
        self.motion = np.zeros(2, np.float32)
        self.valid_share = 1.0

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(h, w, 2) flow such that a(x) ~ b(x + flow(x))."""
        if self.method == "dis":
            if self._dis is None:
                self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.preset])
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)

    def compute(self, gray: np.ndarray, prev_gray: np.ndarray, rgb: np.ndarray, prev_rgb: np.ndarray) -> None:
        """Flow from ``gray`` back to ``prev_gray`` (same size), and which pixels to trust."""
        h, w = gray.shape
        s = min(1.0, self.max_side / max(h, w)) if max(h, w) >= 32 else 32.0 / max(h, w)
        cur, prev = gray, prev_gray
        if s != 1.0:
            size = (max(12, round(w * s)), max(12, round(h * s)))
            interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
            cur, prev = cv2.resize(cur, size, interpolation=interp), cv2.resize(prev, size, interpolation=interp)
        back = self._flow(cur, prev)
        consistent = None
        if self.fb_check:
            fwd = self._flow(prev, cur)
            fh, fw = back.shape[:2]
            gx, gy = np.meshgrid(np.arange(fw, dtype=np.float32), np.arange(fh, dtype=np.float32))
            fwd_at = cv2.remap(
                fwd, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            err = np.linalg.norm(back + fwd_at, axis=2)
            consistent = err <= self.fb_threshold * s + 0.1 * np.linalg.norm(back, axis=2)
            if s != 1.0:
                consistent = cv2.resize(consistent.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        flow = back if s == 1.0 else cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR) / s
        if self._grid is None or self._grid[0].shape != (h, w):
            self._grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        gx, gy = self._grid
        self.map_x, self.map_y = gx + flow[..., 0], gy + flow[..., 1]
        src = cv2.remap(prev_rgb, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.absdiff(rgb, src).max(axis=2) <= self.photometric_threshold
        if consistent is not None:
            valid &= consistent
        self.valid = valid.astype(np.float32)
        self.valid_share = float(valid.mean())
        self.motion = -np.median(flow[valid], axis=0).astype(np.float32) if valid.any() else np.zeros(2, np.float32)

    def warp(self, soft: np.ndarray) -> np.ndarray:
        """A previous-frame (h, w) float map warped into the new frame (trusted or not)."""
        return cv2.remap(
            soft.astype(np.float32),
            self.map_x,
            self.map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )

    def carry(self, soft: np.ndarray) -> np.ndarray:
        """A previous-frame (h, w) float map warped into the new frame (0 where untrusted)."""
        return self.warp(soft) * self.valid

    def field(self) -> np.ndarray:
        """(h, w, 2) float32 displacement of every new-frame pixel from its source (x, y)."""
        gx, gy = self._grid  # type: ignore[misc]
        return np.stack([gx - self.map_x, gy - self.map_y], axis=2)

    def displacement(self, mask: np.ndarray) -> np.ndarray:
        """(2,) median forward motion (x, y) of the new-frame pixels under ``mask`` (h, w) bool."""
        sel = mask & (self.valid > 0)
        if not sel.any():
            return self.motion.copy()
        gx, gy = self._grid  # type: ignore[misc]
        return np.array([np.median(gx[sel] - self.map_x[sel]), np.median(gy[sel] - self.map_y[sel])], np.float32)
