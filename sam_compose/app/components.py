"""Gradio components the demo adapts: an image upload that leaves decoding to the library.

``gr.Image`` decodes an upload with Pillow before the handler runs, so a corrupt file (or
a text file named ``.png``) fails inside Gradio with a long internal message. The
:class:`PhotoInput` below hands the handler the uploaded file's path instead; the handler
reads it with :func:`sam_compose.load_image`, whose errors say what is wrong in one line.
"""

from __future__ import annotations

from typing import Any

import gradio as gr


class PhotoInput(gr.Image):
    """``gr.Image`` (same browser widget) whose value reaches handlers as an undecoded file path."""

    is_template = True  # use the parent's front-end (Gradio's convention for template components)

    def preprocess(self, payload: Any) -> Any:
        """The uploaded file's path; inline data URLs (clipboard) go through ``gr.Image``."""
        if payload is None:
            return None
        path = getattr(payload, "path", None)
        url = getattr(payload, "url", None) or ""
        if path and not str(url).startswith("data:"):
            return str(path)
        return super().preprocess(payload)
