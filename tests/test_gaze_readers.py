"""Gaze readers: every file format round-trips, detection from the header, and each bad input's clear error."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import numpy as np
import pytest

from sam_compose.adapters.prompts.gaze import (
    GazeError,
    NoFixationError,
    detect_fixations,
    detect_format,
    gaze_to_prompts,
    iter_gaze,
    read_gaze,
)
from sam_compose.adapters.prompts.gaze.synth import (
    synth_stream,
    synth_trace,
    write_generic,
    write_neon,
    write_neon_fixations,
    write_pupil_core,
    write_tobii,
)

TARGETS = [(0.2, 0.25, 0.4), (0.7, 0.3, 0.5), (0.45, 0.8, 0.3)]  # normalised x, y, seconds


def trace(frame, **kw):
    w, h = frame
    return synth_trace([(x * w, y * h, d) for x, y, d in TARGETS], scene_size=(h, w), t0=12.5, **kw)


@pytest.mark.parametrize(
    "fmt, writer, name, frame",
    [
        ("pupil_core", write_pupil_core, "gaze_positions.csv", (1280, 720)),
        ("neon", write_neon, "gaze.csv", (1600, 1200)),
        ("tobii_g3", write_tobii, "gazedata", (1920, 1080)),
        ("tobii_g3", write_tobii, "gazedata.gz", (1920, 1080)),
    ],
)
def test_device_formats_round_trip(tmp_path, fmt, writer, name, frame):
    samples, truth = trace(frame, noise=0.8, blinks=[(0.1, 0.05)])
    path = writer(tmp_path / name, samples)
    assert detect_format(path) == fmt
    got = read_gaze(path)
    assert got.source == fmt and got.scene_size == (frame[1], frame[0]) and len(got) == len(samples)
    assert np.allclose(got.t, samples.t, atol=1e-6)
    ok = samples.valid
    assert np.allclose(got.x[ok], samples.x[ok], atol=0.01) and np.allclose(got.y[ok], samples.y[ok], atol=0.01)
    assert got.n_valid == samples.n_valid and sum(got.dropped.values()) == len(samples) - samples.n_valid
    found = detect_fixations(got, profile="generic")
    assert len(found) == len(truth)
    for f, g in zip(truth, found):
        assert np.hypot(f.x - g.x, f.y - g.y) < 0.01 * np.hypot(*frame)
    if fmt == "pupil_core":  # by default Pupil Player's detector: pieces of 80..220 ms of the true fixations
        vendor = detect_fixations(got)
        assert len(vendor) > len(truth) and all(0.08 <= g.duration <= 0.22 + 1e-9 for g in vendor)
        assert all(any(f.start <= (g.start + g.end) / 2 <= f.end for f in truth) for g in vendor)


def test_pupil_core_origin_is_bottom_left_and_confidence_filters(tmp_path):
    samples, _ = trace((1280, 720), low_confidence=0.3)
    path = write_pupil_core(tmp_path / "gaze_positions.csv", samples)
    header = path.read_text().splitlines()[1].split(",")
    assert float(header[4]) == pytest.approx(1 - TARGETS[0][1], abs=1e-3)  # norm_pos_y counts from the bottom
    got = read_gaze(path)
    assert got.y[got.valid].min() > 0 and got.dropped["low_confidence"] == int((samples.confidence < 0.6).sum())
    assert read_gaze(path, min_confidence=0.0).n_valid == len(samples)


def test_neon_worn_and_blinks(tmp_path):
    samples, _ = trace((1600, 1200), blinks=[(0.2, 0.1)])
    worn = np.ones(len(samples), int)
    worn[-30:] = 0
    got = read_gaze(write_neon(tmp_path / "gaze.csv", samples, worn=worn))
    assert got.dropped["not_worn"] == 30 and got.dropped["blink"] == int((~samples.valid).sum())


def test_export_folder_is_searched(tmp_path):
    samples, _ = trace((1280, 720))
    folder = tmp_path / "recording" / "exports" / "000"
    folder.mkdir(parents=True)
    write_pupil_core(folder / "gaze_positions.csv", samples)
    assert read_gaze(tmp_path / "recording").source == "pupil_core"
    (tmp_path / "nothing").mkdir()
    with pytest.raises(GazeError, match="no gaze recording found in folder"):
        read_gaze(tmp_path / "nothing")


def test_fixation_exports_are_used_directly(tmp_path):
    _, truth = trace((1600, 1200))
    path = write_neon_fixations(tmp_path / "fixations.csv", truth)
    assert detect_format(path) == "neon_fixations"
    got = detect_fixations(read_gaze(path))
    assert [(round(f.x, 2), round(f.y, 2)) for f in got] == [(round(f.x, 2), round(f.y, 2)) for f in truth]
    assert got[0].duration == pytest.approx(truth[0].duration, abs=1e-6)
    # Pupil Player's fixations.csv: start_timestamp (s), duration (ms), norm_pos origin bottom left
    core = tmp_path / "fixations_core.csv"
    core.write_text(
        "id,start_timestamp,duration,start_frame_index,end_frame_index,norm_pos_x,norm_pos_y,dispersion\n"
        "0,10.0,250.0,300,307,0.25,0.75,1.1\n1,10.4,400.0,312,324,0.5,0.5,0.9\n"
    )
    assert detect_format(core) == "pupil_core_fixations"
    fx = detect_fixations(read_gaze(core))
    assert (fx[0].x, fx[0].y, fx[0].duration) == pytest.approx((320, 180, 0.25))


def test_generic_csv_declared_units_origin_time(tmp_path):
    samples, truth = trace((800, 600))
    p = write_generic(
        tmp_path / "g.csv", samples, units="norm", origin="bottom-left", time_unit="ms", names=("time_ms", "gx", "gy")
    )
    got = read_gaze(p, units="norm", origin="bottom-left", scene_size=(600, 800), columns={"x": "gx", "y": "gy"})
    assert np.allclose(got.x, samples.x, atol=0.01) and np.allclose(got.t, samples.t, atol=1e-6)
    # units from column suffixes, tab separated
    p2 = tmp_path / "g.tsv"
    p2.write_text(
        "timestamp [ns]\tx [px]\ty [px]\n"
        + "".join(f"{int(t * 1e9)}\t{x:.2f}\t{y:.2f}\n" for t, x, y in zip(samples.t, samples.x, samples.y))
    )
    assert detect_format(p2) == "generic"
    g2 = read_gaze(p2, scene_size=(600, 800))
    assert np.allclose(g2.y, samples.y, atol=0.01)
    assert len(detect_fixations(g2)) == len(truth)


def test_generic_pixels_without_frame_are_image_pixels(tmp_path):
    samples, _ = trace((640, 480))
    p = write_generic(tmp_path / "g.csv", samples, units="px", names=("t", "x_px", "y_px"))
    got = read_gaze(p)
    assert got.scene_size is None
    prompts = gaze_to_prompts(got, image_size=(480, 640))
    assert prompts[0].points[0] == pytest.approx((0.7 * 640, 0.3 * 480), abs=2)  # the longest dwell first


def test_format_override(tmp_path):
    samples, _ = trace((1600, 1200))
    p = write_neon(tmp_path / "gaze.csv", samples)
    g = read_gaze(
        p,
        format="generic",
        columns={"t": "timestamp [ns]", "x": "gaze x [px]", "y": "gaze y [px]"},
        units="px",
        scene_size=(1200, 1600),
    )
    assert np.allclose(g.t, samples.t, atol=1e-6)
    with pytest.raises(GazeError, match="column .gaze_timestamp. not found"):
        read_gaze(p, format="pupil_core")
    with pytest.raises(GazeError, match="unknown gaze format"):
        read_gaze(p, format="eyelink")


# ------------------------------------------------------------------ inputs to try
def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(GazeError, match="is empty"):
        read_gaze(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("timestamp [ns],gaze x [px],gaze y [px],worn\n")
    with pytest.raises(GazeError, match="no samples"):
        read_gaze(tmp_path / "head.csv")
    with pytest.raises(GazeError, match="does not exist"):
        read_gaze(tmp_path / "missing.csv")


def test_only_invalid_samples_say_no_fixation(tmp_path):
    samples, _ = trace((1600, 1200))
    p = write_neon(tmp_path / "gaze.csv", samples, worn=np.zeros(len(samples), int))
    g = read_gaze(p)
    assert g.n_valid == 0 and detect_fixations(g) == []
    with pytest.raises(NoFixationError, match=r"no fixation found.*none of the \d+ samples is valid.*not_worn"):
        gaze_to_prompts(g, image_size=(1200, 1600))


@pytest.mark.parametrize("chunk", [10_000, 7])
def test_timestamps_going_backwards(tmp_path, chunk):
    rows = ["t,x,y"] + [f"{t:.3f},{100 + t},{200}" for t in np.arange(0, 0.2, 0.005)]
    rows.insert(20, "0.010,100,200")
    (tmp_path / "b.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(GazeError, match=r"timestamps go backwards at line 21 "):
        read_gaze(tmp_path / "b.csv", units="px", chunk_size=chunk)


def test_unknown_columns(tmp_path):
    (tmp_path / "u.csv").write_text("alpha,beta,gamma\n1,2,3\n")
    with pytest.raises(GazeError, match=r"unknown gaze format.*'alpha'.*columns=\{'t'"):
        read_gaze(tmp_path / "u.csv")
    # unknown extra columns in a known format are ignored
    (tmp_path / "x.csv").write_text(
        "t,x,y,pupil_diameter,comment\n" + "".join(f"{i / 100},{300},{200},3.1,hello\n" for i in range(50))
    )
    assert read_gaze(tmp_path / "x.csv", units="px").n_valid == 50


def test_normalised_values_given_as_pixels(tmp_path):
    samples, _ = trace((1600, 1200))
    p = write_generic(tmp_path / "n.csv", samples, units="norm")
    with pytest.raises(GazeError, match="look like normalised coordinates.*units='norm'"):
        read_gaze(p, units="px", scene_size=(1200, 1600))
    # a Neon export whose pixel columns hold 0..1 values
    neon = tmp_path / "gaze.csv"
    neon.write_text(
        "timestamp [ns],gaze x [px],gaze y [px],worn\n"
        + "".join(
            f"{int(t * 1e9)},{x / 1600:.5f},{y / 1200:.5f},1\n" for t, x, y in zip(samples.t, samples.x, samples.y)
        )
    )
    with pytest.raises(GazeError, match="look like normalised"):
        read_gaze(neon)
    # and pixels declared normalised
    px = write_generic(tmp_path / "p.csv", samples, units="px")
    with pytest.raises(GazeError, match="look like pixels"):
        read_gaze(px, units="norm")


def test_tobii_bad_lines_and_missing_gaze(tmp_path):
    p = tmp_path / "gazedata.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(json.dumps({"type": "gaze", "timestamp": 0.0, "data": {"gaze2d": [0.5, 0.5]}}) + "\n")
        fh.write(json.dumps({"type": "gaze", "timestamp": 0.01, "data": {}}) + "\n")
        fh.write(json.dumps({"type": "sync-port", "timestamp": 0.015, "data": {"value": 1}}) + "\n")
        fh.write("{not json\n")
    with pytest.raises(GazeError, match="line 4 is not JSON"):
        read_gaze(p)


def test_samples_from_iterable_and_passthrough():
    rows = [(i / 100, 320.0, 240.0, 0.9) for i in range(40)] + [
        {"t": 0.4 + i / 100, "x": 100, "y": 100} for i in range(40)
    ]
    g = read_gaze(rows, scene_size=(480, 640))
    assert len(g) == 80 and read_gaze(g) is g
    assert len(detect_fixations(g)) == 2
    with pytest.raises(GazeError, match="back in time"):
        read_gaze([(1.0, 1, 1), (0.5, 1, 1)])
    with pytest.raises(GazeError, match="iterable is empty"):
        read_gaze([])
    arr = np.array([[i / 100, 0.5, 0.5] for i in range(40)])
    a = read_gaze(arr, scene_size=(480, 640), units="norm")
    assert a.x == pytest.approx(np.full(40, 320.0)) and len(detect_fixations(a)) == 1
    with pytest.raises(GazeError, match=r"\(N, 3\)"):
        read_gaze(np.zeros((5, 2)))


def _stream_file(path, seconds, seed=0):
    truth = [0]

    def chunks():
        for c, k in synth_stream(seconds, rate=200.0, chunk_seconds=30.0, seed=seed):
            truth[0] += k
            yield c

    write_neon(path, chunks())
    return truth[0]


def _stream_fixations(path, chunk_size):
    tracemalloc.start()
    try:
        n_samples, biggest = 0, 0
        from sam_compose.adapters.prompts.gaze import FixationDetector

        det, found, buffered = None, 0, 0
        for c in iter_gaze(path, chunk_size=chunk_size):
            biggest = max(biggest, len(c))
            n_samples += len(c)
            det = det or FixationDetector(scene_size=c.scene_size)
            found += len(det.feed(c))
            buffered = max(buffered, det.buffered)
        found += len(det.flush())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return n_samples, biggest, found, buffered, peak


def test_long_recording_streams_in_bounded_memory(tmp_path):
    """10 min and 30 min at 200 Hz: the same peak memory, chunks of chunk_size, exact fixation count."""
    short, long_ = tmp_path / "short.csv", tmp_path / "long.csv"
    n_short = _stream_file(short, 600, seed=1)
    n_long = _stream_file(long_, 1800, seed=2)
    s = _stream_fixations(short, 20_000)
    lg = _stream_fixations(long_, 20_000)
    assert lg[0] >= 1800 * 200 and lg[1] == 20_000
    assert (s[2], lg[2]) == (n_short, n_long)  # every fixation found, none invented
    assert lg[3] < 1000  # the detector holds one fixation's samples, not the recording
    assert lg[4] < 1.5 * s[4] + 2e6  # 3x the samples, about the same peak memory
    assert lg[4] < 60e6  # far below the whole recording as Python objects


@pytest.mark.slow
def test_two_hour_recording_at_200hz(tmp_path):
    """The issue's input: 2 h at 200 Hz (1.44 M samples, ~80 MB Neon CSV) streams through."""
    p = tmp_path / "gaze.csv"
    n_true = _stream_file(p, 7200, seed=3)
    n_samples, biggest, found, buffered, peak = _stream_fixations(p, 50_000)
    assert n_samples >= 7200 * 200 and biggest == 50_000
    assert found == n_true and buffered < 1000
    assert peak < 150e6
