"""The example graphs in ``demos/``: where they are and how to find one by name."""

from __future__ import annotations

import os
from pathlib import Path

GRAPH_SUFFIXES = (".json", ".yaml", ".yml")


def demos_dir() -> Path | None:
    """``SAM_COMPOSE_DEMOS`` if set, else the ``demos/`` folder of a source checkout, else None."""
    env = os.environ.get("SAM_COMPOSE_DEMOS")
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve().parents[2] / "demos"
    return here if here.is_dir() else None


def demo_graphs(folder: Path | None = None) -> dict[str, Path]:
    """Graph files under ``folder`` (default :func:`demos_dir`) by name (file stem), data folders excluded."""
    folder = folder or demos_dir()
    if folder is None or not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in GRAPH_SUFFIXES and "data" not in p.relative_to(folder).parts:
            found.setdefault(p.stem, p)
    return found


def find_demo(name: str) -> Path | None:
    """The demo graph called ``name`` (with or without its suffix), or None."""
    stem = Path(name).stem if Path(name).suffix.lower() in GRAPH_SUFFIXES else name
    return demo_graphs().get(stem)
