"""Depth maps and 3D lifting: rendered spheres of known radius, the Middlebury motorcycle
stereo pair with its ground-truth disparity and calibration, multi-view fusion, and every
bad input from the issue."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam_compose.adapters.outputs.camera import MOTORCYCLE_CALIBRATION, Intrinsics, as_intrinsics, as_pose
from sam_compose.adapters.outputs.depth import (
    depth_from_disparity,
    disparity_sgbm,
    estimate_depth,
    load_depth,
    save_depth_png,
)
from sam_compose.adapters.outputs.lifting import PointCloud, fuse, lift_to_3d, lift_views
from sam_compose.errors import EngineError, InputError
from sam_compose.masks import Masks

H, W = 480, 640
K = Intrinsics(525.0, 525.0, 319.5, 239.5)


def render_sphere(center, radius, intr=K, size=(H, W)):
    """Ray-cast z-depth of a sphere; NaN where the ray misses. Returns (depth, mask)."""
    h, w = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], axis=-1)
    c = np.asarray(center, np.float64)
    a = (rays * rays).sum(-1)
    b = -2.0 * (rays @ c)
    disc = b * b - 4 * a * (c @ c - radius**2)
    hit = disc > 0
    t = np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a), np.nan)
    return t.astype(np.float32), hit  # the ray's z component is 1, so t is z-depth


def fit_sphere(p: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through points: |p|^2 = 2 c.p + (r^2 - |c|^2)."""
    p = p.astype(np.float64)
    A = np.hstack([2 * p, np.ones((len(p), 1))])
    sol, *_ = np.linalg.lstsq(A, (p * p).sum(1), rcond=None)
    c = sol[:3]
    return c, float(np.sqrt(sol[3] + c @ c))


# --- intrinsics --------------------------------------------------------------------------


def test_intrinsics_forms_agree():
    ref = Intrinsics(500.0, 500.0, 319.5, 239.5)
    forms = [
        (500, 500, 319.5, 239.5),
        {"fx": 500, "fy": 500, "cx": 319.5, "cy": 239.5},
        {"f": 500},
        ref.matrix,
        ref.matrix.tolist(),
        ref,
    ]
    for f in forms:
        assert as_intrinsics(f, size=(H, W)) == ref
    fov = 2 * np.degrees(np.arctan(W / 2 / 500.0))
    assert as_intrinsics(fov, size=(H, W)).fx == pytest.approx(500.0)
    assert as_intrinsics({"fov_y": 2 * np.degrees(np.arctan(H / 2 / 500.0))}, size=(H, W)).fy == pytest.approx(500.0)


@pytest.mark.parametrize(
    "bad",
    [
        (0, 500, 320, 240),
        (-500, 500, 320, 240),
        (500, 500, -1, 240),
        (500, np.nan, 320, 240),
        [[1, 2], [3, 4]],
        {"cx": 3},
        0.0,
        200.0,
        "wide",
    ],
)
def test_bad_intrinsics_raise_input_error(bad):
    with pytest.raises(InputError):
        as_intrinsics(bad, size=(H, W))


def test_zero_intrinsics_rejected_by_lift():
    depth, mask = render_sphere((0, 0, 2), 0.3)
    with pytest.raises(InputError, match="positive"):
        lift_to_3d(mask, depth, (0, 0, 319.5, 239.5))


def test_pose_validation():
    assert np.array_equal(as_pose(None), np.eye(4))
    with pytest.raises(InputError, match="rotation"):
        as_pose(np.diag([2.0, 1, 1, 1]))
    with pytest.raises(InputError, match="4x4"):
        as_pose(np.eye(3))


# --- spheres -----------------------------------------------------------------------------


def test_sphere_radius_and_centre_recovered():
    centre, radius = np.array([0.15, -0.1, 2.0]), 0.35
    depth, mask = render_sphere(centre, radius)
    image = np.zeros((H, W, 3), np.uint8)
    image[mask] = (200, 40, 40)
    cloud = lift_to_3d(Masks(mask), depth, K, image)
    c, r = fit_sphere(cloud.points)
    assert abs(r - radius) / radius < 0.02
    assert np.linalg.norm(c - centre) < 0.02 * radius
    assert np.all(cloud.colors == (200, 40, 40))
    assert cloud.data["outliers_removed"] < 0.05 * mask.sum()  # only sparse rim points go
    # the visible cap is bounded by the tangent circle (radius r * sqrt(1 - r^2 / d^2)),
    # and is less than one radius deep
    raw = lift_to_3d(Masks(mask), depth, K, outliers="none")
    rim = 2 * radius * np.sqrt(1 - radius**2 / (centre @ centre))
    ext = raw.extents
    assert ext[0] == pytest.approx(rim, rel=0.02) and ext[1] == pytest.approx(rim, rel=0.02)
    assert ext[2] < radius
    assert np.allclose(np.sort(raw.oriented_box().size)[1:], rim, rtol=0.03)
    assert cloud.data["frame"] == "camera" and cloud.data["units"] == "m"


def test_two_views_with_poses_fuse_into_one_sphere():
    centre, radius = np.array([0.0, 0.0, 2.5]), 0.4
    # view 1 at the origin; view 2 on the right, turned 60 degrees to face the sphere
    ang = np.radians(-60)
    R = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
    pos2 = centre - R @ np.array([0, 0, 2.5])
    pose2 = np.eye(4)
    pose2[:3, :3], pose2[:3, 3] = R, pos2
    views = []
    for pose in (np.eye(4), pose2):
        local_centre = pose[:3, :3].T @ (centre - pose[:3, 3])
        depth, mask = render_sphere(local_centre, radius)
        views.append({"masks": mask, "depth": depth, "intrinsics": K, "pose": pose})
    fused = lift_views(views)
    single = lift_to_3d(views[0]["masks"], views[0]["depth"], K)
    c, r = fit_sphere(fused.points)
    assert abs(r - radius) / radius < 0.02 and np.linalg.norm(c - centre) < 0.02 * radius
    # every point of both views lies on the sphere: the poses were applied correctly
    resid = np.abs(np.linalg.norm(fused.points - centre, axis=1) - radius)
    assert np.percentile(resid, 99) < 0.01 * radius
    assert fused.extents[2] > single.extents[2] * 1.3 and fused.data["views"] == 2
    again = fuse([lift_to_3d(v["masks"], v["depth"], K) for v in views], [v["pose"] for v in views], voxel=0.01)
    assert 0 < len(again) < len(fused)
    with pytest.raises(InputError, match="one pose per view"):
        fuse([single], [np.eye(4), np.eye(4)])


def test_outliers_removed_statistical_and_radius():
    depth, mask = render_sphere((0, 0, 2.0), 0.3)
    noisy = depth.copy()
    ys, xs = np.nonzero(mask)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(ys), 40, replace=False)
    noisy[ys[pick], xs[pick]] += rng.uniform(0.5, 1.5, 40).astype(np.float32)  # flying pixels behind
    for method in ("statistical", "radius"):
        cloud = lift_to_3d(mask, noisy, K, outliers=method)
        assert cloud.points[:, 2].max() < 2.0 + 0.01, method
        assert cloud.data["outliers_removed"] >= 40
        assert len(cloud) > 0.97 * mask.sum()
    raw = lift_to_3d(mask, noisy, K, outliers="none")
    assert len(raw) == mask.sum()
    with pytest.raises(InputError, match="outlier"):
        lift_to_3d(mask, noisy, K, outliers="magic")


def test_cluster_drops_background_the_mask_leaked_onto():
    centre, radius = np.array([0.0, 0.0, 2.0]), 0.3
    depth, sphere = render_sphere(centre, radius)
    depth = np.where(sphere, depth, 4.0).astype(np.float32)  # a wall 4 m away
    leaky = cv2.dilate(sphere.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)  # mask spills onto it
    stat = lift_to_3d(leaky, depth, K, outliers="statistical")
    assert stat.extents[2] > 1.5  # the wall stays: it is a dense patch, not sparse noise
    clean = lift_to_3d(leaky, depth, K, outliers="cluster")
    assert clean.points[:, 2].max() < 2.0 + 1e-3 and len(clean) >= 0.99 * sphere.sum()
    _, r = fit_sphere(clean.points)
    assert abs(r - radius) / radius < 0.02


def test_oriented_box_of_rotated_cuboid():
    rng = np.random.default_rng(1)
    local = rng.uniform(-0.5, 0.5, size=(4000, 3)) * [2.0, 1.0, 0.25]
    ang = np.radians(30)
    R = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
    box = PointCloud(local @ R.T + [1, 2, 3]).oriented_box()
    assert np.allclose(box.size, [2.0, 1.0, 0.25], atol=0.03)
    assert np.allclose(box.center, [1, 2, 3], atol=0.03)
    assert abs(abs(box.axes[:, 0] @ R[:, 0]) - 1) < 1e-3 and np.linalg.det(box.axes) == pytest.approx(1.0)
    assert box.corners.shape == (8, 3)


# --- inputs to try -------------------------------------------------------------------


def test_depth_of_other_size_is_resized_when_aspect_matches():
    centre, radius = np.array([0.0, 0.0, 2.0]), 0.35
    _, mask = render_sphere(centre, radius)
    half, _ = render_sphere(centre, radius, intr=K.scaled(0.5, 0.5), size=(H // 2, W // 2))
    with pytest.warns(UserWarning, match="resizing depth"):
        cloud = lift_to_3d(mask, half, K)
    _, r = fit_sphere(cloud.points)
    assert abs(r - radius) / radius < 0.03
    with pytest.raises(InputError, match="aspect ratio"):
        lift_to_3d(mask, np.ones((100, 100), np.float32), K)


def test_all_nan_depth_inside_mask():
    depth, mask = render_sphere((0, 0, 2.0), 0.3)
    depth[mask] = np.nan
    with pytest.raises(InputError, match="no masked pixel has a valid depth"):
        lift_to_3d(mask, depth, K)
    # with two masks, the one without depth is skipped with a warning
    good_depth, good = render_sphere((0, 0, 2.0), 0.3)
    other = np.zeros_like(good)
    other[:20, :20] = True
    good_depth[other] = np.nan
    with pytest.warns(UserWarning, match=r"masks \[1\]"):
        cloud = lift_to_3d(np.stack([good, other]), good_depth, K)
    assert set(np.unique(cloud.labels)) == {0} and cloud.data["skipped_masks"] == [1]


def test_empty_mask():
    depth, _ = render_sphere((0, 0, 2.0), 0.3)
    with pytest.raises(InputError, match="empty"):
        lift_to_3d(np.zeros((H, W), bool), depth, K)
    with pytest.raises(InputError, match="empty"):
        lift_to_3d(Masks.empty((H, W)), depth, K)
    with pytest.raises(InputError, match="empty point cloud"):
        _ = PointCloud(np.zeros((0, 3))).centroid


def test_image_of_other_size_rejected():
    depth, mask = render_sphere((0, 0, 2.0), 0.3)
    with pytest.raises(InputError, match="image is"):
        lift_to_3d(mask, depth, K, np.zeros((100, 100, 3), np.uint8))


# --- depth files ----------------------------------------------------------------------


def test_depth_files_png_mm_and_npy_m(tmp_path):
    depth, _ = render_sphere((0, 0, 2.0), 0.5)
    depth = np.where(np.isfinite(depth), depth, 3.0).astype(np.float32)
    depth[:5, :5] = np.nan
    png = save_depth_png(tmp_path / "d.png", depth)
    assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    back = load_depth(png)
    assert np.isnan(back[:5, :5]).all()
    ok = np.isfinite(depth)
    assert np.nanmax(np.abs(back[ok] - depth[ok])) <= 0.0005 + 1e-6  # millimetre rounding
    np.save(tmp_path / "d.npy", depth)
    assert np.allclose(load_depth(tmp_path / "d.npy"), depth, equal_nan=True)
    np.savez(tmp_path / "d.npz", depth=depth * 1000)
    assert np.allclose(load_depth(tmp_path / "d.npz", scale=0.001), depth, equal_nan=True)
    with pytest.raises(InputError, match="not found"):
        load_depth(tmp_path / "missing.png")
    cv2.imwrite(str(tmp_path / "colour.png"), np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="colour"):
        load_depth(tmp_path / "colour.png")
    with pytest.raises(InputError, match="single-channel"):
        load_depth(np.zeros((4, 4, 3)))


def test_pfm_disparity_file_to_depth(tmp_path):
    disp = np.random.default_rng(0).uniform(10, 60, (30, 40)).astype(np.float32)
    path = tmp_path / "disp.pfm"
    with open(path, "wb") as f:
        f.write(b"Pf\n40 30\n-1.0\n")
        f.write(disp[::-1].astype("<f4").tobytes())  # PFM stores the bottom row first
    depth = load_depth(path, calibration=MOTORCYCLE_CALIBRATION)
    c = MOTORCYCLE_CALIBRATION
    assert np.allclose(depth, c.focal * c.baseline / (disp + c.doffs), rtol=1e-5)


# --- Middlebury motorcycle ---------------------------------------------------------------


@pytest.fixture(scope="module")
def motorcycle():
    from skimage import data

    left, right, disp = data.stereo_motorcycle()
    return left, right, disp


def test_motorcycle_calibration_matches_docstring():
    from skimage import data

    doc = data.stereo_motorcycle.__doc__

    def num(label):
        return float(re.search(label + r":\s*([0-9.]+)", doc).group(1))

    c = MOTORCYCLE_CALIBRATION
    assert c.focal == num("Focal length") and c.cx == num("Principal point x")
    assert c.cy == num("Principal point y") and c.doffs == num("Principal point dx")
    assert c.baseline * 1000 == pytest.approx(num("Baseline"))


def test_motorcycle_lift_reprojects_into_right_image(motorcycle):
    """Lift the left view with ground-truth depth, move to the right camera (baseline along
    x, principal point shifted by doffs) and project: colours must match the right image."""
    left, right, disp = motorcycle
    c = MOTORCYCLE_CALIBRATION
    depth = depth_from_disparity(disp, c)
    assert np.nanpercentile(depth, 5) > 1.5 and np.nanpercentile(depth, 95) < 6.0  # a garage scene, metres
    mask = np.isfinite(depth)
    cloud = lift_to_3d(mask, depth, c.intrinsics, left, outliers="none")
    right_K = Intrinsics(c.focal, c.focal, c.cx + c.doffs, c.cy)

    def photometric_error(shift_x):
        p = cloud.points.astype(np.float64) - [shift_x, 0, 0]
        u = np.round(right_K.fx * p[:, 0] / p[:, 2] + right_K.cx).astype(int)
        v = np.round(right_K.fy * p[:, 1] / p[:, 2] + right_K.cy).astype(int)
        ok = (u >= 0) & (u < left.shape[1]) & (v >= 0) & (v < left.shape[0])
        return np.abs(right[v[ok], u[ok]].astype(float) - cloud.colors[ok].astype(float)).mean()

    good = photometric_error(c.baseline)
    assert good < 10.0
    assert photometric_error(0.0) > 3 * good  # without the baseline, colours do not match
    assert photometric_error(c.baseline * 1.3) > 1.5 * good  # a wrong scale does not match either


def test_motorcycle_stereo_matching_gives_metric_geometry(motorcycle):
    """Depth from our own stereo matching (OpenCV SGBM) lifts to the same geometry as the
    ground truth: per-pixel depth and distances between points on the motorcycle."""
    left, right, disp = motorcycle
    c = MOTORCYCLE_CALIBRATION
    gt = depth_from_disparity(disp, c)
    est = depth_from_disparity(disparity_sgbm(left, right, max_disparity=96), c)
    box = np.zeros(gt.shape, bool)
    box[150:430, 120:680] = True  # the motorcycle and what is around it
    both = box & np.isfinite(gt) & np.isfinite(est)
    rel = np.abs(est[both] - gt[both]) / gt[both]
    assert np.median(rel) < 0.01 and np.mean(rel < 0.05) > 0.85
    a = lift_to_3d(both, gt, c.intrinsics, outliers="none")
    b = lift_to_3d(both, est, c.intrinsics, outliers="none")
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(a), 2000), rng.integers(0, len(a), 2000)
    da = np.linalg.norm(a.points[i] - a.points[j], axis=1)
    db = np.linalg.norm(b.points[i] - b.points[j], axis=1)
    far = da > 0.2
    assert np.median(np.abs(db[far] - da[far]) / da[far]) < 0.02
    # front and rear wheel hubs: about a metre apart at 2.3-2.5 m from the camera
    hubs = [(598, 378), (200, 322)]
    pts = [np.array([(u - c.cx) * gt[v, u] / c.focal, (v - c.cy) * gt[v, u] / c.focal, gt[v, u]]) for u, v in hubs]
    assert 2.0 < pts[0][2] < 2.7 and 2.0 < pts[1][2] < 2.7
    assert 0.8 < np.linalg.norm(pts[0] - pts[1]) < 1.2


# --- monocular ------------------------------------------------------------------------


def test_estimate_depth_offline_message_without_network(no_network):
    with pytest.raises(EngineError, match="sam-compose models download"):
        estimate_depth(np.zeros((32, 32, 3), np.uint8), model="depth-anything/Depth-Anything-V2-Small-hf")
    assert no_network == []


def test_estimate_depth_with_tiny_random_depth_anything(tmp_path):
    transformers = pytest.importorskip("transformers")
    backbone = transformers.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        patch_size=14,
        image_size=56,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    cfg = transformers.DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[16, 16, 16, 16],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
    )
    transformers.set_seed(0)
    model = transformers.DepthAnythingForDepthEstimation(cfg)
    model.save_pretrained(tmp_path)
    transformers.DPTImageProcessor(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14, do_pad=False
    ).save_pretrained(tmp_path)
    img = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    rel = estimate_depth(img, model=str(tmp_path))
    assert rel.shape == (60, 80) and rel.dtype == np.float32 and np.isfinite(rel).mean() > 0.5
    assert np.nanmedian(rel) == pytest.approx(1.0)
    metric = estimate_depth(img, model=str(tmp_path), metric=True)
    assert metric.shape == (60, 80)


# --- nodes and demo graphs ---------------------------------------------------------------

DEMOS = Path(__file__).resolve().parent.parent / "demos"


def _tank_mask() -> Masks:
    m = np.zeros((500, 741), bool)
    cv2.ellipse(m.view(np.uint8), (420, 200), (60, 30), 0, 0, 360, 1, -1)
    return Masks(m)


def test_lift_demo_graph_writes_readable_glb_and_ply(tmp_path):
    import sam_compose as sc

    graph = sc.Graph.from_file(DEMOS / "gaze_lift_motorcycle.json")
    report = graph.run(feed={"seg": _tank_mask()}, out_dir=tmp_path, raise_on_error=True)
    glb, ply = report["outputs"]["glb"], report["outputs"]["ply"]
    from_ply = PointCloud.load(ply)
    from_glb = PointCloud.load(glb)  # octahedron splats: one point per 6 vertices
    assert len(from_ply) == len(from_glb) > 1000
    assert np.allclose(from_ply.points, from_glb.points, atol=1e-5)
    assert np.array_equal(from_ply.colors, from_glb.colors)
    assert 2.0 < from_ply.centroid[2] < 2.6  # the tank is about 2.3 m from the camera
    assert 0.2 < from_ply.extents[0] < 0.5  # a 120-pixel-wide region at 2.3 m: about 0.28 m
    assert (from_ply.colors[:, 0].astype(int) - from_ply.colors[:, 2]).mean() > 40  # red tank


def run_node(name, params, **inputs):
    """Call a node type as the graph runtime does: params checked, defaults filled in."""
    from sam_compose.nodes import registry

    spec = registry.get(name)
    return spec.instantiate(spec.check_params(params))(**inputs)


def test_stereo_depth_node_matches_ground_truth_node():
    left = sc_load("sample:motorcycle_left")
    gt = run_node("depth", {"path": "sample:motorcycle"})
    est = run_node("depth", {"source": "stereo", "path": "sample:motorcycle", "max_disparity": 96}, image=left)
    both = np.isfinite(gt) & np.isfinite(est)
    assert both.mean() > 0.6 and np.median(np.abs(est[both] - gt[both]) / gt[both]) < 0.01


def sc_load(name):
    from sam_compose.image_io import load_image

    return load_image(name)


def test_depth_and_lift_nodes_check_their_inputs(tmp_path):
    import sam_compose as sc
    from sam_compose.nodes.api import GraphError

    with pytest.raises(InputError, match="needs path"):
        run_node("depth", {"source": "file"})
    with pytest.raises(InputError, match="image input"):
        run_node("depth", {"source": "monocular"})
    with pytest.raises(InputError, match="baseline"):
        run_node("depth", {"path": "sample:motorcycle", "calibration": {"focal": 900}})
    depth, mask = render_sphere((0, 0, 2.0), 0.3)
    cloud = run_node("lift3d", {"intrinsics": list(K.to_dict().values())}, masks=Masks(mask), depth=depth)
    assert abs(fit_sphere(cloud.points)[1] - 0.3) < 0.006
    graph = sc.Graph.from_dict(
        {
            "nodes": {
                "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                "d": {"type": "depth", "params": {"path": "sample:motorcycle"}},
                "lift": {
                    "type": "lift3d",
                    "inputs": {"masks": "img", "depth": "d"},
                    "params": {"intrinsics": [1, 1, 1, 1]},
                },
            }
        }
    )
    with pytest.raises(GraphError, match="lift"):
        graph.validate()


@pytest.mark.slow
def test_gaze_demo_end_to_end(tmp_path):
    """The whole demo: gaze fixation -> OpenCV segmentation -> lifted cloud (about 10 s).

    The mask's quality belongs to the engine; this checks the plumbing: every lifted point
    sits on the ground-truth depth of a masked pixel, in one connected piece."""
    import sam_compose as sc
    from sam_compose.adapters.outputs.exports import read_record

    report = sc.Graph.from_file(DEMOS / "gaze_lift_motorcycle.json").run(out_dir=tmp_path, raise_on_error=True)
    masks, rec = read_record(report["outputs"]["record"])
    assert rec["prompts"][0]["data"]["adapter"] == "gaze" and masks.areas[0] > 100
    cloud = PointCloud.load(report["outputs"]["ply"])
    c = MOTORCYCLE_CALIBRATION
    u = np.round(c.focal * cloud.points[:, 0] / cloud.points[:, 2] + c.cx).astype(int)
    v = np.round(c.focal * cloud.points[:, 1] / cloud.points[:, 2] + c.cy).astype(int)
    assert np.all(masks.masks[0][v, u])  # every point projects back into the mask
    from skimage import data

    gt = depth_from_disparity(data.stereo_motorcycle()[2], c)
    assert np.allclose(cloud.points[:, 2], gt[v, u], rtol=1e-4)
    assert 1.5 < cloud.centroid[2] < 6.0


def test_graph_reads_a_depth_png_next_to_the_graph_file(tmp_path):
    import sam_compose as sc

    centre, radius = np.array([0.0, 0.05, 1.5]), 0.25
    depth, mask = render_sphere(centre, radius)
    save_depth_png(tmp_path / "depth.png", depth)
    graph = sc.Graph.from_dict(
        {
            "nodes": {
                "d": {"type": "depth", "params": {"path": "depth.png"}},
                "lift": {
                    "type": "lift3d",
                    "inputs": {"masks": "seg", "depth": "d"},
                    "params": {"intrinsics": {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy}},
                },
                "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                "box": {"type": "box_prompt", "params": {"boxes": [[0, 0, 10, 10]]}},
                "seg": {"type": "segment", "inputs": {"image": "img", "prompts": "box"}},
            }
        },
        base_dir=tmp_path,
    )
    report = graph.run(feed={"seg": Masks(mask)}, raise_on_error=True)
    cloud = report.value("lift")
    c, r = fit_sphere(cloud.points)
    assert abs(r - radius) / radius < 0.02 and np.linalg.norm(c - centre) < 0.01  # millimetre PNG precision


def test_monocular_depth_node_offline_error_is_reported_in_the_run():
    import sam_compose as sc

    graph = sc.Graph.from_dict(
        {
            "nodes": {
                "img": {"type": "load_image", "params": {"path": "sample:coins"}},
                "d": {
                    "type": "depth",
                    "inputs": {"image": "img"},
                    "params": {"source": "monocular", "model": "depth-anything/Depth-Anything-V2-Small-hf"},
                },
            }
        }
    )
    report = graph.run()
    assert not report.ok and "sam-compose models download" in report.errors["d"]


def test_stereo_demo_lifts_the_tank_from_our_own_stereo_matching(tmp_path):
    import sam_compose as sc

    report = sc.Graph.from_file(DEMOS / "stereo_lift_motorcycle.yaml").run(out_dir=tmp_path, raise_on_error=True)
    cloud = PointCloud.load(report["outputs"]["ply"])
    assert 2.0 < cloud.centroid[2] < 2.6  # the tank, about 2.3 m away
    assert 0.2 < cloud.extents[0] < 0.5 and cloud.extents[2] < 0.3  # no background behind it
    assert (cloud.colors[:, 0].astype(int) - cloud.colors[:, 2]).mean() > 40  # red
