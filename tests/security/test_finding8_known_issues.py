"""Finding 8 (known, left open until now): ``app.errors.friendly`` recorded warnings with the
process-global ``warnings.catch_warnings`` (not thread-safe); failed graph cache entries let
waiters recompute one after another; MCP left every call's output folder behind forever."""

from __future__ import annotations

import threading
import warnings

import pytest
from cache_race import race_a_failure

from sam_compose.graph.cache import ResultCache


def test_friendly_keeps_each_events_warnings_to_itself(monkeypatch):
    gr = pytest.importorskip("gradio")
    from sam_compose.app.errors import friendly

    shown: dict[str, list[str]] = {"A": [], "B": []}
    who = threading.local()

    def fake_warning(text, *a, **k):
        shown[who.name].append(text)

    monkeypatch.setattr(gr, "Warning", fake_warning)
    who.name = "A"
    friendly(lambda: None)()  # the first event sets the process-wide routing up, once
    filters_before = list(warnings.filters)
    showwarning_before = warnings.showwarning
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()

    @friendly
    def event_a():
        warnings.warn("only for A", UserWarning, stacklevel=1)
        a_inside.set()
        b_inside.wait(10)  # B's handler starts while A's runs; A then finishes first
        return "a"

    @friendly
    def event_b():
        b_inside.set()
        a_done.wait(10)
        warnings.warn("only for B", UserWarning, stacklevel=1)
        return "b"

    def run(name, fn, before=None, after=None):
        who.name = name
        if before is not None:
            before.wait(10)
        fn()
        if after is not None:
            after.set()

    ta = threading.Thread(target=run, args=("A", event_a, None, a_done))
    tb = threading.Thread(target=run, args=("B", event_b, a_inside, None))
    ta.start()
    tb.start()
    ta.join(20)
    tb.join(20)
    assert shown["A"] == ["only for A"], shown
    assert shown["B"] == ["only for B"], shown
    assert warnings.showwarning is showwarning_before and warnings.filters == filters_before


def test_a_failed_cache_entry_is_not_recomputed_by_every_waiter():
    cache = ResultCache(max_bytes=10**6)
    calls, errors = race_a_failure(cache, waiters=5, message="bad input")
    assert calls == 1, f"the failure was recomputed {calls} times"
    assert errors == ["bad input"] * 6
    recomputed = []

    def compute():
        recomputed.append(1)
        raise ValueError("bad input")

    with pytest.raises(ValueError):  # a later call (not a waiter) may try again
        cache.get_or_compute("k", compute)
    assert len(recomputed) == 1


def test_mcp_output_folders_are_cleaned(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from sam_compose.integrations.service import AgentService

    monkeypatch.setenv("SAM_COMPOSE_MAX_OUTPUT_FOLDERS", "3")
    root = tmp_path / "root"
    root.mkdir()
    Image.fromarray(np.full((32, 32, 3), 100, np.uint8)).save(root / "a.png")
    svc = AgentService(engine="opencv", allowed_roots=[root], output_dir=root / "out")
    folders = [svc.segment_image("a.png", boxes=[[2, 2, 20, 20]]).files["folder"] for _ in range(6)]
    left = [p for p in (root / "out").iterdir() if p.is_dir()]
    assert len(left) <= 3 and str(left[0]) in folders[-3:]
