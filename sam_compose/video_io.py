"""Reading and writing video: frames in, frames (or masks) out, one frame at a time.

Frames follow the image convention: (H, W, 3) uint8 RGB. Nothing here holds more than
one frame in memory, so a stream of any length can pass through.

Reading (:func:`open_video` / :func:`read_frames`) accepts

* a video file path (anything OpenCV's FFmpeg backend decodes: MP4, AVI, MKV, ...);
* a folder of images or a glob pattern (``"frames/*.png"``), read in name order;
* a webcam index (``0``, or the string ``"0"`` / ``"webcam:0"``);
* an iterable of frames (arrays, PIL images or paths), or a (T, H, W, 3) array.

Bad sources raise :class:`~sam_compose.errors.InputError` (a missing or undecodable
file, a video with no frames, no camera at the index, frames that change size).

Writing: :class:`VideoWriter` (MP4 through OpenCV's ``VideoWriter``, ``mp4v`` codec) and
:func:`write_png_sequence` (one PNG per frame or mask).
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sized
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from .errors import ImageError, InputError, LimitError
from .image_io import check_image_size, load_image, save_png
from .security import limits
from .security.deadlines import checkpoint
from .security.paths import check_regular_file

__all__ = [
    "VideoError",
    "VideoLimitError",
    "VideoSource",
    "VideoWriter",
    "open_video",
    "read_frames",
    "write_png_sequence",
    "write_video",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class VideoError(InputError):
    """A video could not be opened or read (missing, undecodable, empty, inconsistent frames)."""


class VideoLimitError(LimitError, VideoError):
    """A video over a resource limit (more frames than ``SAM_COMPOSE_MAX_VIDEO_FRAMES``)."""


def _check_fps(fps: Any) -> float:
    """``fps`` as a positive float, or a VideoError saying what was given."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not fps > 0:
        raise VideoError(f"fps must be a positive number of frames per second, got {fps!r}")
    return float(fps)


def _webcam_index(source: Any) -> int | None:
    if isinstance(source, (bool, np.bool_)):
        return None
    if isinstance(source, (int, np.integer)):
        return int(source)
    if isinstance(source, str):
        m = re.fullmatch(r"(?:webcam:|camera:)?(\d{1,2})", source.strip())
        if m:
            return int(m.group(1))
    return None


class VideoSource:
    """An open stream of frames; iterate it for (H, W, 3) uint8 RGB arrays.

    Attributes:
        name: what was opened (path, ``webcam:N`` or ``frames``), for messages.
        fps: frames per second when the source knows it (files, cameras), else None.
        frame_count: number of frames when known up front (files, arrays), else None.
        size: (H, W) of the first frame once one was read (or from the file header).

    Frames must all have the same size; a frame of another size raises :class:`VideoError`
    naming its index (resize them first). Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        name: str,
        frames: Iterator[Any],
        fps: float | None = None,
        frame_count: int | None = None,
        size: tuple[int, int] | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.fps = fps
        self.frame_count = frame_count
        self.size = size
        self._frames = frames
        self._release = release
        self._index = 0
        self._first_size: tuple[int, int] | None = None
        self._max_frames = limits.get("video_frames")

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        checkpoint()  # a deadline (server calls, demo events) stops a stream between frames
        try:
            raw = next(self._frames)
        except StopIteration:
            self.close()
            if self._index == 0:
                raise VideoError(f"video {self.name} has no frames; check the file or the frame source") from None
            raise
        if self._index >= self._max_frames:
            self.close()
            raise limits.over(
                "video_frames",
                self._index + 1,
                f"video {self.name}",
                "trim it, or read part of it (start/stop/step)",
                error=VideoLimitError,
            )
        try:
            frame = load_image(raw)
        except ImageError as exc:
            raise VideoError(f"frame {self._index} of {self.name}: {exc}") from exc
        hw = (int(frame.shape[0]), int(frame.shape[1]))
        if self._first_size is None:
            self._first_size = hw
            self.size = hw
        elif hw != self._first_size:
            raise VideoError(
                f"frame {self._index} of {self.name} is {hw[1]}x{hw[0]} but earlier frames are "
                f"{self._first_size[1]}x{self._first_size[0]}; all frames must have the same size (resize them first)"
            )
        self._index += 1
        return frame

    @property
    def frames_read(self) -> int:
        return self._index

    def close(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoSource({self.name!r}, fps={self.fps}, frame_count={self.frame_count}, size={self.size})"


def _capture_frames(cap: Any, name: str) -> Iterator[np.ndarray]:
    first = True
    while True:
        ok, bgr = cap.read()
        if not ok or bgr is None:
            if first:
                raise VideoError(
                    f"could not read any frame from {name}: the file is empty, truncated or in a codec "
                    "this OpenCV build cannot decode (try re-encoding it to H.264 MP4)"
                )
            return
        first = False
        if bgr.ndim == 2:
            yield cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        else:
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _open_capture(target: str | int, name: str, refusal: str) -> VideoSource:
    """A :class:`VideoSource` over ``cv2.VideoCapture(target)``; ``refusal`` is the error when it does not open."""
    cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        cap.release()
        raise VideoError(refusal)
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    h, w = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    if h > 0 and w > 0:
        try:  # from the container's header: refuse huge or thin frames before decoding one
            check_image_size(h, w, what=f"frames of {name}")
        except ImageError as exc:
            cap.release()
            raise VideoError(str(exc)) from None
    return VideoSource(
        name,
        _capture_frames(cap, name),
        fps=fps,
        frame_count=count if count > 0 else None,
        size=(h, w) if h > 0 and w > 0 else None,
        release=cap.release,
    )


def _open_file(path: Path) -> VideoSource:
    if not path.exists():
        raise VideoError(f"video file not found: {path}")
    check_regular_file(path, "video")  # a FIFO would block the decoder forever
    if path.stat().st_size == 0:
        raise VideoError(f"video {path} is an empty file (0 bytes)")
    return _open_capture(
        str(path),
        str(path),
        (
            f"could not open {path} as a video: it has no frames, is not a format this OpenCV build "
            "decodes (MP4/AVI/MKV with a common codec), or is not a video at all"
        ),
    )


def _open_webcam(index: int) -> VideoSource:
    vs = _open_capture(
        index,
        f"webcam:{index}",
        (
            f"no camera at index {index}: none is connected, it is in use, or this OpenCV build "
            "has no camera support; pass a video file or a frame iterator instead"
        ),
    )
    vs.frame_count = None  # a live stream has no length (some backends report -1 or 0)
    return vs


def _image_files(paths: Iterable[str], name: str) -> VideoSource:
    found: list[str] = []
    for p in paths:
        if Path(p).suffix.lower() in IMAGE_SUFFIXES:
            found.append(p)
            limits.check("files", len(found), f"frames of {name}", "point at a smaller folder or a narrower pattern")
    files = sorted(found)
    if not files:
        raise VideoError(f"{name} holds no image files ({', '.join(IMAGE_SUFFIXES)}); it has no frames")
    return VideoSource(name, iter(files), frame_count=len(files))


def open_video(source: Any, fps: float | None = None) -> VideoSource:
    """Open ``source`` as a :class:`VideoSource` (see the module docstring for accepted forms).

    ``fps`` overrides (or supplies) the frame rate, e.g. for frame iterators, where it is
    needed to match gaze timestamps to frames.
    """
    if fps is not None:
        fps = _check_fps(fps)
    if isinstance(source, VideoSource):
        if fps is not None:
            source.fps = fps
        return source
    index = _webcam_index(source)
    if index is not None:
        vs = _open_webcam(index)
    elif isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        path = Path(text).expanduser()
        if any(c in text for c in "*?[") and not path.exists():
            vs = _image_files(glob.iglob(str(path)), text)
        elif path.is_dir():
            vs = _image_files((str(p) for p in path.iterdir()), str(path))
        else:
            vs = _open_file(path)
    elif isinstance(source, np.ndarray):
        if source.ndim not in (3, 4) or (source.ndim == 4 and source.shape[-1] not in (1, 3, 4)):
            raise VideoError(f"a video array must be (T, H, W) or (T, H, W, 3), got shape {source.shape}")
        vs = VideoSource(
            "frames array",
            iter(source),
            frame_count=int(source.shape[0]),
            size=(int(source.shape[1]), int(source.shape[2])),
        )
    elif isinstance(source, Iterable):
        count = len(source) if isinstance(source, Sized) else None
        vs = VideoSource("frames", iter(source), frame_count=count)
    else:
        raise VideoError(
            f"cannot read video from a {type(source).__name__}; pass a file path, a folder or glob of "
            "images, a webcam index, an iterable of (H, W, 3) frames or a (T, H, W, 3) array"
        )
    if fps is not None:
        vs.fps = fps
    return vs


def read_frames(source: Any, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames from ``source``, at most ``max_frames`` of them."""
    if max_frames is not None and (not isinstance(max_frames, (int, np.integer)) or max_frames < 0):
        raise InputError(f"max_frames must be a whole number >= 0 or None, got {max_frames!r}")
    with open_video(source) as vs:
        # islice stops before decoding a frame past max_frames
        yield from itertools.islice(vs, max_frames)


class VideoWriter:
    """Write RGB frames to an MP4 (or AVI) file with OpenCV, one at a time.

    The size is taken from the first frame; later frames must match. ``fourcc`` defaults
    to ``mp4v`` for ``.mp4``/``.m4v``/``.mov``/``.mkv``, ``MJPG`` for ``.avi`` and ``VP80``
    for ``.webm`` (what browsers play; OpenCV's FFmpeg has no H.264 encoder). Use as a
    context manager; the file is complete after :meth:`close`.
    """

    DEFAULT_FOURCC: ClassVar[dict[str, str]] = {".avi": "MJPG", ".webm": "VP80"}

    def __init__(self, path: str | os.PathLike, fps: float = 25.0, fourcc: str | None = None) -> None:
        self.path = Path(path)
        fps = _check_fps(fps)
        suffix = self.path.suffix.lower()
        if suffix not in (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"):
            raise InputError(f"video output {self.path} must end in .mp4, .avi, .mov, .mkv or .webm")
        self.fps = float(fps)
        self.fourcc = fourcc or self.DEFAULT_FOURCC.get(suffix, "mp4v")
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        frame = load_image(frame)
        h, w = frame.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise InputError(
                    f"OpenCV could not open a {self.fourcc} video writer for {self.path}; "
                    "try another suffix (.avi) or fourcc"
                )
            self._size = (h, w)
        size = self._size
        if size is not None and (h, w) != size:
            raise InputError(f"frame {self.frames_written} is {w}x{h} but the video is {size[1]}x{size[0]}")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    @property
    def size(self) -> tuple[int, int] | None:
        """(H, W) of the video once the first frame was written, else None."""
        return self._size

    def close(self) -> Path:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        return self.path

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 25.0) -> Path:
    """Write every frame of ``frames`` to ``path`` (MP4 by default); returns the path."""
    with VideoWriter(path, fps=fps) as vw:
        for f in frames:
            vw.write(f)
    if vw.frames_written == 0:
        raise InputError("no frames to write; the video would be empty")
    return Path(path)


def write_png_sequence(
    frames: Iterable[np.ndarray], folder: str | os.PathLike, pattern: str = "frame_{:06d}.png", start: int = 0
) -> list[Path]:
    """Write each (H, W) or (H, W, 3) uint8 (or bool, written 0/255) array as a numbered PNG."""
    if pattern.format(0) == pattern.format(1):
        raise InputError(f"pattern {pattern!r} has no field for the frame number; use e.g. 'frame_{{:06d}}.png'")
    out = []
    folder = Path(folder)
    for i, f in enumerate(frames, start):
        arr = np.asarray(f)
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        out.append(save_png(folder / pattern.format(i), arr))
    return out
