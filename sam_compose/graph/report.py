"""Run reports and JSON summaries of values.

``graph.run()`` returns a :class:`RunReport`, a dict::

    {"ok": True, "ms": 812.4,
     "nodes": {"img": {"type": "load_image", "ms": 35.1, "cached": False}, ...,
               "bad": {"type": "segment", "ms": 2.0, "cached": False, "error": "PromptError: ...",
                       "inputs": {"image": {"type": "image", "shape": [512, 512, 3]}, ...}},
               "save": {"type": "save_image", "skipped": True, "because": "bad"}},
     "outputs": {"save": "/tmp/out/overlay.png", "seg": <Masks>}}

``outputs`` holds the real Python values; :meth:`RunReport.to_json` gives the same report
with values summarised for JSON (images -> shape, masks -> count and per-mask score,
area, box; paths as strings).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..errors import SamComposeError

MAX_LISTED = 50


def summarize(value: Any, port: str | None = None) -> Any:
    """A small JSON-able description of ``value`` (``port`` is its port type name, if known)."""
    from ..masks import Masks
    from ..types import Prompt

    if isinstance(value, Masks):
        rows = value.summary()
        out: dict[str, Any] = {
            "type": "masks",
            "count": len(value),
            "image_size": list(value.image_size),
            "masks": rows[:MAX_LISTED],
        }
        if len(rows) > MAX_LISTED:
            out["more"] = len(rows) - MAX_LISTED
        return out
    if isinstance(value, np.ndarray):
        if port == "Image" or (value.ndim == 3 and value.shape[2] == 3 and value.dtype == np.uint8):
            return {"type": "image", "shape": list(value.shape)}
        out = {"type": "array", "shape": list(value.shape), "dtype": str(value.dtype)}
        if value.size and np.issubdtype(value.dtype, np.number):
            finite = value[np.isfinite(value)] if np.issubdtype(value.dtype, np.floating) else value
            if finite.size:
                out["min"], out["max"] = float(finite.min()), float(finite.max())
        return out
    if isinstance(value, Prompt):
        return value.to_dict()
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Prompt) for v in value):
        return {"type": "prompts", "count": len(value), "prompts": [p.to_dict() for p in value[:MAX_LISTED]]}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if port == "FilePath" and isinstance(value, str):
        return value
    if hasattr(value, "points") and isinstance(value.points, np.ndarray):
        return {"type": "pointcloud", "points": int(len(value.points))}
    try:
        text = json.dumps(value)
        if len(text) <= 20000:
            return value
        return {"type": type(value).__name__, "json_chars": len(text)}
    except (TypeError, ValueError):
        pass
    if isinstance(value, dict):
        return {str(k): summarize(v) for k, v in list(value.items())[:MAX_LISTED]}
    if isinstance(value, (list, tuple)):
        return [summarize(v) for v in value[:MAX_LISTED]]
    if hasattr(value, "__iter__") and hasattr(value, "__next__"):
        return {"type": "stream"}
    return {"type": type(value).__name__, "repr": repr(value)[:200]}


class RunReport(dict):
    """The report of one run: a dict with ``ok``, ``ms``, ``nodes`` and ``outputs``.

    ``report.value(ref)`` returns a computed value of the run: ``ref`` is a node id, a
    :class:`~sam_compose.graph.model.NodeRef` or ``"node.port"``. Intermediate values are
    dropped once their last consumer ran (memory stays bounded); run with
    ``keep_values=True`` (or list the node in ``outputs``) to read them here.
    """

    def __init__(
        self,
        nodes: dict[str, dict[str, Any]],
        outputs: dict[str, Any],
        values: dict[str, dict[str, Any]],
        ports: dict[str, dict[str, str]],
        ms: float,
        freed: set[str] | None = None,
    ) -> None:
        ok = not any("error" in n for n in nodes.values())
        super().__init__(ok=ok, ms=round(ms, 3), nodes=nodes, outputs=outputs)
        self._values = values
        self._ports = ports
        self._freed = set(freed or ())

    @property
    def ok(self) -> bool:
        return bool(self["ok"])

    @property
    def errors(self) -> dict[str, str]:
        """Node id -> error message of every node that failed."""
        return {n: d["error"] for n, d in self["nodes"].items() if "error" in d}

    def value(self, ref: Any) -> Any:
        """The value of ``ref`` (node id, NodeRef or "node.port"); KeyError if it did not run."""
        text = str(ref)
        nid, _, port = text.partition(".")
        if nid not in self._values:
            status = self["nodes"].get(nid, {})
            why = status.get("error") or (
                f"skipped because {status['because']!r} failed"
                if status.get("skipped")
                else "it was dropped after its last consumer ran; list it in outputs= or run with keep_values=True"
                if nid in self._freed
                else "it was not part of this run"
            )
            raise KeyError(f"no value for {text!r}: {why}")
        outs = self._values[nid]
        if port:
            return outs[port]
        if len(outs) == 1:
            return next(iter(outs.values()))
        return dict(outs)

    def to_json(self) -> dict[str, Any]:
        """The report with outputs summarised; ``json.dumps`` works on it."""
        outputs = {}
        for key, value in self["outputs"].items():
            nid, _, port = key.partition(".")
            ports = self._ports.get(nid, {})
            if port:
                outputs[key] = summarize(value, ports.get(port))
            elif isinstance(value, dict) and len(ports) > 1:
                outputs[key] = {p: summarize(v, ports.get(p)) for p, v in value.items()}
            else:
                outputs[key] = summarize(value, next(iter(ports.values()), None))
        return {"ok": self["ok"], "ms": self["ms"], "nodes": self["nodes"], "outputs": outputs}

    def raise_for_errors(self) -> RunReport:
        """Raise :class:`GraphRunError` if a node failed; returns the report otherwise."""
        if not self.ok:
            raise GraphRunError(self)
        return self


class GraphRunError(SamComposeError):
    """A node failed during a run; ``.report`` holds the full report (other results kept)."""

    def __init__(self, report: RunReport) -> None:
        errors = report.errors
        nid, msg = next(iter(errors.items()))
        more = f" (and {len(errors) - 1} more failed nodes)" if len(errors) > 1 else ""
        super().__init__(f"node {nid!r} failed: {msg}{more}")
        self.report = report
        self.node = nid
