"""What a node may ask about the run it is part of (re-exported by :mod:`sam_compose.nodes.api`).

* :func:`output_path` - where to write a file (``--out DIR``, ``{frame}`` templates);
* :func:`input_path` - where to read a file (working directory, then the graph's folder);
* :func:`input_files` - the files a folder or glob names, each one checked;
* :func:`model_spec` - a model spec with local paths checked;
* :func:`frame_index` - the frame of a stream being processed;
* :func:`current_node` - the id of the node running;
* :func:`note` - a remark for the run report (e.g. "no fixation on frame 12").

The runtime sets a :class:`RunContext` per node call (a ``contextvars`` variable, so
concurrent runs in threads do not see each other's context).
"""

from __future__ import annotations

import contextvars
import glob
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


_CONTEXT: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("sam_compose_run_context", default=None)


def run_context() -> RunContext:
    """The context of the node running in this thread (defaults when called outside a run).

    Outside a run each call returns a fresh default, so no caller can change what others see.
    """
    ctx = _CONTEXT.get()
    return RunContext() if ctx is None else ctx


def set_run_context(ctx: RunContext) -> contextvars.Token:
    """Used by the runtime; nodes only read the context."""
    return _CONTEXT.set(ctx)


def reset_run_context(token: contextvars.Token) -> None:
    _CONTEXT.reset(token)


def _guard_result(result: Any, fallback: Path) -> Path:
    return Path(result) if isinstance(result, (str, os.PathLike)) else fallback


def output_path(path: str | os.PathLike) -> Path:
    """Where a node should write ``path``: relative paths go under ``--out DIR`` (or the
    current directory); ``{frame}`` fields in the name (``frames/{frame:05d}.png``) are
    replaced by the frame index in a stream (checked first: see
    :mod:`sam_compose.security.templates`). Parent folders are created. The run's
    ``path_guard`` may refuse the path."""
    from ..security.paths import check_path_text
    from ..security.templates import format_template, has_template

    text = check_path_text(path, "output path")
    if has_template(text):
        text = format_template(text, run_context().frame_index, "output path template")
    p = Path(text).expanduser()
    out_dir = run_context().out_dir
    if not p.is_absolute() and out_dir is not None:
        p = out_dir / p
    guard = run_context().path_guard
    if guard is not None:
        p = _guard_result(guard(p, "write"), p)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def input_path(path: str | os.PathLike) -> str:
    """Resolve an input file path: as given if it exists, else relative to the graph file's folder.

    Under a path guard the file (or every file a folder or glob expands to) must be inside
    the allowed folders; the checked path is returned."""
    from ..security.paths import check_path_text

    text = check_path_text(path, "input path")
    p = Path(text).expanduser()
    base = run_context().base_dir
    if not p.is_absolute() and not p.exists() and base is not None and (base / p).exists():
        p = base / p
        text = str(p)
    guard = run_context().path_guard
    if guard is not None:
        checked = guard(p, "read")
        if isinstance(checked, (str, os.PathLike)):
            return os.fspath(checked)
    return str(p) if text.startswith("~") else text


def input_files(path: str | os.PathLike, suffixes: Sequence[str] | None = None) -> list[str]:
    """The files a file path, a folder or a glob names (sorted), each one checked by the run's
    path guard; ``suffixes`` keeps only those endings. At most the ``files`` limit."""
    from ..security import limits
    from ..security.paths import PathGuard, check_path_text, is_glob

    text = check_path_text(path, "input path")
    guard = run_context().path_guard
    base = run_context().base_dir
    if isinstance(guard, PathGuard):
        return [str(f) for f in guard.expand(text, "input", base=base, suffixes=suffixes)]
    p = Path(text).expanduser()
    if not p.is_absolute() and not p.exists() and base is not None:
        p = base / p
    names: Iterable[str]
    if p.is_dir():
        names = (str(q) for q in p.iterdir())
    elif is_glob(str(p)) and not p.exists():
        names = glob.iglob(str(p))
    else:
        return [input_path(p)]
    files: list[str] = []
    bound = limits.get("files")
    for name in names:
        if len(files) >= bound:
            raise limits.over("files", len(files) + 1, f"input {text!r}", "point at a smaller folder")
        if Path(name).is_dir() or (suffixes is not None and Path(name).suffix.lower() not in suffixes):
            continue
        if guard is not None:
            guard(Path(name), "read")
        files.append(name)
    return sorted(files)


def model_spec(spec: str) -> str:
    """A model spec as a node should pass it on: names (``opencv``, hub ids) unchanged; local
    paths (checkpoints, folders, ``onnx:DIR``, ``local-dir:DIR``) resolved next to the graph
    file and checked by the run's path guard."""
    from ..security.paths import (
        MODEL_KEYWORDS,
        MODEL_PREFIXES,
        PathGuard,
        check_path_text,
    )

    text = check_path_text(spec, "model").strip()
    guard = run_context().path_guard
    base = run_context().base_dir
    if isinstance(guard, PathGuard):
        return guard.model(text, "model", base=base)
    if text.lower() in MODEL_KEYWORDS:
        return text
    for prefix in MODEL_PREFIXES:
        if text.startswith(prefix):
            return prefix + input_path(text[len(prefix) :])
    local = Path(text).expanduser()
    if local.exists() or (base is not None and (base / local).exists()):
        return input_path(text)
    return text


def guard_params(specs: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every path-kind parameter checked (and, under a guard, resolved).

    ``specs`` maps param names to :class:`~sam_compose.nodes.params.ParamInfo` (their ``kind``).
    Runs before the node does, so a node type cannot forget the guard: ``path_in`` values
    (files, folders, globs; ``sample:`` names pass) must be readable, ``path_out`` values
    are valid templates landing inside the write root, ``model`` values are names or
    readable paths. Without a guard only the text is checked (NUL bytes, templates).
    """
    from ..security.paths import PathGuard, check_path_text, is_glob
    from ..security.templates import format_template, has_template

    guard = run_context().path_guard
    out = dict(values)
    for name, param in specs.items():
        kind = getattr(param, "kind", "value")
        value = out.get(name)
        if kind == "value" or value is None or not isinstance(value, (str, os.PathLike)):
            continue
        what = f"param {name!r}"
        text = check_path_text(value, what)
        if kind == "path_in":
            if text.startswith("sample:"):
                continue
            if guard is None:
                continue
            if isinstance(guard, PathGuard):
                base = run_context().base_dir
                absolute = guard._absolute(text, base)
                if absolute.is_dir():
                    out[name] = str(guard.tree(text, what, base=base))
                elif is_glob(text) and not absolute.exists():
                    guard.expand(text, what, base=base)
                    out[name] = str(absolute)
                else:
                    out[name] = str(guard.read(text, what, base=base))
            else:
                out[name] = input_path(text)
        elif kind == "path_out":
            if has_template(text):
                format_template(text, 0, f"{what} template")
            if guard is not None:
                output_path(text)
        elif kind == "model":
            out[name] = model_spec(text)
    return out


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

    return shared_engine(model_spec(spec))


def guarded_clip_spec(clip: str | None) -> str | None:
    """An open_clip spec with a ``local-dir:PATH`` folder resolved through :func:`model_spec`."""
    return None if clip is None else model_spec(clip)


__all__ = [
    "RunContext",
    "current_node",
    "file_stamp",
    "frame_index",
    "guard_params",
    "guarded_clip_spec",
    "input_files",
    "input_path",
    "model_spec",
    "node_engine",
    "note",
    "output_path",
    "reset_run_context",
    "run_context",
    "set_run_context",
]
