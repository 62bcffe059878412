"""The opencv engine's building blocks and the inputs people try on it.

Building blocks: the minimum cut is exact, the region tree is a valid hierarchy, the
embedding is bounded for any image size. Inputs: a click on plain background or exactly
on an edge, a box touching the border, a 1x1 box, 100 points, a positive and a negative
point on one pixel, a 4000x3000 photo, a grayscale photo, a click moved by 3 px.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from sam_compose.engines.opencv import OpenCVEngine
from sam_compose.engines.opencv.graphcut import min_cut
from sam_compose.engines.opencv.structure import build_structure
from sam_compose.geometry import mask_iou
from sam_compose.samples import sample_image, synthetic_scene
from sam_compose.types import Prompt


@pytest.fixture(scope="module")
def engine() -> OpenCVEngine:
    return OpenCVEngine()


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(0)


# --- building blocks -------------------------------------------------------------------------
def test_min_cut_is_the_exact_minimum():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = 6
        cf, cb = rng.random(n) * 3, rng.random(n) * 3
        edges = np.array([(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]).reshape(-1, 2)
        w = rng.random(len(edges)) * 2
        fg_hard, bg_hard = rng.random(n) < 0.15, rng.random(n) < 0.15

        def energy(x, cf=cf, cb=cb, w=w, edges=edges):
            return sum(cf[i] if x[i] else cb[i] for i in range(len(cf))) + sum(
                w[k] for k, (i, j) in enumerate(edges) if x[i] != x[j]
            )

        feasible = [
            x
            for x in itertools.product([0, 1], repeat=n)
            if all(x[i] for i in np.flatnonzero(fg_hard & ~bg_hard)) and not any(x[i] for i in np.flatnonzero(bg_hard))
        ]
        best = min(energy(x) for x in feasible)
        got = min_cut(cf, cb, edges, w, fg_hard, bg_hard)
        assert not got[bg_hard].any() and got[fg_hard & ~bg_hard].all()
        assert energy(got.astype(int)) == pytest.approx(best, rel=1e-3, abs=1e-3)


def test_region_tree_is_a_valid_hierarchy(scene):
    s = build_structure(scene.image)
    t, g = s.tree, s.graph
    n = g.n
    assert t.parent.size == 2 * n - 1 and t.parent[t.root] == -1
    assert np.array_equal(np.sort(t.leaves(t.root)), np.arange(n))  # the root holds every superpixel
    for k in range(n, t.parent.size):
        a, b = t.children[k]
        assert t.parent[a] == k and t.parent[b] == k
        assert t.height[k] >= max(t.height[a], t.height[b])
        assert t.area[k] == pytest.approx(t.area[a] + t.area[b])
        assert set(t.leaves(k).tolist()) == set(t.leaves(a).tolist()) | set(t.leaves(b).tolist())
    # superpixels: ids 0..n-1, each one connected, areas add up to the image
    assert g.labels.max() == n - 1 and g.area.sum() == g.labels.size
    for i in range(0, n, 97):
        count, _ = cv2.connectedComponents((g.labels == i).astype(np.uint8), connectivity=4)
        assert count == 2
    # a cut of the tree is a partition into nested regions
    part = t.cut(float(np.median(t.height[n:])))
    assert len(np.unique(part)) < n


def test_embedding_of_a_4000x3000_photo_is_bounded():
    big = cv2.resize(sample_image("coffee"), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    eng = OpenCVEngine()
    emb = eng.embed(big)
    assert max(emb.input_size) == eng.work_size and emb.image_size == (3000, 4000)
    assert emb.nbytes < 32 * 2**20  # the cache holds working-resolution arrays only
    res = eng.segment(big, Prompt(points=[[2000, 1500]]))
    assert res.masks.shape == (1, 3000, 4000) and res.masks[0, 1500, 2000]


# --- inputs people try ---------------------------------------------------------------------------
def test_click_on_plain_background_takes_no_object(engine, scene):
    res = engine.segment(scene.image, Prompt(points=[[10, 10]]), multimask=True)
    objects = scene.masks.any(axis=0)
    for m in res.masks:
        assert m.any() and (m & objects).sum() < 0.02 * m.sum()


def test_click_exactly_on_a_strong_edge_gives_one_side(engine, scene):
    m = scene.masks[0]
    outline = m & ~cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ys, xs = np.nonzero(outline)
    for j in (0, len(xs) // 3, 2 * len(xs) // 3):
        res = engine.segment(scene.image, Prompt(points=[[xs[j] + 0.5, ys[j] + 0.5]]))
        got = res.masks[0]
        inside = (got & m).sum() / m.sum()
        assert mask_iou(got, m) >= 0.8 or inside < 0.05, (j, mask_iou(got, m), inside)


def test_box_touching_the_image_border(engine, scene):
    x0 = int(scene.boxes[1][0]) + 20
    crop = np.ascontiguousarray(scene.image[:, x0:])
    truth = scene.masks[1][:, x0:]
    ys, xs = np.nonzero(truth)
    res = engine.segment(crop, Prompt(box=[0, ys.min(), xs.max() + 1, ys.max() + 1]))
    assert mask_iou(res.masks[0], truth) >= 0.9


def test_one_pixel_box_gives_that_pixel(engine, scene):
    res = engine.segment(scene.image, Prompt(box=[100, 100, 101, 101]), multimask=True)
    best = res.best()
    assert best.masks[0].sum() >= 1 and best.masks[0][100, 100]
    assert not best.masks[0][:, :99].any() and np.isfinite(res.scores).all()


def test_one_hundred_positive_points(engine, scene):
    pts = np.argwhere(scene.masks[2])[:, ::-1] + 0.5
    pick = pts[np.random.default_rng(0).choice(len(pts), 100, replace=False)]
    res = engine.segment(scene.image, Prompt(points=pick))
    assert mask_iou(res.masks[0], scene.masks[2]) >= 0.9


def test_positive_and_negative_point_on_one_pixel(engine, scene):
    """The contradiction is read conservatively: the negative wins."""
    x, y = scene.interior_point(1)
    res = engine.segment(scene.image, Prompt(points=[[x, y], [x, y]], labels=[1, 0]), multimask=True)
    assert not res.masks.any() and (res.scores == 0).all()
    other = engine.segment(scene.image, Prompt(points=[[x, y], [x, y], scene.interior_point(0)], labels=[1, 0, 1]))
    assert mask_iou(other.masks[0], scene.masks[0]) >= 0.9 and not other.masks[0][int(y), int(x)]


def test_grayscale_photograph(engine):
    from skimage import data

    grey = data.camera().copy()  # (512, 512) uint8: an (H, W) array is converted to RGB
    disk = np.zeros(grey.shape, np.uint8)
    cv2.circle(disk, (420, 70), 50, 1, -1)  # a dark disk in the bright sky
    disk = disk > 0
    noise = np.random.default_rng(0).normal(0, 6, grey.shape)
    grey[disk] = np.clip(70 + noise[disk], 0, 255).astype(np.uint8)
    res = engine.segment(grey, [Prompt(points=[[420, 70]]), Prompt(box=[368, 18, 471, 121])])
    assert res.masks.shape == (2, 512, 512)
    assert mask_iou(res.masks[0], disk) >= 0.9 and mask_iou(res.masks[1], disk) >= 0.9


def test_a_click_moved_by_three_pixels_keeps_the_mask(engine):
    sc = synthetic_scene(4, background=sample_image("coffee"))
    for i in range(len(sc.masks)):
        x, y = sc.interior_point(i)
        ref = engine.segment(sc.image, Prompt(points=[[x, y]])).masks[0]
        for dx, dy in ((3, 0), (0, -3), (-2, 2)):
            moved = engine.segment(sc.image, Prompt(points=[[x + dx, y + dy]])).masks[0]
            assert mask_iou(moved, ref) >= 0.9, (i, dx, dy)


def test_a_click_costs_a_fraction_of_the_embedding(scene):
    """Two phases: the embedding is computed once; prompts reuse it (counted, not timed)."""
    eng = OpenCVEngine()
    for i in range(len(scene.masks)):
        eng.segment(scene.image, Prompt(points=[scene.interior_point(i)]))
        eng.segment(scene.image, Prompt(box=scene.boxes[i]))
    st = eng.stats
    assert st.embeddings_computed == 1 and st.embedding_cache_hits == 2 * len(scene.masks) - 1
