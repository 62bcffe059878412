"""Running a validated graph: topological order, result cache, errors, progress, streams.

:func:`run_graph` (``Graph.run``) validates first (nothing runs when the graph is
invalid), then runs each needed node once in topological order with a loop (no
recursion). Results of cacheable nodes are shared through the process-wide
:class:`~sam_compose.graph.cache.ResultCache`. A node that raises is reported with its
inputs summarised; nodes that depend on it are marked skipped, all other results are
kept. Runs share nothing but the cache and the engines, so several graphs may run at once
from threads.

Memory: a value is dropped as soon as the last node that reads it has run, unless it is a
requested output (``keep_values=True`` keeps everything, for :meth:`RunReport.value` on
intermediate nodes). Paths: before a node runs, every parameter declared as a path
(``Param(kind="path_in" | "path_out" | "model")``) goes through the run's ``path_guard``;
under a guard, node types with file-like parameters that declare no kind are refused.
Deadlines: :func:`~sam_compose.security.deadlines.checkpoint` runs between nodes and
between frames, so a run under a deadline stops at the next step.

Video: nodes downstream of a ``Video`` -> ``Image`` wire run once per frame (see
:mod:`sam_compose.graph.validation`). Static nodes run once before the stream; stateful
nodes get one instance for the stream; only the current frame's values are held, so
memory stays flat however long the stream is. :func:`stream_graph` yields the requested
outputs after every frame.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GraphError
from ..nodes.context import RunContext, guard_params, reset_run_context, set_run_context
from ..security.deadlines import checkpoint
from ..security.paths import AccessError
from .cache import ResultCache, default_cache, fingerprint, node_key
from .report import GraphRunError, RunReport, summarize
from .structure import GraphLike
from .validation import Plan, validate

MAX_NOTES = 50  # remarks kept per node in a run report

ProgressCallback = Callable[[dict[str, Any]], None]
"""Called with {"event": "node", "node", "status", "index", "total", "ms"} after each node
and {"event": "frame", "frame"} after each frame of a stream."""


class _NodeFailure(Exception):
    def __init__(self, message: str, exc: BaseException) -> None:
        super().__init__(message)
        self.exc = exc


PATH_LIKE_NAMES = frozenset(
    {
        "path",
        "paths",
        "file",
        "files",
        "folder",
        "dir",
        "directory",
        "save",
        "model",
        "engine",
        "checkpoint",
        "clip",
        "detector",
        "weights",
        "out",
        "output",
    }
)
PATH_LIKE_SUFFIXES = ("_path", "_file", "_dir", "_folder", "_model", "_checkpoint", "_weights")


def unguarded_params(spec: Any) -> list[str]:
    """Params of a node type that look like files (by name) but declare no path kind."""
    return [
        n
        for n, p in spec.params.items()
        if getattr(p, "kind", "value") == "value" and (n in PATH_LIKE_NAMES or n.endswith(PATH_LIKE_SUFFIXES))
    ]


def _error_text(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


class _Execution:
    """One run of one graph (private state; never shared between threads)."""

    def __init__(
        self,
        graph: GraphLike,
        outputs: list[Any] | None,
        feed: Mapping[str, Any] | None,
        progress: ProgressCallback | None,
        cache: ResultCache | bool | None,
        out_dir: Any,
        max_frames: int | None,
        path_guard: Callable[[Any, str], Any] | None = None,
        keep_values: bool = False,
    ) -> None:
        from pathlib import Path

        self.graph = graph
        self.feed = dict(feed or {})
        self.plan: Plan = validate(graph, fed=set(self.feed))
        wanted = [str(o) for o in outputs] if outputs else list(graph.meta.get("outputs") or []) or self.plan.sinks()
        for w in wanted:
            nid, _, port = w.partition(".")
            if nid not in self.plan.specs:
                raise GraphError(f"output {w!r} is not a node of the graph", nid)
            if port and port not in self.plan.specs[nid].outputs:
                raise GraphError(
                    f"node {nid!r} has no output {port!r}; outputs: {list(self.plan.specs[nid].outputs)}", nid, port
                )
        self.targets = wanted
        self.needed = self.plan.ancestors([w.partition(".")[0] for w in wanted], stop=set(self.feed))
        self.cache = (
            default_cache() if cache is True or cache is None else cache if isinstance(cache, ResultCache) else None
        )
        self.progress = progress
        self.ctx = RunContext(
            out_dir=Path(out_dir).expanduser() if out_dir is not None else None,
            base_dir=graph.base_dir,
            path_guard=path_guard,
        )
        self.max_frames = max_frames
        self.values: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, str | None]] = {}
        self.status: dict[str, dict[str, Any]] = {}
        self.dead: dict[str, str] = {}  # node -> root failed node
        self.notes: dict[str, list[str]] = {}  # node -> remarks the node made (nodes.api.note)
        self.total = sum(1 for n in self.plan.order if n in self.needed)
        self.done = 0
        self.t0 = time.perf_counter()
        # memory: how many static consumers still have to read each node's value
        self.keep_values = keep_values
        self.target_nodes = {w.partition(".")[0] for w in wanted}
        self.remaining: dict[str, int] = {}
        self.pinned: set[str] = set()  # read by per-frame nodes: kept until the stream ends
        for nid in self.plan.order:
            if nid not in self.needed:
                continue
            for up in {w.node for w in self.plan.wires[nid].values()}:
                if nid in self.plan.per_frame:
                    self.pinned.add(up)
                else:
                    self.remaining[up] = self.remaining.get(up, 0) + 1
        self.freed: set[str] = set()

    # ---------------------------------------------------------------- helpers
    def _release_inputs(self, nid: str) -> None:
        """``nid`` has run: drop each upstream value nobody else will read (unless it is an output)."""
        if self.keep_values:
            return
        for up in {w.node for w in self.plan.wires[nid].values()}:
            left = self.remaining.get(up, 0) - 1
            self.remaining[up] = left
            if left <= 0 and up not in self.target_nodes and up not in self.pinned and up in self.values:
                del self.values[up]
                self.keys.pop(up, None)
                self.freed.add(up)

    def _params(self, nid: str) -> dict[str, Any]:
        """The node's checked params with every path-kind param through the run's guard."""
        spec = self.plan.specs[nid]
        params = self.plan.params[nid]
        if self.ctx.path_guard is not None:
            loose = [n for n in unguarded_params(spec) if isinstance(params.get(n), str)]
            if loose:
                raise AccessError(
                    f"node type {spec.name!r} declares param {loose[0]!r} as a plain value; under a path "
                    "guard only node types whose file params declare Param(kind='path_in', "
                    "'path_out' or 'model') may run"
                )
        return self._call(nid, lambda: guard_params(spec.params, params), {})

    def _emit(self, event: dict[str, Any]) -> None:
        if self.progress is not None:
            try:
                self.progress(event)
            except Exception:  # a broken progress bar must not break the run
                self.progress = None

    def _node_done(self, nid: str) -> None:
        self.done += 1
        st = self.status[nid]
        state = (
            "failed" if "error" in st else "skipped" if st.get("skipped") else "cached" if st.get("cached") else "done"
        )
        self._emit(
            {
                "event": "node",
                "node": nid,
                "status": state,
                "index": self.done,
                "total": self.total,
                "ms": st.get("ms", 0.0),
            }
        )

    def _blocked_by(self, nid: str) -> str | None:
        for w in self.plan.wires[nid].values():
            if w.node in self.dead:
                return self.dead[w.node]
        return None

    def _check_inputs(self, nid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        spec = self.plan.specs[nid]
        out = {}
        for port, value in inputs.items():
            try:
                out[port] = spec.inputs[port].type.check(value)
            except TypeError as exc:
                raise _NodeFailure(f"input {port!r}: {exc}", exc) from None
        return out

    def _split(self, nid: str, result: Any) -> dict[str, Any]:
        spec = self.plan.specs[nid]
        outs = spec.split_outputs(result, nid)
        for port, value in outs.items():
            try:
                value = spec.outputs[port].check(value)
            except TypeError as exc:
                raise _NodeFailure(f"output {port!r} of {spec.name} is wrong: {exc}", exc) from None
            if isinstance(value, np.ndarray) and value.flags.writeable:
                value = value.view()  # a read-only view: shared with other nodes and the cache, while
                value.flags.writeable = False  # the caller's own array (fed or returned) stays writable
            outs[port] = value
        return outs

    def _fail(self, nid: str, exc: BaseException, inputs: Mapping[str, Any], **extra: Any) -> None:
        spec = self.plan.specs[nid]
        err = exc.exc if isinstance(exc, _NodeFailure) else exc
        text = str(exc) if isinstance(exc, _NodeFailure) else _error_text(exc)
        st = self.status.setdefault(nid, {"type": spec.name, "ms": 0.0, "cached": False})
        st.update(
            error=text,
            error_type=type(err).__name__,
            input_error=isinstance(err, ValueError),
            inputs={p: summarize(v, spec.inputs[p].type.name) for p, v in inputs.items()},
            **extra,
        )
        self.dead[nid] = nid

    def _skip(self, nid: str, root: str) -> None:
        self.status[nid] = {
            "type": self.plan.specs[nid].name,
            "ms": 0.0,
            "cached": False,
            "skipped": True,
            "because": root,
        }
        self.dead[nid] = root

    def _note(self, nid: str, frame: int | None, message: str) -> None:
        notes = self.notes.setdefault(nid, [])
        if len(notes) < MAX_NOTES:
            notes.append(message if frame is None else f"frame {frame}: {message}")
        elif len(notes) == MAX_NOTES:
            notes.append("... (more notes left out)")

    def _call(self, nid: str, fn: Callable[..., Any], inputs: dict[str, Any], frame: int | None = None) -> Any:
        token = set_run_context(
            dataclasses.replace(self.ctx, node_id=nid, frame_index=frame, notes=lambda msg: self._note(nid, frame, msg))
        )
        try:
            return fn(**inputs)
        finally:
            reset_run_context(token)

    # ---------------------------------------------------------------- static nodes
    def _fed_value(self, nid: str) -> None:
        spec = self.plan.specs[nid]
        value = self.feed[nid]
        if spec.multi_output:
            outs = dict(value)
        else:
            (port,) = spec.outputs
            if spec.outputs[port].name == "Image" and not isinstance(value, np.ndarray):
                from ..image_io import load_image

                if (
                    self.ctx.path_guard is not None
                    and isinstance(value, (str, os.PathLike))
                    and not str(value).startswith("sample:")
                ):
                    checked = self.ctx.path_guard(Path(value), "read")
                    value = checked if isinstance(checked, (str, os.PathLike)) else value
                value = load_image(value)
            outs = {port: value}
        outs = self._split(nid, outs if spec.multi_output else next(iter(outs.values())))
        self.values[nid] = outs
        self.keys[nid] = {p: fingerprint(v) for p, v in outs.items()}
        self.status[nid] = {"type": spec.name, "ms": 0.0, "cached": False, "fed": True}

    def _run_static(self, nid: str) -> None:
        try:
            self._run_static_node(nid)
        finally:
            self._release_inputs(nid)

    def _run_static_node(self, nid: str) -> None:
        spec, wires = self.plan.specs[nid], self.plan.wires[nid]
        if nid in self.feed:
            try:
                self._fed_value(nid)
            except Exception as exc:
                self._fail(nid, exc, {})
            return
        root = self._blocked_by(nid)
        if root is not None:
            self._skip(nid, root)
            return
        inputs = {p: self.values[w.node][w.port] for p, w in wires.items()}
        t0 = time.perf_counter()
        try:
            params = self._params(nid)
            inputs = self._check_inputs(nid, inputs)
            cache_key = spec.cache_key
            extra = self._call(nid, lambda: cache_key(params), {}) if cache_key is not None else None
            key = node_key(spec.name, params, extra, {p: self.keys[w.node][w.port] for p, w in wires.items()})

            def compute() -> dict[str, Any]:
                fn = spec.instantiate(params)
                result = self._call(nid, fn, inputs)
                if spec.stateful and hasattr(fn, "close"):
                    final = fn.close()
                    result = result if final is None else final
                return self._split(nid, result)

            if spec.cacheable and self.cache is not None and key is not None:
                outs, hit = self.cache.get_or_compute(key, compute)
            else:
                outs, hit = compute(), False
            self.values[nid] = outs
            self.keys[nid] = {p: (f"{key}:{p}" if key is not None and spec.cacheable else None) for p in outs}
            self.status[nid] = {"type": spec.name, "ms": round((time.perf_counter() - t0) * 1000, 3), "cached": hit}
        except Exception as exc:  # reported under the node id, other results kept
            self._fail(nid, exc, inputs, ms=round((time.perf_counter() - t0) * 1000, 3))

    # ---------------------------------------------------------------- the run
    def frames(self) -> Iterator[dict[str, Any]]:
        """Run; yields the target values once (image graph) or after every frame (video graph)."""
        per_frame = [n for n in self.plan.order if n in self.needed and n in self.plan.per_frame]
        for nid in self.plan.order:
            if nid in self.needed and nid not in self.plan.per_frame:
                checkpoint()
                self._run_static(nid)
                self._node_done(nid)
        if per_frame:
            yield from self._run_stream(per_frame)
        else:
            yield self._target_values()

    def _target_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in self.targets:
            nid, _, port = t.partition(".")
            if nid not in self.values:
                continue
            outs = self.values[nid]
            out[t] = outs[port] if port else (next(iter(outs.values())) if len(outs) == 1 else dict(outs))
        return out

    def _run_stream(self, per_frame: list[str]) -> Iterator[dict[str, Any]]:
        plan = self.plan
        sources = {(w.node, w.port) for n in per_frame for w in plan.wires[n].values() if w.mode == "per_frame"}
        iters: dict[tuple[str, str], Iterator[Any]] = {}
        for src, port in sorted(sources):
            if src in self.dead:
                continue
            iters[(src, port)] = iter(self.values[src][port])
        instances: dict[str, Callable[..., Any]] = {}
        for nid in per_frame:
            self.status[nid] = {"type": plan.specs[nid].name, "ms": 0.0, "cached": False, "frames": 0}
            root = self._blocked_by(nid)
            if root is not None:
                self._skip(nid, root)
                continue
            try:
                params = self._params(nid)
                instances[nid] = self._call(nid, lambda spec=plan.specs[nid], p=params: spec.instantiate(p), {})
            except Exception as exc:
                self._fail(nid, exc, {})
        frame = 0
        try:
            while iters and instances and (self.max_frames is None or frame < self.max_frames):
                checkpoint()
                current: dict[tuple[str, str], Any] = {}
                stop = False
                for (src, port), it in iters.items():
                    t0 = time.perf_counter()
                    try:
                        current[(src, port)] = next(it)
                    except StopIteration:
                        stop = True
                    except Exception as exc:  # a broken video is the source's error
                        self._fail(src, exc, {}, frame=frame)
                        stop = True
                    self.status[src]["ms"] = round(
                        self.status[src].get("ms", 0.0) + (time.perf_counter() - t0) * 1000, 3
                    )
                if stop:
                    break
                for nid in per_frame:
                    if nid not in instances or nid in self.dead:
                        continue
                    root = self._blocked_by(nid)
                    if root is not None:
                        self._skip(nid, root)
                        continue
                    self._run_frame_node(nid, instances[nid], current, frame)
                frame += 1
                self._emit({"event": "frame", "frame": frame})
                yield self._target_values()
                if all(n in self.dead for n in instances):
                    break
        finally:
            for it in iters.values():
                close = getattr(it, "close", None)
                if close is not None:
                    close()
            for nid, inst in instances.items():
                close = getattr(inst, "close", None) if plan.specs[nid].stateful else None
                if close is None:
                    continue
                try:
                    final = self._call(nid, close, {})
                    if final is not None and nid not in self.dead:
                        self.values[nid] = self._split(nid, final)
                except Exception as exc:
                    if nid not in self.dead:
                        self._fail(nid, exc, {})
            for nid in per_frame:
                if nid in self.status and "frames" in self.status[nid]:
                    self.status[nid]["per_frame"] = True
                self._node_done(nid)

    def _run_frame_node(
        self, nid: str, fn: Callable[..., Any], current: dict[tuple[str, str], Any], frame: int
    ) -> None:
        plan = self.plan
        inputs: dict[str, Any] = {}
        for port, w in plan.wires[nid].items():
            if w.mode == "per_frame":
                inputs[port] = current[(w.node, w.port)]
            else:
                inputs[port] = self.values[w.node][w.port]
        t0 = time.perf_counter()
        st = self.status[nid]
        try:
            inputs = self._check_inputs(nid, inputs)
            self.values[nid] = self._split(nid, self._call(nid, fn, inputs, frame))
        except Exception as exc:
            self._fail(nid, exc, inputs, frame=frame)
        st["ms"] = round(st["ms"] + (time.perf_counter() - t0) * 1000, 3)
        st["frames"] = st.get("frames", 0) + 1

    def report(self) -> RunReport:
        nodes = {n: self.status[n] for n in self.plan.order if n in self.status}
        for n, notes in self.notes.items():
            if n in nodes:
                nodes[n]["notes"] = list(notes)
        outputs = {t: v for t, v in self._target_values().items() if t.partition(".")[0] not in self.dead}
        ports = {n: {p: t.name for p, t in self.plan.specs[n].outputs.items()} for n in self.plan.specs}
        values = {n: v for n, v in self.values.items() if n not in self.dead}
        return RunReport(nodes, outputs, values, ports, (time.perf_counter() - self.t0) * 1000, freed=self.freed)


def _prepare(graph: GraphLike, params: Mapping[str, Any] | None) -> GraphLike:
    if not params:
        return graph
    g = graph.copy()
    for dotted, value in params.items():
        g.set_param(dotted, value)
    return g


def run_graph(
    graph: GraphLike,
    outputs: list[Any] | None = None,
    *,
    feed: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    cache: ResultCache | bool | None = True,
    out_dir: Any = None,
    max_frames: int | None = None,
    raise_on_error: bool = False,
    path_guard: Callable[[Any, str], Any] | None = None,
    keep_values: bool = False,
) -> RunReport:
    """Validate and run ``graph``; returns the :class:`RunReport`.

    ``outputs``: node ids or "node.port" to compute and report (default: the graph's
    ``outputs`` key, else every sink); only their ancestors run. ``feed``: node id ->
    value used instead of running that node (e.g. an image array for a load_image node;
    paths and PIL images are loaded for Image outputs). ``params``: {"node.param": value}
    overrides for this run. ``progress``: a callback (see :data:`ProgressCallback`).
    ``cache``: True (the process-wide cache), False, or a ResultCache. ``out_dir``: where
    relative output paths go. ``max_frames``: stop a video stream early.
    ``raise_on_error``: raise :class:`GraphRunError` when a node failed.
    ``path_guard(path, "read" | "write" | "model")``: a
    :class:`~sam_compose.security.paths.PathGuard` (or any callable raising to refuse),
    applied to every path-kind param before its node runs and to every file a node resolves
    through ``input_path`` / ``input_files`` / ``output_path`` / ``model_spec``.
    ``keep_values``: keep every intermediate value for :meth:`RunReport.value` (by default a
    value is dropped once its last consumer ran, unless it is an output).
    """
    ex = _Execution(
        _prepare(graph, params), outputs, feed, progress, cache, out_dir, max_frames, path_guard, keep_values
    )
    for _ in ex.frames():
        pass
    report = ex.report()
    if raise_on_error and not report.ok:
        raise GraphRunError(report)
    return report


def stream_graph(
    graph: GraphLike,
    outputs: list[Any] | None = None,
    *,
    feed: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    cache: ResultCache | bool | None = True,
    out_dir: Any = None,
    max_frames: int | None = None,
    raise_on_error: bool = True,
    path_guard: Callable[[Any, str], Any] | None = None,
    keep_values: bool = False,
) -> Iterator[dict[str, Any]]:
    """Like :func:`run_graph` but yields ``{output: value}`` after every frame (once for an
    image graph). With ``raise_on_error`` a failed node raises :class:`GraphRunError` at the end."""
    ex = _Execution(
        _prepare(graph, params), outputs, feed, progress, cache, out_dir, max_frames, path_guard, keep_values
    )
    yield from ex.frames()
    report = ex.report()
    if raise_on_error and not report.ok:
        raise GraphRunError(report)


__all__ = ["GraphRunError", "ProgressCallback", "run_graph", "stream_graph", "unguarded_params"]
