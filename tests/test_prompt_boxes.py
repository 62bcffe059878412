"""boxes_to_prompts: every box format gives exactly the boxes it encodes."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from sam_compose.adapters.prompts import boxes_to_prompts
from sam_compose.adapters.prompts.boxes import convert_boxes
from sam_compose.errors import PromptError
from sam_compose.geometry import mask_iou

SIZE = (480, 640)  # H, W
XYXY = np.array([[10.0, 20.0, 110.0, 220.0], [300.5, 40.0, 400.0, 90.25], [0.0, 0.0, 640.0, 480.0]])


def boxes_of(prompts):
    return np.array([p.box for p in prompts], dtype=np.float64)


def as_xywh(b):
    return np.c_[b[:, :2], b[:, 2:] - b[:, :2]]


def as_cxcywh(b):
    return np.c_[(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]]


@pytest.mark.parametrize("fmt,conv", [("xyxy", lambda b: b), ("xywh", as_xywh), ("cxcywh", as_cxcywh)])
def test_array_formats_pixels_and_normalised(fmt, conv):
    got = boxes_to_prompts(conv(XYXY), format=fmt, image_size=SIZE)
    np.testing.assert_allclose(boxes_of(got), XYXY, atol=1e-3)
    scale = np.array([SIZE[1], SIZE[0], SIZE[1], SIZE[0]])
    got_n = boxes_to_prompts(conv(XYXY / scale), format=fmt, normalized=True, image_size=SIZE)
    np.testing.assert_allclose(boxes_of(got_n), XYXY, atol=1e-3)
    assert [p.data["index"] for p in got] == [0, 1, 2]
    # torch tensors and single boxes work too
    got_t = boxes_to_prompts(torch.tensor(conv(XYXY)[1]), format=fmt, image_size=SIZE)
    np.testing.assert_allclose(got_t[0].box, XYXY[1], atol=1e-3)


def test_convert_boxes_round_trip():
    np.testing.assert_allclose(convert_boxes(as_cxcywh(XYXY), "cxcywh"), XYXY)
    np.testing.assert_allclose(convert_boxes(as_xywh(XYXY), "xywh"), XYXY)


def test_normalised_boxes_passed_as_pixels_are_detected_and_warned():
    scale = np.array([SIZE[1], SIZE[0], SIZE[1], SIZE[0]])
    with pytest.warns(UserWarning, match="look normalised"):
        got = boxes_to_prompts(XYXY[:2] / scale, image_size=SIZE)
    np.testing.assert_allclose(boxes_of(got), XYXY[:2], atol=1e-3)
    with pytest.warns(UserWarning, match="look normalised"):
        tiny = boxes_to_prompts(XYXY[:2] / scale, image_size=SIZE, normalized=False)
    assert boxes_of(tiny).max() <= 1.0
    with pytest.raises(PromptError, match="image_size"):
        boxes_to_prompts(XYXY[:2] / scale)


def test_boxes_outside_are_clipped_with_warning_and_bad_boxes_raise():
    with pytest.warns(UserWarning, match="clipped"):
        got = boxes_to_prompts([[-20, -5, 100, 50], [600, 400, 700, 500]], image_size=SIZE)
    np.testing.assert_allclose(boxes_of(got), [[0, 0, 100, 50], [600, 400, 640, 480]])
    with pytest.raises(PromptError, match="entirely outside"):
        boxes_to_prompts([[700, 10, 800, 50]], image_size=SIZE)
    with pytest.raises(PromptError, match=r"box 1 .*zero-area"):
        boxes_to_prompts([[1, 1, 50, 50], [10, 10, 10, 40]], image_size=SIZE)
    with pytest.raises(PromptError, match=r"inverted.*format='xywh'"):
        boxes_to_prompts([[100, 100, 50, 40]], image_size=SIZE)
    with pytest.raises(PromptError, match="zero-area"):
        boxes_to_prompts([[100, 100, 0, 40]], format="xywh", image_size=SIZE)
    with pytest.raises(PromptError, match="shape"):
        boxes_to_prompts([[1, 2, 3]])
    with pytest.raises(PromptError, match="NaN"):
        boxes_to_prompts([[1, 2, np.nan, 5]])
    with pytest.raises(PromptError, match="unknown box format"):
        boxes_to_prompts(XYXY, format="yxyx")


COCO = {
    "images": [
        {"id": 7, "file_name": "a/photo.jpg", "height": 480, "width": 640},
        {"id": 8, "file_name": "b.jpg", "height": 100, "width": 100},
    ],
    "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
    "annotations": [
        {"id": 11, "image_id": 7, "category_id": 1, "bbox": [10, 20, 100, 200], "iscrowd": 0},
        {"id": 12, "image_id": 7, "category_id": 3, "bbox": [300.5, 40, 99.5, 50.25], "iscrowd": 0},
        {"id": 13, "image_id": 8, "category_id": 3, "bbox": [1, 1, 5, 5]},
    ],
}


def test_coco_dataset_file_and_list(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(COCO))
    got = boxes_to_prompts(path, image_id=7)
    np.testing.assert_allclose(boxes_of(got), XYXY[:2])
    assert [p.data["class_name"] for p in got] == ["cat", "dog"]
    assert [p.data["annotation_id"] for p in got] == [11, 12]
    by_name = boxes_to_prompts(str(path), image_id="photo.jpg")
    np.testing.assert_allclose(boxes_of(by_name), XYXY[:2])
    dogs = boxes_to_prompts(COCO, image_id=7, classes=["dog"])
    assert len(dogs) == 1 and dogs[0].data["class_id"] == 3
    with pytest.raises(PromptError, match="annotates 2 images.*image_id"):
        boxes_to_prompts(path)
    # a bare annotation list / the COCO results format with scores
    results = [
        {"image_id": 7, "category_id": 1, "bbox": [10, 20, 100, 200], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [300.5, 40, 99.5, 50.25], "score": 0.2},
    ]
    got = boxes_to_prompts(results, min_score=0.5, class_names={1: "cat"})
    assert len(got) == 1 and got[0].data == {
        "adapter": "boxes",
        "format": "coco",
        "index": 0,
        "score": 0.9,
        "class_id": 1,
        "class_name": "cat",
        "image_id": 7,
    }


def test_coco_file_with_no_annotations_is_an_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"images": [{"id": 1}], "annotations": [], "categories": []}))
    with pytest.raises(PromptError, match="no annotations"):
        boxes_to_prompts(path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PromptError, match="not valid JSON"):
        boxes_to_prompts(bad)


def test_yolo_file(tmp_path):
    scale = np.array([SIZE[1], SIZE[0], SIZE[1], SIZE[0]])
    cxcywh = as_cxcywh(XYXY / scale)
    path = tmp_path / "labels.txt"
    path.write_text(
        "\n".join(f"{c} {a:.9f} {b:.9f} {w:.9f} {h:.9f}" for c, (a, b, w, h) in zip([0, 2, 1], cxcywh)) + "\n\n"
    )
    got = boxes_to_prompts(path, image_size=SIZE, class_names=["cat", "dog", "bird"])
    np.testing.assert_allclose(boxes_of(got), XYXY, atol=1e-4)
    assert [p.data["class_name"] for p in got] == ["cat", "bird", "dog"]
    # names from a YOLO data.yaml, class filter by id
    yaml_path = tmp_path / "data.yaml"
    yaml_path.write_text("names:\n  0: cat\n  1: dog\n  2: bird\n")
    birds = boxes_to_prompts(path, image_size=SIZE, class_names=yaml_path, classes=[2])
    assert len(birds) == 1 and birds[0].data["class_name"] == "bird"
    with pytest.raises(PromptError, match="image_size"):
        boxes_to_prompts(path)


def test_yolo_malformed_line_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("0 0.5 0.5 0.2 0.2\n# comment\n1 0.5 0.5 0.2\n")
    with pytest.raises(PromptError, match=r"line 3: expected 'class cx cy w h"):
        boxes_to_prompts(path, image_size=SIZE)
    path.write_text("0 0.5 0.5 0.2 0.2\n1 320 240 50 60\n")
    with pytest.raises(PromptError, match="line 2: YOLO coordinates must be normalised"):
        boxes_to_prompts(path, image_size=SIZE)


def test_pascal_voc_xml(tmp_path):
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, d, b in zip(["cat", "dog", "person"], [0, 1, 0], XYXY)
    )
    path = tmp_path / "000001.xml"
    path.write_text(
        f"<annotation><filename>x.jpg</filename><size><width>640</width><height>480</height>"
        f"<depth>3</depth></size>{objs}</annotation>"
    )
    got = boxes_to_prompts(path)
    np.testing.assert_allclose(boxes_of(got), XYXY)
    assert [p.data["class_name"] for p in got] == ["cat", "dog", "person"]
    assert [p.data["difficult"] for p in got] == [0, 1, 0]
    path.write_text("<annotation><object><name>cat</name></object></annotation>")
    with pytest.raises(PromptError, match="object> 0 has no valid <bndbox>"):
        boxes_to_prompts(path)
    path.write_text(
        "<annotation><object><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>9</xmax></bndbox></object></annotation>"
    )
    with pytest.raises(PromptError, match="object> 0 has no valid <bndbox>"):
        boxes_to_prompts(path)
    path.write_text(
        "<annotation><object><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>wide</xmax><ymax>9</ymax>"
        "</bndbox></object></annotation>"
    )
    with pytest.raises(PromptError, match="object> 0 has no valid <bndbox>"):
        boxes_to_prompts(path)


def test_pascal_voc_size_that_is_not_a_number_is_ignored(tmp_path):
    path = tmp_path / "000002.xml"
    box = "<bndbox><xmin>10</xmin><ymin>20</ymin><xmax>700</xmax><ymax>60</ymax></bndbox>"
    path.write_text(f"<annotation><size><width>?</width><height>480</height></size><object>{box}</object></annotation>")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no size: nothing to clip against, so no warning
        got = boxes_to_prompts(path)
    np.testing.assert_allclose(boxes_of(got), [[10, 20, 700, 60]])
    path.write_text(
        f"<annotation><size><width>640</width><height>480</height></size><object>{box}</object></annotation>"
    )
    with pytest.warns(UserWarning, match="extend past the 640x480 image"):
        got = boxes_to_prompts(path)
    np.testing.assert_allclose(boxes_of(got), [[10, 20, 640, 60]])


def test_supervision_detections():
    import supervision as sv

    det = sv.Detections(
        xyxy=XYXY.astype(np.float32),
        confidence=np.array([0.9, 0.3, 0.8], np.float32),
        class_id=np.array([0, 1, 0]),
        data={"class_name": np.array(["cat", "dog", "cat"])},
    )
    got = boxes_to_prompts(det, min_score=0.5)
    np.testing.assert_allclose(boxes_of(got), XYXY[[0, 2]], atol=1e-3)
    assert [p.data["class_name"] for p in got] == ["cat", "cat"]
    assert got[0].data["score"] == pytest.approx(0.9)


def test_transformers_post_process_output():
    """A real transformers detector's post-processing (tiny random DETR-style model is not needed:
    the image processor's post_process_object_detection only needs logits and boxes)."""
    from transformers import DetrImageProcessor
    from transformers.models.detr.modeling_detr import DetrObjectDetectionOutput

    proc = DetrImageProcessor()
    h, w = SIZE
    cxcywh = torch.tensor(as_cxcywh(XYXY / np.array([w, h, w, h])), dtype=torch.float32)[None]
    logits = torch.full((1, 3, 4), -10.0)
    logits[0, 0, 1] = logits[0, 1, 2] = logits[0, 2, 1] = 10.0  # classes 1, 2, 1; last column = no-object
    logits[0, 2, 1], logits[0, 2, 3] = 0.0, 10.0  # a low-confidence box (no-object wins)
    out = DetrObjectDetectionOutput(logits=logits, pred_boxes=cxcywh)
    results = proc.post_process_object_detection(out, threshold=0.0, target_sizes=[SIZE])
    got = boxes_to_prompts(results, min_score=0.9, class_names={1: "cat", 2: "dog"})
    assert [p.data["class_name"] for p in got] == ["cat", "dog"]
    np.testing.assert_allclose(boxes_of(got), XYXY[:2], atol=1e-2)


def test_torchvision_detection_output():
    from torchvision.ops import box_convert

    boxes = box_convert(torch.tensor(as_xywh(XYXY)), "xywh", "xyxy")  # torchvision's own conversion
    out = [{"boxes": boxes, "labels": torch.tensor([1, 18, 1]), "scores": torch.tensor([0.95, 0.5, 0.7])}]
    got = boxes_to_prompts(out, classes=[1], class_names={1: "person", 18: "dog"}, image_size=SIZE)
    np.testing.assert_allclose(boxes_of(got), XYXY[[0, 2]], atol=1e-4)
    assert all(p.data["class_name"] == "person" for p in got)
    with pytest.raises(PromptError, match=r"results\[0\]"):
        boxes_to_prompts(out * 2)


def test_grounded_string_labels_and_empty_filter():
    out = {"boxes": torch.tensor(XYXY[:2]), "scores": torch.tensor([0.4, 0.6]), "labels": ["a cat", "a dog"]}
    got = boxes_to_prompts(out, classes=["A Dog"])
    assert len(got) == 1 and got[0].data["class_name"] == "a dog"
    with pytest.warns(UserWarning, match="no box passed the filters"):
        assert boxes_to_prompts(out, min_score=0.99) == []
    with pytest.raises(PromptError, match="no scores"):
        boxes_to_prompts(XYXY, min_score=0.5)


def test_box_prompts_segment_in_one_engine_call(scene, opencv_engine):
    prompts = boxes_to_prompts(scene.boxes, image_size=scene.image.shape[:2])
    before = opencv_engine.stats.segment_calls
    res = opencv_engine.segment(scene.image, prompts)
    assert opencv_engine.stats.segment_calls == before + 1
    for i in range(len(scene.masks)):
        assert mask_iou(res.masks[i], scene.masks[i]) >= 0.9


def test_unknown_sources_give_clear_errors(tmp_path):
    with pytest.raises(PromptError, match="not found"):
        boxes_to_prompts(tmp_path / "nope.json")
    other = tmp_path / "boxes.csv"
    other.write_text("1,2,3,4")
    with pytest.raises(PromptError, match="unknown box file type"):
        boxes_to_prompts(other)
    with pytest.raises(PromptError, match="cannot read boxes from a dict"):
        boxes_to_prompts({"foo": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert boxes_to_prompts(np.zeros((0, 4))) == []


def test_box_prompt_node_reads_files_and_lists(tmp_path, scene):
    import sam_compose as sc
    from sam_compose.nodes import registry

    assert registry.get("box_prompt").func.__module__ == "sam_compose.nodes.prompts"  # replaces the core fallback
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(COCO))
    g = sc.Graph()
    img = g.add("load_image", path="sample:coffee")  # 400 x 600
    from_file = g.add("box_prompt", image=img, path=str(path), image_id=7, classes=["dog"])
    from_list = g.add("box_prompt", image=img, boxes=[[0.1, 0.1, 0.5, 0.5]], normalized=True)
    rep = g.run()
    (p,) = rep.value(from_file)
    np.testing.assert_allclose(p.box, XYXY[1])
    assert p.data["class_name"] == "dog"
    np.testing.assert_allclose(rep.value(from_list)[0].box, [60, 40, 300, 200])
    bad = sc.Graph()
    node = bad.add("box_prompt", image=bad.add("load_image", path="sample:coffee"), boxes=[[5, 5, 5, 50]])
    report = bad.run()
    assert not report.ok and "zero-area" in report["nodes"][str(node)]["error"]
