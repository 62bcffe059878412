"""Finding 3: demo sessions shared state. The ``gr.State`` default was built once, so every
session had the same id and download folder; two users downloading at once got each other's
masks or a half-written file.

Twelve sessions, each with its own image and object, download at the same moment (a barrier
releases them together); each download must hold exactly that session's mask."""

from __future__ import annotations

import os
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from sam_compose.app import build_app
from sam_compose.app.handlers import SegmentHandlers
from sam_compose.app.sessions import DemoWorkspace, on_session_end
from sam_compose.app.state import SessionState, VideoState
from sam_compose.samples import synthetic_scene


class _Evt:
    def __init__(self, index):
        self.index = index


def test_every_session_of_the_built_app_gets_its_own_state():
    demo = build_app("opencv")
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State)]
    assert states, "the demo keeps per-session state"
    for block in states:
        assert callable(block.value), "a gr.State default must be a factory, not one shared object"
        a, b = block.value(), block.value()
        assert a is not b and a.session_id != b.session_id
        assert block.delete_callback is on_session_end  # the session's folder goes with the session


def test_twelve_sessions_downloading_at_once_never_see_each_others_data(tmp_path):
    ws = DemoWorkspace(tmp_path / "work")
    h = SegmentHandlers("opencv", workspace=ws)
    sessions = []
    for i in range(12):
        scene = synthetic_scene(seed=100 + i, size=(96, 128), n_objects=2)
        s = ws.new_session()
        s.set_image(scene.image, f"sample:scene{i}")
        obj = i % 2
        x, y = scene.interior_point(obj)
        s, *_ = h.click(s, "positive point", False, _Evt([x, y]))
        sessions.append((s, s.result.masks[0].copy()))
    assert len({s.session_id for s, _ in sessions}) == 12

    barrier = threading.Barrier(12)
    results: dict[int, object] = {}

    def download(i):
        s, _ = sessions[i]
        barrier.wait()
        try:
            results[i] = [h.download(s) for _ in range(3)]  # three downloads in a row, all overlapping
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=download, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    folders = set()
    for i, (s, mask) in enumerate(sessions):
        got = results[i]
        assert not isinstance(got, Exception), got
        for coco_path, zip_path in got:
            session_dir = ws.session_folder(s.session_id)
            assert session_dir in Path(coco_path).parents and session_dir in Path(zip_path).parents
            folders.add(os.path.dirname(zip_path))
            with zipfile.ZipFile(zip_path) as zf:
                assert zf.namelist() == ["mask_0.png"]
                with zf.open("mask_0.png") as f:
                    png = np.asarray(Image.open(f)) > 127
            assert np.array_equal(png, mask), f"session {i} got another session's mask"
    assert len(folders) == 36, "every download is its own folder: none overwrites another"


def test_old_session_folders_are_removed_by_count_and_age(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_COMPOSE_MAX_SESSIONS", "3")
    ws = DemoWorkspace(tmp_path / "work")
    made = []
    for _ in range(5):
        s = ws.new_session()
        folder = ws.session_folder(s.session_id)
        (folder / "x.txt").write_text("x")
        made.append(folder)
        time.sleep(0.02)
    ws.prune()
    assert sum(f.exists() for f in made) == 3 and made[-1].exists() and not made[0].exists()
    old = made[-1]
    t = time.time() - 7 * 3600
    os.utime(old, (t, t))
    ws.prune()
    assert not old.exists()


def test_a_closed_session_takes_its_folder_along(tmp_path):
    ws = DemoWorkspace(tmp_path / "work")
    for cls in (SessionState, VideoState):
        s = ws.new_session(cls)
        folder = ws.session_folder(s.session_id)
        assert folder.is_dir()
        on_session_end(s)
        assert not folder.exists()
