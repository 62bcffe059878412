"""The demo's named API endpoints: ``/segment``, ``/generate``, ``/inpaint``, ``/lift3d``, ``/track``.

They are stateless (every call carries its image and prompt) and usable from
``gradio_client``::

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    overlay_path, result = client.predict(handle_file("photo.jpg"),
                                          '{"points": [[320, 240]], "labels": [1]}',
                                          api_name="/segment")

Prompts are JSON objects: ``points`` ([[x, y], ...] pixels), ``labels`` (1 = foreground,
0 = background), ``box`` ([x0, y0, x1, y1] pixels) or ``boxes`` (several), ``text``.
Bad input comes back as an error whose message says what to fix.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import InputError
from ..types import Prompt, jsonable
from . import outputs, service
from .errors import friendly


class ApiEndpoints(service.EngineSource):
    """The endpoint functions, bound to the app's engine spec (resolved on first call).

    Stateless: each call gets its own folder and path guard (files only from the uploads
    and demos folders) and works on the uploaded image at its full size, so every answer
    (masks, RLE sizes, boxes) is in the uploaded image's frame.
    """

    def _call(self, prefix: str) -> tuple[Any, Any]:
        folder = self.workspace.call_folder(prefix)
        return folder, self.workspace.call_guard(folder)

    def _image(self, image: Any, guard: Any) -> np.ndarray:
        img, _ = service.prepare_image(image, guard=guard, max_side=None)
        return img

    def _segment(self, image: Any, prompt: Any, guard: Any) -> tuple[np.ndarray, service.Outcome]:
        img = self._image(image, guard)
        request = service.parse_prompt_json(prompt)
        return img, service.segment(self.engine, img, **request)

    @friendly
    def segment(self, image: Any, prompt: str) -> tuple[np.ndarray, dict[str, Any]]:
        """Segment an image from a JSON prompt.

        Args:
            image: the image file (PNG, JPEG, ...).
            prompt: JSON such as {"points": [[x, y]], "labels": [1], "box": [x0, y0, x1, y1]}
                (pixels; label 1 = foreground, 0 = background); "boxes" for several boxes,
                "text" for a CLIP text prompt, "multimask": true for the best of three.

        Returns:
            the overlay image (masks tinted, scores printed) and a JSON result:
            {"image_size": [H, W], "masks": [{"score", "area", "box", "rle"}], "timings_ms": {...}},
            all in the uploaded image's frame (it is processed at full size).
        """
        _, guard = self._call("segment")
        img, outcome = self._segment(image, prompt, guard)
        result = {"image_size": [int(img.shape[0]), int(img.shape[1])], **outcome.summary()}
        for row, rle in zip(result["masks"], outcome.masks.to_rle(), strict=True):
            row["rle"] = rle
        pts = [
            (x, y, int(lab))
            for p in outcome.masks.prompts
            if p.points is not None
            for (x, y), lab in zip(p.points.tolist(), p.labels.tolist(), strict=True)
        ]
        from .render import draw_result

        return draw_result(img, outcome.masks, pts), result

    @friendly
    def generate(self, image: Any, params: str = "{}") -> tuple[np.ndarray, dict[str, Any]]:
        """Automatic mask generation: every object the engine finds.

        Args:
            image: the image file.
            params: JSON of generator parameters, e.g. {"points_per_side": 16} ("{}" for defaults;
                the accepted names depend on the engine).

        Returns:
            the overlay image and {"image_size": [H, W], "masks": [{"score", "area", "box", "rle"}],
            "timings_ms": {...}}, in the uploaded image's frame.
        """
        _, guard = self._call("generate")
        img = self._image(image, guard)
        try:
            kwargs = json.loads(params or "{}")
        except json.JSONDecodeError as exc:
            raise InputError(f'params is not valid JSON ({exc.msg}); e.g. {{"points_per_side": 16}}') from exc
        if not isinstance(kwargs, dict):
            raise InputError('params must be a JSON object such as {"points_per_side": 16}')
        outcome = service.generate(self.engine, img, **kwargs)
        result = {"image_size": [int(img.shape[0]), int(img.shape[1])], **outcome.summary()}
        for row, rle in zip(result["masks"], outcome.masks.to_rle(), strict=True):
            row["rle"] = rle
        from .render import draw_result

        return draw_result(img, outcome.masks), result

    @friendly
    def inpaint(self, image: Any, prompt: str, method: str = "telea", radius: float = 5) -> np.ndarray:
        """Remove the object a JSON prompt selects and fill the hole.

        Args:
            image: the image file.
            prompt: JSON prompt as for /segment, selecting what to remove.
            method: "telea" or "ns" (OpenCV's methods), or another the inpainting adapter offers.
            radius: inpainting radius in pixels.

        Returns:
            the inpainted image (the uploaded image's size).
        """
        _, guard = self._call("inpaint")
        img, outcome = self._segment(image, prompt, guard)
        return outputs.inpaint_image(img, outcome.masks, method=method, radius=int(radius))

    @friendly
    def lift3d(self, image: Any, prompt: str, depth: Any = None) -> tuple[str, dict[str, Any]]:
        """Lift the object a JSON prompt selects into a coloured 3D point cloud.

        Args:
            image: the image file.
            prompt: JSON prompt as for /segment.
            depth: optional depth file aligned with the image (16-bit PNG in millimetres,
                .npy in metres); without it the demo uses an estimator when available, else an
                illustrative relief of the mask.

        Returns:
            a GLB point cloud (for gr.Model3D or any glTF viewer) and a JSON summary
            (points, centroid, extents, depth source).
        """
        folder, guard = self._call("lift3d")
        img, outcome = self._segment(image, prompt, guard)
        depth_file = str(guard.read(str(depth), "depth file")) if depth else None
        glb, ply, summary = outputs.lift(img, "image", outcome.masks, folder, source="auto", depth_file=depth_file)
        summary["ply"] = ply
        return glb, jsonable(summary)

    @friendly
    def track(self, video: Any, prompt: str, frame: float = 0) -> tuple[str, dict[str, Any]]:
        """Track the object a JSON prompt selects on one frame through the rest of a video.

        Args:
            video: the video file (MP4, WebM, AVI, ...); the demo tracks up to 300 frames.
            prompt: JSON prompt as for /segment, in pixels of that frame (after the demo's
                downscaling to 640 pixels on the longer side).
            frame: index of the frame the prompt is on.

        Returns:
            the tracked overlay video (WebM) and a JSON summary (frames tracked, lost frames).
        """
        folder, guard = self._call("track")
        if not video:
            raise InputError("upload a video first (MP4, WebM, AVI, ...)")
        info = outputs.probe_video(str(guard.read(str(video), "video")))
        request = service.parse_prompt_json(prompt)
        boxes = request.get("boxes") or []
        if len(boxes) > 1 or request.get("text"):
            raise InputError("/track takes one object: points and/or one box")
        if not 0 <= int(frame) < info.n_frames:
            raise InputError(f"frame {int(frame)} is outside the video (0..{info.n_frames - 1})")
        p = Prompt(points=request.get("points"), labels=request.get("labels"), box=boxes[0] if boxes else None)
        path, summary = outputs.track_video(info.path, p, int(frame), folder, fps=info.fps, engine=self.engine)
        return path, summary
