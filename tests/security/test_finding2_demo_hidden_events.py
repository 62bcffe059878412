"""Finding 2: the demo's Graph tab (a hidden event) ran any graph with no guard: any HTTP client
could call it through the queue API and read or write any file the server can.

The attack is made the way a client would make it (a raw ``/queue/join`` call with the hidden
event's ``fn_index``), then every other event that takes a path is called with a path outside
the demo's roots (the demos folder, the uploads folder, the session's own folder)."""

from __future__ import annotations

import json
import socket
import uuid

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")

from sam_compose.app import build_app
from sam_compose.app.api import ApiEndpoints
from sam_compose.app.handlers import SegmentHandlers
from sam_compose.app.sessions import DemoWorkspace
from sam_compose.app.state import SessionState, VideoState
from sam_compose.app.tab_handlers import TabHandlers
from sam_compose.samples import synthetic_scene


@pytest.fixture
def secret(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    p = d / "secret.png"
    Image.fromarray(synthetic_scene(seed=2, size=(64, 64)).image).save(p)
    (d / "gaze.csv").write_text("t,x,y\n0,1,1\n0.01,1,1\n")
    np.save(d / "depth.npy", np.ones((64, 64), np.float32))
    return d


def _graph(secret_dir, target):
    return json.dumps(
        {
            "nodes": {
                "img": {"type": "load_image", "params": {"path": str(secret_dir / "secret.png")}},
                "save": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": str(target)}},
            }
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_hidden_graph_event_refuses_files_outside_over_http(secret, tmp_path):
    demo = build_app("opencv")
    port = _free_port()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        fn_index = next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == "graph_run")
        stolen = tmp_path / "stolen.png"
        session = uuid.uuid4().hex
        with httpx.Client(base_url=url.rstrip("/"), timeout=60) as client:
            r = client.post(
                "/gradio_api/queue/join",
                json={"data": [_graph(secret, stolen), None], "fn_index": fn_index, "session_hash": session},
            )
            assert r.status_code == 200, r.text
            done = None
            with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        msg = json.loads(line[5:])
                        if msg.get("msg") == "process_completed":
                            done = msg
                            break
        assert done is not None and done["success"] is False, done
        assert "outside" in json.dumps(done), done
        assert not stolen.exists()
    finally:
        demo.close()


@pytest.fixture
def handlers(tmp_path):
    ws = DemoWorkspace(tmp_path / "work")
    return (
        ws,
        SegmentHandlers("opencv", workspace=ws),
        TabHandlers("opencv", workspace=ws),
        ApiEndpoints("opencv", workspace=ws),
    )


def test_graph_tab_handler_refuses_reads_and_writes_outside(handlers, secret, tmp_path):
    ws, _, tabs, _ = handlers
    state = ws.new_session()
    with pytest.raises(gr.Error, match="outside"):
        tabs.graph_run(_graph(secret, tmp_path / "stolen.png"), state)
    assert not (tmp_path / "stolen.png").exists()
    ok = json.dumps(
        {
            "nodes": {
                "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                "save": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": str(tmp_path / "x.png")}},
            }
        }
    )
    with pytest.raises(gr.Error, match="outside"):
        tabs.graph_run(ok, state)


def test_every_event_that_takes_a_path_refuses_one_outside_the_roots(handlers, secret):
    ws, seg, tabs, api = handlers
    state = ws.new_session()
    with pytest.raises(gr.Error, match="outside"):
        seg.load(str(secret / "secret.png"), state)
    state, *_ = seg.load("sample:coins", state)
    with pytest.raises(gr.Error, match="outside"):
        seg.gaze_recording(state, str(secret / "gaze.csv"), False)
    with pytest.raises(gr.Error, match="outside"):
        api.segment(str(secret / "secret.png"), '{"points": [[5, 5]]}')
    with pytest.raises(gr.Error, match="outside"):
        api.lift3d("sample:coins", '{"points": [[5, 5]]}', str(secret / "depth.npy"))
    with pytest.raises(gr.Error, match="outside"):
        tabs.video_upload(str(secret / "secret.png"), ws.new_session(VideoState))
    state.result = None
    with pytest.raises(gr.Error, match="outside|segment"):
        tabs.lift_result(state, "depth file", str(secret / "depth.npy"))


def test_uploads_samples_and_the_session_folder_are_allowed(handlers, small_upload):
    ws, seg, _, _ = handlers
    state = ws.new_session()
    state, _, _, status, _, _ = seg.load(str(small_upload), state)
    assert "Loaded" in status and isinstance(state, SessionState)


@pytest.fixture
def small_upload():
    from pathlib import Path

    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()) / f"test-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    p = folder / "photo.png"
    Image.fromarray(synthetic_scene(seed=4, size=(64, 80)).image).save(p)
    yield p
    p.unlink()
    folder.rmdir()
