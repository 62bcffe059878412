"""Every resource limit of sam_compose, in one place.

Each limit has a name, a documented default and an environment variable
``SAM_COMPOSE_MAX_<NAME>`` that overrides it (a whole number; ``0`` is not allowed).
Readers check their limit *before* they allocate: image and mask headers before decoding,
gaze files line by line, graph files before and while parsing, path templates before
formatting. Going over a limit raises :class:`~sam_compose.errors.LimitError` whose one-line
message names the input, the limit and the variable that raises it::

    from sam_compose.security import limits
    limits.get("pixels")                       # 64000000, or $SAM_COMPOSE_MAX_PIXELS
    limits.check("pixels", h * w, "image photo.png (4000000x8)", "downscale it first")

``python -m sam_compose.security.limits`` prints the table (also in docs/security.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InputError, LimitError

__all__ = ["LIMITS", "Limit", "check", "env_name", "get", "table"]


@dataclass(frozen=True)
class Limit:
    """One resource limit: its name, default, unit and what it bounds."""

    name: str
    default: int
    unit: str
    doc: str

    @property
    def env(self) -> str:
        return env_name(self.name)


def env_name(name: str) -> str:
    """``"gaze_rows"`` -> ``"SAM_COMPOSE_MAX_GAZE_ROWS"``."""
    return f"SAM_COMPOSE_MAX_{name.upper()}"


_MIB = 1024 * 1024

LIMITS: dict[str, Limit] = {
    lim.name: lim
    for lim in (
        # images, masks, video
        Limit("pixels", 64_000_000, "px", "pixels (H x W) of one image or video frame, read from the header"),
        Limit("aspect", 100, ":1", "longer side / shorter side of an image, mask or video frame"),
        Limit("mask_pixels", 64_000_000, "px", "pixels of one mask file (PNG or .npy), read from the header"),
        Limit("video_frames", 200_000, "frames", "frames read from one video, folder of frames or glob"),
        Limit("files", 100_000, "files", "files one folder or glob may expand to"),
        # files a server reads
        Limit("file_bytes", 25 * _MIB, "bytes", "size of one file a server (demo, MCP, LangChain tools) reads"),
        # gaze recordings (and other line-based tables)
        Limit("gaze_bytes", 2048 * _MIB, "bytes", "bytes read from one gaze recording, after decompression"),
        Limit("line_bytes", 1 * _MIB, "bytes", "length of one line of a gaze recording or CSV table"),
        Limit("gaze_rows", 10_000_000, "rows", "rows of one gaze recording (14 h at 200 Hz)"),
        # graph files
        Limit("graph_bytes", 2 * _MIB, "bytes", "size of one graph file (JSON or YAML)"),
        Limit("graph_depth", 32, "levels", "nesting of lists and objects in a graph file"),
        Limit("graph_nodes", 10_000, "nodes", "nodes in one graph"),
        Limit("graph_values", 1_000_000, "values", "values in a graph file, counting every use of a YAML alias"),
        Limit("yaml_aliases", 100, "aliases", "YAML aliases (*name) in one graph file"),
        Limit("string_chars", 100_000, "chars", "length of one string in a graph file or request"),
        Limit("text_chars", 1000, "chars", "length of one text prompt (a phrase naming a concept, for SAM 3)"),
        Limit("exemplars", 1000, "boxes", "exemplar boxes in one concept prompt"),
        Limit("int_bits", 63, "bits", "size of one integer in a graph file or request (absolute value below 2**bits)"),
        Limit("template_width", 16, "chars", "width of a field in an output path template such as {frame:05d}"),
        # servers
        Limit("seconds", 300, "s", "time one tool call or demo event may compute before it is stopped"),
        Limit("sessions", 200, "folders", "demo session folders kept (oldest removed first)"),
        Limit("session_age", 6 * 3600, "s", "age after which an idle demo session folder is removed"),
        Limit("output_folders", 500, "folders", "MCP / LangChain output folders kept (oldest removed first)"),
        Limit("output_age", 7 * 24 * 3600, "s", "age after which an MCP / LangChain output folder is removed"),
    )
}


def get(name: str) -> int:
    """The limit in force: ``$SAM_COMPOSE_MAX_<NAME>`` when set, else the default."""
    lim = LIMITS[name]
    raw = os.environ.get(lim.env)
    if raw is None or not raw.strip():
        return lim.default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise InputError(f"{lim.env} must be a whole number ({lim.unit}), got {raw!r}") from None
    if value <= 0:
        raise InputError(f"{lim.env} must be positive, got {value}")
    return value


def check(
    name: str, value: float, what: str, fix: str = "", *, error: type[LimitError] = LimitError, limit: int | None = None
) -> None:
    """Raise ``error`` when ``value`` is over limit ``name`` (or the explicit ``limit``).

    ``what`` names the input (``"image photo.png (4000000x8)"``); ``fix`` says what to do
    (``"downscale it first"``). The message also names the environment variable.
    """
    bound = get(name) if limit is None else int(limit)
    if value > bound:
        raise over(name, value, what, fix, error=error, limit=bound)


def over(
    name: str, value: float, what: str, fix: str = "", *, error: type[LimitError] = LimitError, limit: int | None = None
) -> LimitError:
    """The error :func:`check` raises (for callers that only know they are over)."""
    lim = LIMITS[name]
    bound = get(name) if limit is None else int(limit)
    shown = f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"
    tail = f"; {fix}" if fix else ""
    message = (
        f"{what}: {shown} {lim.unit} is over the limit of {bound:,} {lim.unit} ({lim.doc}){tail} (or raise {lim.env})"
    )
    return error(message, name, lim.env)


def table() -> str:
    """The limits as a Markdown table (name, variable, default, what)."""
    rows = ["| variable | default | bounds |", "| --- | --- | --- |"]
    for lim in LIMITS.values():
        rows.append(f"| `{lim.env}` | {lim.default:,} {lim.unit} | {lim.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(table())
