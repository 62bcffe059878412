"""Per-session state of the demo: the image, the prompts clicked so far, the last result.

One :class:`SessionState` lives in a ``gr.State`` per browser tab, so two people (or two
tabs) never see each other's points. Everything here is plain Python and numpy; no Gradio.

Coordinates follow the project's convention: points (x, y) and boxes (x0, y0, x1, y1)
in pixels of the image held by the session (after any demo downscaling, see
:data:`DEMO_MAX_SIDE`; downloads are mapped back to the upload's size). States are built per
session by :mod:`.sessions` (a factory), never shared.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

CLICK_MODES: tuple[str, ...] = ("positive point", "negative point", "box (2 clicks)", "gaze path")
"""What a click on the image does (the radio in the Segment tab)."""

DEMO_MAX_SIDE = 2048
"""Images with a longer side are downscaled for interactive use (with a warning)."""


@dataclass
class SessionState:
    """What one browser session has done so far.

    Attributes:
        image: (H, W, 3) uint8 RGB or None before any upload.
        image_name: a label for the image (file name or ``sample:NAME``).
        points: clicked points as (x, y, label), label 1 = foreground, 0 = background.
        box: one xyxy box in pixels, or None.
        box_corner: the first corner of a box being drawn, or None.
        gaze_clicks: (x, y) centres of a simulated gaze path, in click order.
        gaze: gaze samples or fixations loaded from a recording (adapter objects), or None.
        prior_mask: (H, W) bool mask brushed by the user, or None.
        text: the last text prompt, or None.
        result: the last :class:`~sam_compose.types.Masks`, or None.
        session_id: a random id naming this session's folder.
        folder: the session's own folder (set by :class:`~sam_compose.app.sessions.DemoWorkspace`).
        original_size: (H, W) of the upload when the page holds a downscaled copy, else None;
            downloads are mapped back to this size.
        labels: print region numbers on automatic masks (the page's "labels" toggle).
    """

    image: np.ndarray | None = None
    image_name: str = ""
    points: list[tuple[float, float, int]] = field(default_factory=list)
    box: list[float] | None = None
    box_corner: tuple[float, float] | None = None
    gaze_clicks: list[tuple[float, float]] = field(default_factory=list)
    gaze: Any = None
    prior_mask: np.ndarray | None = None
    text: str | None = None
    result: Any = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    folder: str = ""
    original_size: tuple[int, int] | None = None
    labels: bool = False

    # --- image --------------------------------------------------------------------------
    def set_image(self, image: np.ndarray, name: str = "image", original_size: tuple[int, int] | None = None) -> None:
        """Hold a new image; every prompt and result of the previous image is dropped.

        ``original_size`` (H, W) is the upload's size when ``image`` is a downscaled copy."""
        self.image = image
        self.image_name = name
        self.original_size = (
            None
            if original_size is None or tuple(original_size) == image.shape[:2]
            else (int(original_size[0]), int(original_size[1]))
        )
        self.clear_prompts()

    def require_image(self) -> np.ndarray:
        """The session's image, or an :class:`InputError` telling the user to load one."""
        if self.image is None:
            raise InputError("no image yet: upload a photo or click one of the example buttons first")
        return self.image

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the session's image."""
        img = self.require_image()
        return int(img.shape[0]), int(img.shape[1])

    # --- prompts ------------------------------------------------------------------------
    def clear_prompts(self) -> None:
        """Forget points, box, gaze, prior mask, text and the last result (keep the image)."""
        self.points = []
        self.box = None
        self.box_corner = None
        self.gaze_clicks = []
        self.gaze = None
        self.prior_mask = None
        self.text = None
        self.result = None

    def add_click(self, x: float, y: float, mode: str) -> str:
        """Apply one click at pixel (x, y) in ``mode`` (one of :data:`CLICK_MODES`).

        Returns what happened, for the status line: ``"point"``, ``"corner"`` (first box
        corner stored), ``"box"`` (box completed) or ``"gaze"``.
        """
        h, w = self.size
        if not (0 <= x <= w and 0 <= y <= h):
            raise InputError(f"click at ({x:g}, {y:g}) is outside the {w}x{h} image")
        if mode not in CLICK_MODES:
            raise InputError(f"unknown click mode {mode!r}; choose one of {', '.join(CLICK_MODES)}")
        if mode == "positive point":
            self.points.append((float(x), float(y), 1))
            return "point"
        if mode == "negative point":
            self.points.append((float(x), float(y), 0))
            return "point"
        if mode == "gaze path":
            self.gaze_clicks.append((float(x), float(y)))
            return "gaze"
        if self.box_corner is None:
            self.box_corner = (float(x), float(y))
            return "corner"
        (ax, ay), self.box_corner = self.box_corner, None
        x0, x1 = sorted((ax, float(x)))
        y0, y1 = sorted((ay, float(y)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise InputError("the two box corners are too close; click two opposite corners of the object")
        self.box = [x0, y0, x1, y1]
        return "box"

    def undo(self) -> None:
        """Remove the last point (or the pending box corner, or the box)."""
        if self.box_corner is not None:
            self.box_corner = None
        elif self.points:
            self.points.pop()
        elif self.box is not None:
            self.box = None
        elif self.gaze_clicks:
            self.gaze_clicks.pop()

    def has_click_prompts(self) -> bool:
        """True when points, a box or a prior mask are set (what a click segmentation uses)."""
        return bool(self.points) or self.box is not None or self.prior_mask is not None

    def request(self) -> dict[str, Any]:
        """Keyword arguments for ``prompts_from_request`` from the clicked points, box and prior mask."""
        kw: dict[str, Any] = {}
        if self.points:
            kw["points"] = [[p[0], p[1]] for p in self.points]
            kw["labels"] = [p[2] for p in self.points]
        if self.box is not None:
            kw["boxes"] = [list(self.box)]
        if self.prior_mask is not None:
            kw["mask"] = self.prior_mask
        return kw

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view of the prompts (shown in the page, used by tests)."""
        return {
            "image": self.image_name or None,
            "size": list(self.size) if self.image is not None else None,
            "points": [[round(x, 1), round(y, 1), lab] for x, y, lab in self.points],
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "pending_corner": None if self.box_corner is None else [round(v, 1) for v in self.box_corner],
            "gaze_clicks": len(self.gaze_clicks),
            "prior_mask": self.prior_mask is not None,
        }


VIDEO_CLICK_MODES: tuple[str, ...] = ("positive point", "negative point", "box (2 clicks)")


@dataclass
class VideoState:
    """The Video tab's session: which clip, the chosen frame and the prompt clicked on it.

    Only the path and the frame on screen are kept (never the whole clip); points and the
    box are pixels of the demo's frames (downscaled to 640 on the longer side).
    """

    path: str | None = None
    n_frames: int = 0
    fps: float = 10.0
    name: str = ""
    frame_index: int = 0
    frame: np.ndarray | None = None
    points: list[tuple[float, float, int]] = field(default_factory=list)
    box: list[float] | None = None
    box_corner: tuple[float, float] | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    folder: str = ""

    def require_video(self) -> str:
        """The clip's path, or an :class:`InputError` telling the user to upload one."""
        if not self.path or self.frame is None:
            raise InputError("no video yet: upload a video or click an example first")
        return self.path

    def clear_prompts(self) -> None:
        self.points, self.box, self.box_corner = [], None, None

    def add_click(self, x: float, y: float, mode: str) -> str:
        """Like :meth:`SessionState.add_click` on the current frame (no gaze mode)."""
        self.require_video()
        probe = SessionState(image=self.frame, points=self.points, box=self.box, box_corner=self.box_corner)
        what = probe.add_click(x, y, mode if mode in VIDEO_CLICK_MODES else "positive point")
        self.points, self.box, self.box_corner = probe.points, probe.box, probe.box_corner
        return what
