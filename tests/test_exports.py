"""Every export is read back by the tool it is meant for: pycocotools, PIL, supervision,
our PLY/GLB readers (checked against the file-format specs' structure)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from sam_compose.adapters.outputs.exports import (
    class_names,
    coco_dataset,
    coco_dict,
    export_masks,
    load_detections,
    mask_to_polygons,
    read_record,
    to_detections,
)
from sam_compose.adapters.outputs.lifting import PointCloud
from sam_compose.adapters.outputs.pointcloud_io import read_glb, read_glb_points, read_ply, write_glb, write_ply
from sam_compose.errors import InputError
from sam_compose.masks import Masks
from sam_compose.types import Prompt


@pytest.fixture
def result(scene) -> Masks:
    """The scene's exact masks with prompts carrying class names, scores and logits."""
    n = len(scene.masks)
    prompts = [Prompt(box=scene.boxes[i], data={"class_name": scene.names[i]}) for i in range(n)]
    logits = np.random.default_rng(0).normal(size=(n, 256, 256)).astype(np.float32)
    return Masks(
        scene.masks,
        scores=np.linspace(0.9, 0.7, n),
        logits=logits,
        prompt_index=np.arange(n),
        data={"engine": "opencv", "adapter": "test", "prompts": prompts},
    )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_coco_loads_in_pycocotools_and_cocoeval_scores_perfect_match(result, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    path = export_masks(result, tmp_path / "gt.json", format="coco", file_name="scene.png")
    gt = COCO(str(path))
    assert sorted(c["name"] for c in gt.loadCats(gt.getCatIds())) == sorted(set(class_names(result)))
    for ann in gt.loadAnns(gt.getAnnIds()):
        i = ann["id"] - 1
        assert np.array_equal(gt.annToMask(ann).astype(bool), result.masks[i])
        assert gt.loadCats(ann["category_id"])[0]["name"] == result.prompt_of(i).data["class_name"]
    dets = json.loads(path.read_text())["annotations"]
    dt = gt.loadRes(dets)
    ev = COCOeval(gt, dt, iouType="segm")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # identical masks: AP 1.0

    # A shifted prediction scores lower: COCOeval really compares masks.
    shifted = Masks(
        np.roll(result.masks, 25, axis=2), scores=result.scores, prompt_index=result.prompt_index, data=result.data
    )
    d2 = coco_dict(shifted, "scene.png")
    ev2 = COCOeval(gt, gt.loadRes(d2["annotations"]), iouType="segm")
    ev2.evaluate()
    ev2.accumulate()
    ev2.summarize()
    assert ev2.stats[0] < 0.9


def test_coco_polygons_and_categories_and_dataset(result, tmp_path):
    from pycocotools.coco import COCO

    cats = ["unused", *sorted(set(class_names(result)))]
    doc = coco_dict(result, "scene.png", segmentation="polygon", categories=cats)
    assert [c["name"] for c in doc["categories"]] == cats
    path = tmp_path / "poly.json"
    path.write_text(json.dumps(doc))
    coco = COCO(str(path))
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert _iou(coco.annToMask(ann).astype(bool), result.masks[ann["id"] - 1]) > 0.95
    with pytest.raises(InputError, match="missing from categories"):
        coco_dict(result, categories=["only_this"])
    ds = coco_dataset([(result, "a.png"), (result[:1], "b.png")])
    p2 = tmp_path / "ds.json"
    p2.write_text(json.dumps(ds))
    c2 = COCO(str(p2))
    assert len(c2.getImgIds()) == 2 and len(c2.getAnnIds()) == len(result) + 1
    assert len(c2.getAnnIds(imgIds=[2])) == 1


def test_coco_signature_compatible_with_cli(result, tmp_path):
    d = coco_dict(result, "x.png", 7, "thing")  # positional use as in commands/segment.py
    assert d["images"][0]["id"] == 7
    plain = Masks(result.masks)  # no prompts: default category
    assert coco_dict(plain, category="thing")["categories"][0]["name"] == "thing"


def test_png_masks_read_back_equal(result, tmp_path):
    out = export_masks(result, tmp_path / "pngs", format="png", label_map=True)
    for i in range(len(result)):
        back = np.asarray(Image.open(out / f"mask_{i}.png"))
        assert back.dtype == np.uint8 and set(np.unique(back)) <= {0, 255}
        assert np.array_equal(back > 0, result.masks[i])
    labels = np.asarray(Image.open(out / "labels.png"))
    for i in range(len(result)):
        assert np.all(labels[result.masks[i] & ~result.masks[i + 1 :].any(axis=0)] == i + 1)
    with pytest.raises(InputError, match="folder"):
        export_masks(result, tmp_path / "x.png", format="png")


def test_polygons_file_rasterises_back(result, tmp_path):
    from pycocotools import mask as mask_utils

    path = export_masks(result, tmp_path / "poly.json", format="polygons")
    doc = json.loads(path.read_text())
    h, w = result.image_size
    for i, row in enumerate(doc["masks"]):
        rle = mask_utils.merge(mask_utils.frPyObjects(row["polygons"], h, w))
        assert _iou(mask_utils.decode(rle).astype(bool), result.masks[i]) > 0.95
    # tiny masks survive as their pixel box
    tiny = np.zeros((20, 20), bool)
    tiny[5, 5] = True
    assert mask_to_polygons(tiny) == [[5.0, 5.0, 6.0, 5.0, 6.0, 6.0, 5.0, 6.0]]


def test_supervision_round_trip(result, tmp_path):
    det = to_detections(result)
    assert list(det.data["class_name"]) == class_names(result)
    path = export_masks(result, tmp_path / "det.npz", format="supervision")
    back = load_detections(path)
    assert np.array_equal(back.mask, result.masks)
    assert np.allclose(back.xyxy, result.boxes) and np.allclose(back.confidence, result.scores)
    assert np.array_equal(back.class_id, det.class_id)
    assert list(back.data["class_name"]) == class_names(result)
    again = Masks.from_supervision(back)
    assert np.array_equal(again.masks, result.masks) and np.array_equal(again.prompt_index, result.prompt_index)
    with pytest.raises(InputError, match="npz"):
        export_masks(result, tmp_path / "det.json", format="supervision")


def test_record_keeps_prompts_and_provenance(result, tmp_path):
    path = export_masks(result, tmp_path / "rec.json", format="record", file_name="scene.png", include_logits=True)
    masks, rec = read_record(path)
    assert rec["engine"] == "opencv" and rec["adapter"] == "test" and rec["image"]["file_name"] == "scene.png"
    assert np.array_equal(masks.masks, result.masks)
    assert np.allclose(masks.scores, result.scores, atol=1e-4)
    assert masks.prompts == result.prompts
    assert np.allclose(masks.logits, result.logits, atol=1e-4)


def test_export_errors(result, tmp_path):
    with pytest.raises(InputError, match="unknown export format"):
        export_masks(result, tmp_path / "a", format="tiff")
    with pytest.raises(InputError, match="Masks"):
        export_masks(np.zeros((3, 4, 4)), tmp_path / "a.json")
    with pytest.raises(InputError, match="unknown option"):
        export_masks(result, tmp_path / "a.json", format="coco", colour="red")
    empty = Masks.empty((32, 48))
    doc = json.loads(export_masks(empty, tmp_path / "e.json").read_text())
    assert doc["annotations"] == [] and doc["images"][0]["height"] == 32


# --- point clouds ----------------------------------------------------------------------


@pytest.fixture
def cloud() -> PointCloud:
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(500, 3)).astype(np.float32) + [0, 0, 2]
    cols = rng.integers(0, 256, size=(500, 3)).astype(np.uint8)
    return PointCloud(pts, cols, labels=rng.integers(0, 3, 500))


@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip(cloud, tmp_path, binary):
    path = cloud.save(tmp_path / "c.ply", binary=binary)
    head = path.read_bytes()[:200]
    assert head.startswith(b"ply\n") and (b"binary_little_endian" in head) == binary
    d = read_ply(path)
    assert np.allclose(d["points"], cloud.points, atol=0 if binary else 1e-6)
    assert np.array_equal(d["colors"], cloud.colors) and np.array_equal(d["label"], cloud.labels)
    back = PointCloud.load(path)
    assert len(back) == len(cloud) and np.array_equal(back.labels, cloud.labels)


def test_ply_big_endian_and_no_colour(tmp_path):
    pts = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = tmp_path / "be.ply"
    header = b"ply\nformat binary_big_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    path.write_bytes(header + pts.astype(">f4").tobytes())
    d = read_ply(path)
    assert np.array_equal(d["points"], pts) and "colors" not in d
    write_ply(tmp_path / "a.ply", pts, binary=False)
    assert np.allclose(read_ply(tmp_path / "a.ply")["points"], pts)
    with pytest.raises(InputError, match="NaN"):
        write_ply(tmp_path / "n.ply", np.full((2, 3), np.nan))


def test_glb_structure_and_round_trip(cloud, tmp_path):
    path = cloud.save(tmp_path / "c.glb")
    raw = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", raw, 0)
    assert (magic, version, length) == (0x46546C67, 2, len(raw)) and raw[:4] == b"glTF"
    json_len, json_type = struct.unpack_from("<II", raw, 12)
    assert json_type == 0x4E4F534A and json_len % 4 == 0
    doc, binary = read_glb(path)
    assert doc["asset"]["version"] == "2.0"
    prim = doc["meshes"][0]["primitives"][0]
    assert prim["mode"] == 0 and set(prim["attributes"]) == {"POSITION", "COLOR_0"}
    pos_acc = doc["accessors"][prim["attributes"]["POSITION"]]
    assert pos_acc["componentType"] == 5126 and pos_acc["type"] == "VEC3" and pos_acc["count"] == len(cloud)
    assert len(binary) >= doc["buffers"][0]["byteLength"] and len(binary) % 4 == 0
    for view in doc["bufferViews"]:
        assert view["byteOffset"] % 4 == 0
    # min/max are required for POSITION and must bound the data (glTF axes: y, z flipped)
    flipped = cloud.points * np.array([1, -1, -1], np.float32)
    assert np.allclose(pos_acc["min"], flipped.min(axis=0)) and np.allclose(pos_acc["max"], flipped.max(axis=0))
    pts, cols = read_glb_points(path)
    assert np.array_equal(pts, cloud.points) and np.array_equal(cols, cloud.colors)
    with pytest.raises(InputError, match="empty"):
        write_glb(tmp_path / "e.glb", np.zeros((0, 3), np.float32))
    with pytest.raises(InputError, match="not a GLB"):
        bad = tmp_path / "bad.glb"
        bad.write_bytes(b"x" * 40)
        read_glb(bad)


def test_glb_splats_are_a_valid_triangle_mesh(cloud, tmp_path):
    path = cloud.save(tmp_path / "s.glb", splat=0.01)
    doc, binary = read_glb(path)
    prim = doc["meshes"][0]["primitives"][0]
    assert prim["mode"] == 4
    idx_acc = doc["accessors"][prim["indices"]]
    assert idx_acc["componentType"] == 5125 and idx_acc["count"] == 24 * len(cloud)
    view = doc["bufferViews"][idx_acc["bufferView"]]
    idx = np.frombuffer(binary, "<u4", count=idx_acc["count"], offset=view["byteOffset"]).reshape(-1, 3)
    pos = np.frombuffer(binary, "<f4", count=18 * len(cloud), offset=0).reshape(-1, 3).astype(np.float64)
    assert idx.max() == 6 * len(cloud) - 1
    # every triangle faces away from its point: outward normals (consistent winding)
    a, b, c = pos[idx[:, 0]], pos[idx[:, 1]], pos[idx[:, 2]]
    centre = pos.reshape(-1, 6, 3).mean(axis=1)[idx[:, 0] // 6]
    assert np.all(np.einsum("ij,ij->i", np.cross(b - a, c - a), (a + b + c) / 3 - centre) > 0)
    pts, cols = read_glb_points(path)
    assert np.allclose(pts, cloud.points, atol=1e-5) and np.array_equal(cols, cloud.colors)
    with pytest.raises(InputError, match="splat"):
        cloud.save(tmp_path / "bad.glb", splat=-1.0)


def test_pointcloud_save_rejects_unknown_suffix(cloud, tmp_path):
    with pytest.raises(InputError, match=".ply or .glb"):
        cloud.save(tmp_path / "c.xyz")


def test_cv2_contours_match_mask_area(result):
    # polygon area (shoelace) close to the pixel count: coordinates are on pixel edges
    for i in range(len(result)):
        polys = mask_to_polygons(result.masks[i])
        area = sum(abs(cv2.contourArea(np.asarray(p, np.float32).reshape(-1, 2))) for p in polys)
        assert area == pytest.approx(result.areas[i], rel=0.05)


def test_export_node_writes_every_format(result, tmp_path):
    from sam_compose.nodes import registry

    spec = registry.get("export")
    assert spec.origin.startswith("sam_compose.nodes.outputs")
    for fmt, name in (
        ("coco", "a.json"),
        ("png", "pngs"),
        ("polygons", "p.json"),
        ("supervision", "d.npz"),
        ("record", "r.json"),
    ):
        out = spec.instantiate(spec.check_params({"path": str(tmp_path / name), "format": fmt}))(masks=result)
        assert (tmp_path / name).exists() and out == str(tmp_path / name)
    opts = spec.check_params({"path": str(tmp_path / "poly_coco.json"), "options": {"segmentation": "polygon"}})
    doc = json.loads(Path(spec.instantiate(opts)(masks=result)).read_text())
    assert isinstance(doc["annotations"][0]["segmentation"], list)


def test_empty_result_exports(tmp_path):
    empty = Masks.empty((32, 48))
    for fmt, name in (("polygons", "p.json"), ("record", "r.json"), ("png", "pngs")):
        export_masks(empty, tmp_path / name, format=fmt)
    masks, _ = read_record(tmp_path / "r.json")
    assert len(masks) == 0 and masks.image_size == (32, 48)
    assert json.loads((tmp_path / "p.json").read_text())["masks"] == []
