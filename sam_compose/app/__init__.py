"""The Gradio demo: every prompt type and output of sam_compose in one page.

    from sam_compose.app import build_app
    demo = build_app(engine="opencv")
    demo.launch(server_name="127.0.0.1", server_port=7860)

or on the command line: ``sam-compose demo [--engine SPEC] [--host 127.0.0.1] [--port 7860]``.
All logic lives in the library; this package only lays out the page (:mod:`.ui`), keeps
per-session state (:mod:`.state`) and exposes named API endpoints (:mod:`.api`).
"""

from __future__ import annotations

from typing import Any

DEFAULT_CONCURRENCY = 2
"""Events running at once across all sessions (one concurrency group); more wait in the queue."""

QUEUE_MAX_SIZE = 64
"""Clients beyond this many waiting get Gradio's "queue is full, try again" message."""


def build_app(
    engine: Any = "auto",
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_queue: int = QUEUE_MAX_SIZE,
    allowed_roots: Any = (),
    allow_downloads: bool = True,
) -> Any:
    """The demo as a ``gr.Blocks`` with its queue configured; call ``.launch()`` on it.

    ``engine`` is an engine spec (``auto``, ``opencv``, a Hugging Face id, a folder, a
    ``.pth``), loaded on first use through ``shared_engine``, or an ``Engine`` instance;
    either way every session shares it and its embedding cache. ``concurrency``
    events (clicks, API calls, ...) run at once; up to ``max_queue`` more wait their turn.
    Every event reads files only from Gradio's uploads, the demos folder, the session's own
    folder and ``allowed_roots`` (see docs/security.md). ``allow_downloads``: whether the engine
    picker may download a model that is not on this machine.
    """
    from .sessions import DemoWorkspace
    from .ui import build_blocks

    demo = build_blocks(engine, workspace=DemoWorkspace(allowed_roots=allowed_roots), allow_downloads=allow_downloads)
    demo.queue(default_concurrency_limit=int(concurrency), max_size=int(max_queue))
    return demo


__all__ = ["build_app"]
