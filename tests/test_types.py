"""Prompt and Masks: validation messages, array behaviour, interchange formats."""

from __future__ import annotations

import numpy as np
import pytest

from sam_compose import InputError, Masks, Prompt, PromptError
from sam_compose.types import as_prompt_list


def test_prompt_normalises_and_defaults_labels():
    p = Prompt(points=[[10, 20], [30, 40]], box=[1, 2, 50, 60])
    assert p.points.shape == (2, 2) and p.labels.tolist() == [1, 1]
    assert p.box.tolist() == [1, 2, 50, 60]
    assert Prompt(points=[5, 6]).points.shape == (1, 2)
    with pytest.raises(AttributeError):
        p.box = None  # immutable
    q = p.replace(labels=[1, 0])
    assert q.labels.tolist() == [1, 0] and p.labels.tolist() == [1, 1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "at least one"),
        ({"points": [[1, 2, 3]]}, r"shape \(K, 2\)"),
        ({"points": [[np.nan, 2]]}, "NaN"),
        ({"points": [[1, 2]], "labels": [1, 0]}, "1 points, 2 labels"),
        ({"points": [[1, 2]], "labels": [3]}, "foreground"),
        ({"labels": [1]}, "no points"),
        ({"box": [10, 10, 5, 20]}, "x1 > x0"),
        ({"box": [1, 2, 3]}, "4 numbers"),
        ({"box": [0, 0, np.inf, 4]}, "NaN or infinite"),
        ({"mask": np.zeros((100, 100))}, r"\(256, 256\).*mask_to_prompt"),
        ({"points": "abc"}, "numbers"),
    ],
)
def test_prompt_errors_name_the_problem(kwargs, message):
    with pytest.raises(PromptError, match=message):
        Prompt(**kwargs)


def test_prompt_validate_for_image():
    with pytest.raises(PromptError, match="outside the 100x50 image"):
        Prompt(points=[[150, 10]]).validate_for((50, 100))
    with pytest.raises(PromptError, match="outside"):
        Prompt(box=[200, 0, 300, 10]).validate_for((50, 100))
    with pytest.warns(UserWarning, match="clipped"):
        clipped = Prompt(box=[-10, 5, 120, 40]).validate_for((50, 100))
    assert clipped.box.tolist() == [0, 5, 100, 40]


def test_prompt_dict_round_trip():
    p = Prompt(points=[[1, 2]], labels=[0], box=[0, 0, 5, 5], mask=np.ones((256, 256)), data={"adapter": "x"})
    q = Prompt.from_dict(p.to_dict(include_mask=True))
    assert q == p
    with pytest.raises(PromptError, match="unknown prompt field"):
        Prompt.from_dict({"pts": [[1, 2]]})
    assert len(as_prompt_list([{"box": [0, 0, 3, 3]}, p])) == 2
    with pytest.raises(PromptError, match="no prompts"):
        as_prompt_list([])


def _three():
    m = np.zeros((3, 20, 30), bool)
    m[0, 2:5, 3:9] = True
    m[1, 10:20, 0:30] = True
    return Masks(m, scores=[0.5, 0.9, 0.7], prompt_index=[0, 0, 1], data={"prompts": ["a", "b"]})


def test_masks_derives_boxes_and_indexes_like_an_array():
    r = _three()
    assert r.boxes[0].tolist() == [3, 2, 9, 5]
    assert r.areas.tolist() == [18, 300, 0]
    assert len(r[1]) == 1 and r[1].scores[0] == pytest.approx(0.9)
    assert len(r[1:]) == 2
    assert r[np.array([True, False, True])].scores.tolist() == pytest.approx([0.5, 0.7])
    best = r.best()
    assert best.scores.tolist() == pytest.approx([0.9, 0.7]) and best.prompt_index.tolist() == [0, 1]
    assert r.prompt_of(2) == "b"
    with pytest.raises(IndexError):
        r[5]


def test_masks_concat_shifts_prompt_indices():
    a, b = _three(), _three()
    c = Masks.concat([a, b])
    assert len(c) == 6 and c.prompt_index.tolist() == [0, 0, 1, 2, 2, 3]
    assert c.prompt_of(5) == "b"
    with pytest.raises(ValueError, match="cannot concatenate"):
        Masks.concat([a, Masks.empty((5, 5))])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"masks": np.zeros((20, 30, 3, 2))}, r"\(N, H, W\)"),
        ({"masks": np.zeros((2, 4, 4)), "scores": [1.0]}, r"scores must have shape \(2,\)"),
        ({"masks": np.zeros((2, 4, 4)), "logits": np.zeros((2, 64, 64))}, "256, 256"),
        ({"masks": np.full((1, 4, 4), 0.3)}, "threshold"),
        ({"masks": np.zeros((1, 4, 4)), "boxes": [[1, 2]]}, "boxes must have shape"),
    ],
)
def test_masks_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Masks(**kwargs)


def test_rle_round_trip_with_pycocotools():
    from pycocotools import mask as mask_utils

    r = _three()
    rles = r.to_rle()
    assert all(isinstance(x["counts"], str) for x in rles)
    for i, x in enumerate(rles):
        dec = mask_utils.decode({"size": x["size"], "counts": x["counts"].encode()})
        assert (dec.astype(bool) == r.masks[i]).all()
        assert mask_utils.area({"size": x["size"], "counts": x["counts"].encode()}) == r.areas[i]
    back = Masks.from_rle(rles)
    assert (back.masks == r.masks).all()


def test_supervision_round_trip():
    import supervision as sv

    r = _three()
    det = r.to_supervision()
    assert isinstance(det, sv.Detections) and len(det) == 3
    assert np.allclose(det.xyxy, r.boxes)
    back = Masks.from_supervision(det)
    assert (back.masks == r.masks).all() and back.prompt_index.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="boxes_to_prompts"):
        Masks.from_supervision(sv.Detections(xyxy=np.zeros((1, 4), np.float32)))


def test_empty_masks_behave():
    e = Masks.empty((4, 5))
    assert len(e) == 0 and e.areas.shape == (0,) and e.summary() == [] and e.to_rle() == []
    assert e.union().shape == (4, 5) and not e.union().any()
    assert len(e.best()) == 0


def test_masks_rows_are_validated_and_travel_through_supervision():
    import supervision as sv

    m = np.zeros((3, 8, 8), bool)
    m[0, :2], m[1, 2:5], m[2, 6:] = True, True, True
    with pytest.raises(InputError, match=r"rows\['s'\] must have one entry per mask: first axis 3"):
        Masks(m, rows={"s": np.arange(2)})
    res = Masks(m, scores=[0.1, 0.9, 0.5], rows={"s": np.arange(3), "pts": np.arange(6).reshape(3, 2)})
    det = res.to_supervision()
    assert isinstance(det, sv.Detections)
    assert np.array_equal(det[1:].data["pts"], res[1:].rows["pts"])  # sliced with the rows by supervision too
    back = Masks.from_supervision(det[[2, 0]])
    assert np.array_equal(back.rows["s"], [2, 0]) and np.array_equal(back.masks, m[[2, 0]])
