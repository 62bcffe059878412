"""The demo's engine picker: choose, download and switch engines without restarting the page.

The list offers, in this order: the weight-free ``opencv`` engine; every checkpoint already on
this machine (catalog models in the Hugging Face cache, ``SAM_COMPOSE_CHECKPOINT``); then
the catalogue's other models with their download size, licence and what they do. Building
the list never touches the network, so ``auto`` and an offline machine stay quick.

Choosing a model that is not here downloads it (:func:`~sam_compose.engines.downloads.download_model`,
with a progress bar in the page); offline, or with the hub out of reach, the page says so in
one line at once. Then the engine loads and every tab uses it from the next click on: the
choice is held by one :class:`EnginePicker` that the handlers' :class:`~.service.EngineSource`
consult. The choice is the page's (shared by its sessions), like the engine itself.
A demo reachable from other machines offers only what is already here (``downloads=False``;
``sam-compose demo --allow-downloads`` turns downloads back on).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..engines.catalog import KNOWN_MODELS, KnownModel, find_known
from ..errors import InputError
from .errors import friendly

OPENCV_LABEL = "opencv · weight-free (offline default)"


@dataclass(frozen=True)
class Choice:
    """One row of the picker: what the user sees and the engine spec it stands for."""

    label: str
    spec: str
    cached: bool
    model: KnownModel | None = None


def _size(mb: int) -> str:
    return f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb} MB"


def _describe(m: KnownModel) -> str:
    return f"{', '.join(m.supports)}; {m.licence}"


def list_choices() -> list[Choice]:
    """The picker's rows (no network: the cache is only read)."""
    import os

    from ..engines.hub import cached_snapshot

    rows = [Choice(OPENCV_LABEL, "opencv", True)]
    env = os.environ.get("SAM_COMPOSE_CHECKPOINT")
    if env and os.path.exists(env):
        rows.append(Choice(f"{os.path.basename(env.rstrip('/'))} · local checkpoint", env, True))
    later = []
    for m in KNOWN_MODELS:
        if m.family == "clip":
            continue  # not a segmentation engine
        if cached_snapshot(m.repo_id) is not None:
            rows.append(Choice(f"{m.name} · on this machine · {_describe(m)}", m.name, True, m))
        else:
            later.append(Choice(f"{m.name} · download {_size(m.size_mb)} · {_describe(m)}", m.name, False, m))
    return rows + later


class EnginePicker:
    """Holds the page's engine choice; the tabs' handlers ask it for their engine spec."""

    def __init__(self, spec: str, *, downloads: bool = True) -> None:
        self._spec = spec
        self.downloads = downloads
        """False: only engines already on this machine are offered (a server others can reach
        should not download gigabytes because a stranger picked a model)."""
        self.chosen = False
        """True once the user picked an engine (until then the page's own engine is used)."""
        self._lock = threading.Lock()

    @property
    def spec(self) -> str:
        with self._lock:
            return self._spec

    def label_for(self, spec: str) -> str:
        for c in list_choices():
            if c.spec == spec:
                return c.label
        return spec

    def labels(self) -> list[str]:
        rows = [c.label for c in list_choices() if c.cached or self.downloads]
        cur = self.label_for(self.spec)
        return rows if cur in rows else [cur, *rows]

    def _choice(self, label: str) -> Choice:
        for c in list_choices():
            if c.label == label or c.spec == label:
                return c
        known = find_known(str(label).split(" · ")[0])
        if known is not None:
            return Choice(label, known.name, False, known)
        raise InputError(f"unknown engine choice {label!r}; pick one from the list")

    def select(self, label: str, progress: Any = None) -> str:
        """Download (when needed) and load the chosen engine, then make it the page's; returns a status line.

        ``progress(fraction, desc)`` is called while downloading (Gradio's ``gr.Progress``).
        """
        from ..engines import shared_engine

        choice = self._choice(label)
        note = ""
        if not choice.cached and not self.downloads:
            raise InputError(
                f"{choice.spec} is not on this machine and this demo does not download models (it is "
                f"reachable from other machines); run `sam-compose models download {choice.spec}` on the "
                "server, or start it with --allow-downloads"
            )
        if not choice.cached and choice.model is not None:
            from ..engines.downloads import download_model

            def report(p: Any) -> None:
                if progress is not None:
                    progress(p.fraction, desc=f"downloading {p.repo_id}: {p.done / 1e6:.1f} of {p.total / 1e6:.1f} MB")

            download_model(choice.model.repo_id, progress=report)
            note = f" (downloaded from {choice.model.repo_id})"
        engine = shared_engine(choice.spec)  # load now, so the first click is quick
        with self._lock:
            self._spec = choice.spec
            self.chosen = True
        return f"Engine: **{choice.spec}** ({engine.name}){note} · every tab uses it from now on."


def picker_ui(picker: EnginePicker) -> None:
    """The picker's row (a dropdown, a button, a status line); call inside ``gr.Blocks``."""
    import gradio as gr

    with gr.Accordion("Engine: choose, download, switch", open=False, elem_id="engine-picker"):
        with gr.Row():
            pick = gr.Dropdown(
                picker.labels(), value=picker.label_for(picker.spec), label="Engine", elem_id="engine-pick", scale=4
            )
            use = gr.Button("Use this engine", variant="primary", elem_id="engine-use", scale=1)
        status = gr.Markdown(f"Engine: **{picker.spec}**", elem_id="engine-status")

    @friendly
    def choose(label: str, progress: Any = gr.Progress()) -> tuple[Any, str]:
        line = picker.select(label, progress=progress)
        return gr.update(choices=picker.labels(), value=picker.label_for(picker.spec)), line

    use.click(
        choose, [pick], [pick, status], api_visibility="private", concurrency_id="engine-picker", concurrency_limit=1
    )
