"""The Gradio demo through gradio_client against a launched server (the named API endpoints, the queue).

One server per module (opencv engine, 127.0.0.1, a free port). Images are small
synthetic scenes with exact masks so every result is checked against ground truth.
The session logic without a server: tests/test_app_sessions.py.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")


from sam_compose.app import build_app
from sam_compose.geometry import mask_iou
from sam_compose.visualize import colour

ENDPOINTS = ("/segment", "/generate", "/track", "/inpaint", "/lift3d")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server():
    demo = build_app("opencv")
    port = _free_port()
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True
    )
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


def _rle_mask(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def _read_rgb(path: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


# --- API over HTTP ---------------------------------------------------------------------------
def test_api_lists_the_named_endpoints_with_descriptions(client):
    info = client.view_api(print_info=False, return_format="dict")
    named = info["named_endpoints"]
    for name in ENDPOINTS:
        assert name in named, f"{name} missing from {sorted(named)}"
        assert named[name]["description"], f"{name} has no docstring description"
    # UI events are private: nothing but the five endpoints is public
    assert set(named) == set(ENDPOINTS)


def test_segment_point_matches_the_known_mask_and_tints_the_overlay(client, assets, small_scene):
    from gradio_client import handle_file

    x, y = small_scene.interior_point(0)
    prompt = json.dumps({"points": [[x, y]], "labels": [1]})
    overlay_path, result = client.predict(handle_file(str(assets / "scene.png")), prompt, api_name="/segment")
    assert len(result["masks"]) == 1
    mask = _rle_mask(result["masks"][0]["rle"])
    assert mask.shape == small_scene.masks[0].shape
    assert mask_iou(mask, small_scene.masks[0]) >= 0.9
    assert result["timings_ms"]["engine"] == "opencv"
    shown = _read_rgb(overlay_path).astype(np.float32)
    original = small_scene.image.astype(np.float32)
    inside = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    expected = original[inside] * 0.5 + np.array(colour(0), np.float32) * 0.5
    close = np.abs(shown[inside] - expected).max(axis=1) <= 2  # tinted half-way towards the first palette colour
    assert close.mean() > 0.9  # (the clicked point and the score label cover the rest)
    far = ~cv2.dilate(mask.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert np.abs(shown[far] - original[far]).mean() < 3  # the rest is untouched


def test_segment_box_prompt(client, assets, small_scene):
    from gradio_client import handle_file

    box = [float(v) for v in small_scene.boxes[1]]
    _, result = client.predict(handle_file(str(assets / "scene.png")), json.dumps({"box": box}), api_name="/segment")
    assert mask_iou(_rle_mask(result["masks"][0]["rle"]), small_scene.masks[1]) >= 0.9


@pytest.mark.parametrize(
    "filename, prompt, expected",
    [
        ("notes.txt", '{"points": [[10, 10]]}', "not an image"),
        ("scene.png", '{"points": [[10, 10]', "not valid JSON"),
        ("scene.png", '{"points": [[900, 10]], "labels": [1]}', "outside"),
        ("scene.png", "{}", "nothing to segment"),
        ("scene.png", '{"point": [1, 2]}', "unknown prompt key"),
        ("scene.png", "", "empty prompt"),
    ],
)
def test_segment_bad_input_gives_a_clear_message(client, assets, filename, prompt, expected):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=expected):
        client.predict(handle_file(str(assets / filename)), prompt, api_name="/segment")


def test_segment_refuses_an_image_over_the_pixel_limit(client, assets, monkeypatch):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    monkeypatch.setenv("SAM_COMPOSE_MAX_PIXELS", "50000")  # the server runs in this process
    with pytest.raises(AppError, match="over the limit"):
        client.predict(handle_file(str(assets / "scene.png")), '{"points": [[5, 5]]}', api_name="/segment")


def test_generate_finds_the_objects_and_rejects_unknown_params(client, assets, small_scene):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    _, result = client.predict(handle_file(str(assets / "scene.png")), "{}", api_name="/generate")
    masks = [_rle_mask(m["rle"]) for m in result["masks"]]
    assert masks, "automatic masks found nothing"
    for truth in small_scene.masks:  # every object is found by some automatic mask
        assert max(mask_iou(m, truth) for m in masks) >= 0.7
    with pytest.raises(AppError, match="does not take"):
        client.predict(handle_file(str(assets / "scene.png")), '{"bogus": 1}', api_name="/generate")


def test_inpaint_removes_the_selected_object(client, assets, small_scene):
    from gradio_client import handle_file

    x, y = small_scene.interior_point(0)
    out = client.predict(
        handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), "telea", 5, api_name="/inpaint"
    )
    result = _read_rgb(out).astype(np.float32)
    original = small_scene.image.astype(np.float32)
    obj = small_scene.masks[0]
    ring = cv2.dilate(obj.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~obj
    background = original[ring].mean(axis=0)
    # inside the object the colour moved from the object's towards the surrounding background
    assert (
        np.abs(result[obj].mean(axis=0) - background).sum() < np.abs(original[obj].mean(axis=0) - background).sum() / 2
    )
    far = ~cv2.dilate(obj.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert np.abs(result[far] - original[far]).mean() < 1.0


def test_lift3d_returns_a_glb_point_cloud(client, assets, small_scene):
    from gradio_client import handle_file

    from sam_compose.adapters.outputs.pointcloud_io import read_glb_points

    x, y = small_scene.interior_point(1)
    glb, summary = client.predict(
        handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), None, api_name="/lift3d"
    )
    assert Path(glb).suffix == ".glb"
    points, colours = read_glb_points(glb)
    assert len(points) == summary["points"] > 100
    assert colours is not None and len(colours) == len(points)
    assert "relief" in summary["depth"]  # no depth given, no estimator offline: the labelled illustration


def test_track_follows_a_moving_square(client, assets):
    from gradio_client import handle_file

    video, summary = client.predict(
        handle_file(str(assets / "moving.avi")), '{"points": [[40, 60]], "labels": [1]}', 0, api_name="/track"
    )
    assert summary["frames_tracked"] == 10
    assert summary["lost_on_frames"] == []
    path = video["video"] if isinstance(video, dict) else video
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == 10

    # the tint follows the square: tinted pixels (neither the plain square's nor the background's
    # colour) move right by ~6 px per frame
    def tinted_x(frame):
        f = frame.astype(np.float32)
        plain_square = np.abs(f - np.array((230, 60, 200), np.float32)).sum(axis=2) < 45
        background = np.abs(f - np.array((40, 90, 40), np.float32)).sum(axis=2) < 45
        tinted = ~plain_square & ~background
        assert tinted.sum() > 500, "no tinted object in the frame"
        return np.nonzero(tinted)[1].mean()

    assert tinted_x(frames[-1]) - tinted_x(frames[0]) == pytest.approx(54, abs=8)


def test_track_a_video_that_cannot_be_read(client, assets):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="video"):
        client.predict(handle_file(str(assets / "broken.mp4")), '{"points": [[5, 5]]}', 0, api_name="/track")
    with pytest.raises(AppError, match="outside the video"):
        client.predict(handle_file(str(assets / "moving.avi")), '{"points": [[40, 60]]}', 50, api_name="/track")


def test_many_clients_at_once_are_all_served(server, assets, small_scene):
    from gradio_client import Client, handle_file

    clients = [Client(server, verbose=False) for _ in range(3)]
    jobs = []
    for i, c in enumerate(clients):
        for k in range(2):
            x, y = small_scene.interior_point((i + k) % len(small_scene.masks))
            jobs.append(
                (
                    (i + k) % len(small_scene.masks),
                    c.submit(
                        handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), api_name="/segment"
                    ),
                )
            )
    for obj, job in jobs:
        _, result = job.result(timeout=240)
        assert mask_iou(_rle_mask(result["masks"][0]["rle"]), small_scene.masks[obj]) >= 0.9


def test_a_full_queue_answers_with_a_clear_message(assets, small_scene):
    from gradio_client import Client, handle_file

    demo = build_app("opencv", concurrency=1, max_queue=1)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        x, y = small_scene.interior_point(0)
        jobs = [
            client.submit(handle_file(str(assets / "scene.png")), json.dumps({"points": [[x, y]]}), api_name="/segment")
            for _ in range(5)
        ]
        served, refused = 0, []
        for job in jobs:
            try:
                job.result(timeout=240)
                served += 1
            except Exception as exc:  # the client raises its own error type here
                refused.append(str(exc))
        assert served >= 1 and refused, (served, refused)
        assert all("queue" in r.lower() and "full" in r.lower() for r in refused), refused
    finally:
        demo.close()
