"""What a node may ask about the run it is part of (re-exported by :mod:`sam_compose.nodes.api`).

* :func:`output_path` - where to write a file (``--out DIR``, ``{frame}`` templates);
* :func:`input_path` - where to read a file (working directory, then the graph's folder);
* :func:`frame_index` - the frame of a stream being processed;
* :func:`current_node` - the id of the node running;
* :func:`note` - a remark for the run report (e.g. "no fixation on frame 12").

The runtime sets a :class:`RunContext` per node call (a ``contextvars`` variable, so
concurrent runs in threads do not see each other's context).
"""

from __future__ import annotations

import contextvars
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

@dataclass
class RunContext:
    """What a node may ask about the run it is part of."""

    out_dir: Path | None = None
    base_dir: Path | None = None
    node_id: str | None = None
    frame_index: int | None = None
    path_guard: Callable[[Path, str], Any] | None = None
    """Called as ``guard(path, "read" | "write")`` by :func:`input_path` / :func:`output_path`;
    raises to refuse a path (agent tools confine graphs to allowed folders this way)."""
    notes: Callable[[str], None] | None = None
    """Called by :func:`note`; the runtime records the text under the node in the run report."""


_CONTEXT: contextvars.ContextVar[RunContext] = contextvars.ContextVar("sam_compose_run_context", default=RunContext())


def run_context() -> RunContext:
    """The context of the node running in this thread (defaults when called outside a run)."""
    return _CONTEXT.get()


def set_run_context(ctx: RunContext) -> contextvars.Token:
    """Used by the runtime; nodes only read the context."""
    return _CONTEXT.set(ctx)


def reset_run_context(token: contextvars.Token) -> None:
    _CONTEXT.reset(token)


def output_path(path: str | os.PathLike) -> Path:
    """Where a node should write ``path``: relative paths go under ``--out DIR`` (or the
    current directory); ``{frame}`` in the name is replaced by the frame index in a
    stream. Parent folders are created. The run's ``path_guard`` may refuse the path."""
    text = os.fspath(path)
    idx = run_context().frame_index
    if "{frame" in text:
        text = text.format(frame=idx if idx is not None else 0)
    p = Path(text).expanduser()
    if not p.is_absolute() and run_context().out_dir is not None:
        p = run_context().out_dir / p
    guard = run_context().path_guard
    if guard is not None:
        guard(p, "write")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def input_path(path: str | os.PathLike) -> str:
    """Resolve an input file path: as given if it exists, else relative to the graph file's folder."""
    text = os.fspath(path)
    p = Path(text).expanduser()
    base = run_context().base_dir
    if not p.is_absolute() and not p.exists() and base is not None and (base / p).exists():
        p = base / p
        text = str(p)
    guard = run_context().path_guard
    if guard is not None:
        guard(p, "read")
    return str(p) if text.startswith("~") else text


def frame_index() -> int | None:
    """Index of the stream frame being processed, or None outside a stream."""
    return run_context().frame_index


def current_node() -> str | None:
    """Id of the node being run, or None outside a run."""
    return run_context().node_id


def note(message: str) -> None:
    """Record a remark about this node's run in the graph's run report (``nodes[id]["notes"]``,
    with the frame index in a stream); outside a run it is a warning."""
    hook = run_context().notes
    if hook is None:
        import warnings

        warnings.warn(message, UserWarning, stacklevel=2)
        return
    hook(str(message))


def file_stamp(params: dict, key: str = "path") -> Any:
    """A ``cache_key`` for nodes that read a file: its size and modification time, so an edited
    file is read again. None for ``sample:`` images, missing params and unreadable paths."""
    path = params.get(key)
    if not path or str(path).startswith("sample:"):
        return None
    try:
        st = os.stat(input_path(path))
        return (st.st_size, st.st_mtime_ns)
    except (OSError, ValueError):
        return None


def node_engine(spec: str) -> Any:
    """The shared engine for ``spec`` as a node should get it: a local checkpoint path is
    resolved like any input file (next to the graph file, and subject to the run's path guard)."""
    from ..engines import shared_engine

    base = run_context().base_dir
    local = Path(spec).expanduser()
    if spec.strip().lower() not in ("opencv", "auto") and (local.exists() or (base is not None and (base / local).exists())):
        spec = input_path(spec)
    return shared_engine(spec)


def guarded_clip_spec(clip: str | None) -> str | None:
    """An open_clip spec with a ``local-dir:PATH`` folder resolved through :func:`input_path`."""
    prefix = "local-dir:"
    if clip and clip.startswith(prefix):
        return prefix + input_path(clip[len(prefix):])
    return clip


__all__ = ["RunContext", "run_context", "set_run_context", "reset_run_context", "output_path",
           "input_path", "frame_index", "current_node", "note", "file_stamp", "node_engine", "guarded_clip_spec"]
