"""Video reading/writing and tracking outputs, each read back by the tool it is meant for."""

from __future__ import annotations

import gc
import json
import os
import sys
import tracemalloc

import cv2
import numpy as np
import pytest
from PIL import Image

from sam_compose import InputError, Masks
from sam_compose.adapters.outputs import track
from sam_compose.adapters.outputs.tracking.files import read_coco_video, read_mot, save_tracks
from sam_compose.adapters.outputs.tracking.synth import disc_mask_at, synthetic_stream, synthetic_video
from sam_compose.geometry import mask_iou
from sam_compose.video_io import VideoError, open_video, read_frames, write_png_sequence, write_video


@pytest.fixture(scope="module")
def clip():
    return synthetic_video("cross", n_frames=12, size=(64, 80))


def test_mp4_round_trip_and_tracking_from_a_file(tmp_path, clip):
    path = write_video(clip.frames, tmp_path / "clip.mp4", fps=12)
    with open_video(path) as vs:
        assert vs.fps == pytest.approx(12)
        assert vs.frame_count == len(clip)
        frames = list(vs)
    assert len(frames) == len(clip) and frames[0].shape == (64, 80, 3) and frames[0].dtype == np.uint8
    # lossy codec: close to the original, in RGB order
    assert np.abs(frames[3].astype(int) - clip.frames[3].astype(int)).mean() < 12
    results = list(track(path, clip.masks_at(0)))
    assert len(results) == len(clip)
    assert mask_iou(results[-1].masks[0], clip.masks[-1, 0]) >= 0.8


def test_png_folder_glob_and_array_sources(tmp_path, clip):
    write_png_sequence(clip.frames, tmp_path / "frames")
    a = list(read_frames(tmp_path / "frames"))
    b = list(read_frames(str(tmp_path / "frames" / "*.png"), max_frames=5))
    assert len(a) == len(clip) and len(b) == 5
    assert np.array_equal(a[7], clip.frames[7])
    assert len(list(read_frames(clip.frames))) == len(clip)
    gray = list(read_frames([f[:, :, 0] for f in clip.frames[:2]]))
    assert gray[0].shape == (64, 80, 3)


def test_video_inputs_to_try(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="could not (open|read)"):
        list(read_frames(bad))
    with pytest.raises(VideoError, match="not found"):
        open_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty file"):
        open_video(tmp_path / "empty.mp4")
    with pytest.raises(VideoError, match="no frames"):
        list(read_frames([]))
    empty = cv2.VideoWriter(str(tmp_path / "zero.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 32))
    empty.release()  # a valid MP4 container with zero frames
    with pytest.raises(VideoError, match="no frames"):
        list(read_frames(tmp_path / "zero.mp4"))
    with pytest.raises(InputError, match="no frames"):
        list(track(iter([]), Masks(np.ones((1, 32, 32), bool))))
    (tmp_path / "noimages").mkdir()
    with pytest.raises(VideoError, match="no image files"):
        open_video(tmp_path / "noimages")
    with pytest.raises(VideoError, match="no camera at index 7"):
        open_video(7)
    with pytest.raises(VideoError, match="no camera"):
        track("webcam:7", Masks(np.ones((1, 32, 32), bool)))
    with pytest.raises(VideoError, match="cannot read video from a float"):
        open_video(3.5)
    frames = [np.zeros((32, 32, 3), np.uint8), np.zeros((40, 32, 3), np.uint8)]
    with pytest.raises(VideoError, match="frame 1 .* same size"):
        list(read_frames(frames))


def test_save_tracks_every_format_reads_back(tmp_path, clip):
    results = list(track(clip.frames, clip.masks_at(0), with_frames=True))
    paths = save_tracks(results, tmp_path / "out", formats=("coco", "mot", "png", "mp4"), fps=12)
    masks = [r for _, r in results]
    # COCO RLE per frame and track, decoded by pycocotools
    coco = read_coco_video(paths["coco"])
    assert sorted(coco) == list(range(len(clip)))
    for f, res in enumerate(masks):
        for i, oid in enumerate(res.ids):
            assert np.array_equal(coco[f][int(oid)], res.masks[i])
    doc = json.loads(paths["coco"].read_text())
    assert doc["videos"][0]["length"] == len(clip) and doc["videos"][0]["width"] == 80
    assert {a["id"] for a in doc["annotations"]} == {1, 2}
    # MOT: frame (from 1), id, x, y, w, h, score, -1, -1, -1
    mot = read_mot(paths["mot"])
    assert mot.shape == (sum(len(r) for r in masks), 10)
    row = mot[(mot[:, 0] == 4) & (mot[:, 1] == 2)][0]
    x0, y0, x1, y1 = masks[3].boxes[list(masks[3].ids).index(2)]
    assert row[2:6] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=0.01)
    assert (mot[:, 7:] == -1).all()
    # label PNGs: pixel value = track id
    label = np.asarray(Image.open(paths["png"] / "000005.png"))
    for i, oid in enumerate(masks[5].ids):
        assert (label[masks[5].masks[i]] == oid).all()
    assert (label[~masks[5].union()] == 0).all()
    # the overlay MP4 opens in OpenCV with one frame per result
    cap = cv2.VideoCapture(str(paths["mp4"]))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == len(clip)


def test_save_tracks_binary_pngs_and_errors(tmp_path, clip):
    from sam_compose.adapters.outputs.tracking.files import PngWriter

    res = clip.masks_at(2)
    w = PngWriter(tmp_path / "bin", mode="binary")
    w.write(2, res)
    m = np.asarray(Image.open(tmp_path / "bin" / "2" / "000002.png"))
    assert np.array_equal(m > 0, clip.masks[2, 1])
    with pytest.raises(InputError, match="unknown track output"):
        save_tracks([res], tmp_path / "x", formats=("avi",))
    with pytest.raises(InputError, match="needs the frames"):
        save_tracks([res], tmp_path / "y", formats=("mp4",))
    with pytest.raises(InputError, match="not found"):
        read_coco_video(tmp_path / "nope.json")


def _rss_bytes() -> int | None:
    """Resident memory now (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def test_memory_flat_over_ten_thousand_frames():
    """10,000 tiny frames through the flow fast path: nothing piles up between frame 1,000 and the last.

    Python objects are counted with ``sys.getallocatedblocks`` (every array, list entry or dict
    a frame left behind is a block: one leaked mask per frame is 9,000 blocks) and everything
    else (numpy buffers, OpenCV's own memory) with the resident set size (one leaked 32x32 mask
    per frame is ~9 MB); both are free to read, so the long stream costs only the tracking.
    """
    size, n = (32, 32), 10_000
    blocks, rss = {}, {}
    last = None
    for i, res in enumerate(
        track(
            synthetic_stream(n, size),
            Masks(disc_mask_at(0, size)),
            engine=None,
            keep_logits=False,
            flow_preset="ultrafast",
        )
    ):
        if i in (1000, n - 1):
            gc.collect()  # count what is held, not garbage waiting for the cycle collector
            blocks[i], rss[i] = sys.getallocatedblocks(), _rss_bytes()
        last = res
    assert last is not None and len(last.masks) == 1
    assert blocks[n - 1] - blocks[1000] < 500, blocks
    if rss[1000] is not None and rss[n - 1] is not None:
        assert rss[n - 1] - rss[1000] < 4 * 1024 * 1024, rss
    assert mask_iou(last.masks[0], disc_mask_at(n - 1, size)) >= 0.8


def test_engine_cache_does_not_grow_with_the_stream():
    """Each frame is embedded once and dropped from the shared engine's cache after use."""
    from sam_compose import shared_engine

    eng = shared_engine("opencv")
    before = len(eng.cache)
    size = (64, 64)
    tracemalloc.start()
    try:
        snaps = {}
        for i, _ in enumerate(track(synthetic_stream(150, size), Masks(disc_mask_at(0, size)), engine=eng)):
            if i in (50, 149):
                gc.collect()  # count what is held, not garbage waiting for the cycle collector
                snaps[i] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(eng.cache) == before
    assert snaps[149] - snaps[50] < 32 * 1024, snaps
