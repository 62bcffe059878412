"""Gradio components the demo adapts: an image upload that leaves decoding to the library.

``gr.Image`` decodes an upload with Pillow before the handler runs, so a corrupt file (or
a text file named ``.png``) fails inside Gradio with a long internal message. The
component made by :func:`photo_input` hands the handler the uploaded file's path instead;
the handler reads it with :func:`sam_compose.load_image`, whose errors say what is wrong
in one line.

(A subclass of ``gr.Image`` would do the same, but Gradio writes a ``.pyi`` stub next to
the source of every component class it sees; overriding ``preprocess`` on the instance
keeps the installed package untouched.)
"""

from __future__ import annotations

from typing import Any

import gradio as gr


def photo_input(**kwargs: Any) -> gr.Image:
    """A ``gr.Image`` (same browser widget) whose value reaches handlers as an undecoded file path.

    Inline data URLs (pasted from the clipboard) still go through ``gr.Image``'s own
    decoding, which writes them to a file and returns its path.
    """
    kwargs.setdefault("type", "filepath")
    component = gr.Image(**kwargs)
    decode = component.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is None:
            return None
        path = getattr(payload, "path", None)
        url = getattr(payload, "url", None) or ""
        if path and not str(url).startswith("data:"):
            return str(path)
        return decode(payload)

    component.preprocess = preprocess  # type: ignore[method-assign]  # this one instance decodes differently
    return component
