"""The node API (@node, Param, ports, registry) and the core nodes."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import pytest

from sam_compose.geometry import mask_iou
from sam_compose.masks import Masks as MasksClass
from sam_compose.nodes import api, registry
from sam_compose.nodes.api import GraphError, Param, node, output_path, run_context
from sam_compose.nodes.ports import FilePath, Image, Masks, connection, port_of
from sam_compose.types import Prompt


@pytest.fixture
def scratch_types():
    """Unregister node types a test defines."""
    names: list[str] = []
    yield names
    for n in names:
        registry.unregister(n)


# ---------------------------------------------------------------- the decorator
def test_node_reads_ports_params_and_outputs_from_hints(scratch_types):
    @node("t_inpaint", category="outputs", description="test")
    def f(
        image: Image,
        masks: Masks | None = None,
        *,
        method: str = Param("telea", choices=("telea", "ns"), description="OpenCV method"),
        radius: int = Param(5, ge=1, le=100),
        flag: bool = False,
    ) -> Image:
        return image

    scratch_types.append("t_inpaint")
    spec = registry.get("t_inpaint")
    assert spec is f.__node_spec__
    assert list(spec.inputs) == ["image", "masks"]
    assert spec.inputs["image"].required and not spec.inputs["masks"].required
    assert spec.inputs["masks"].type.name == "Masks"
    assert {n: t.name for n, t in spec.outputs.items()} == {"image": "Image"}
    assert spec.check_params({}, "n") == {"method": "telea", "radius": 5, "flag": False}
    d = spec.describe()
    assert d["params"]["radius"] == {"type": "int", "description": "", "default": 5, "ge": 1, "le": 100}
    assert d["params"]["method"]["choices"] == ["telea", "ns"]
    # the function stays ordinary Python
    img = np.zeros((4, 4, 3), np.uint8)
    assert f(img, radius=3) is img


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"radius": 0}, ">= 1"),
        ({"radius": 101}, "<= 100"),
        ({"radius": "5"}, "expected an integer"),
        ({"radius": True}, "expected an integer"),
        ({"method": "fast"}, "not one of ['telea', 'ns']"),
        ({"mode": "a"}, "unknown param 'mode'"),
        ({"sizes": [1, "x"]}, "list[int]"),
        ({"kind": "c"}, "one of ['a', 'b']"),
    ],
)
def test_param_errors_name_node_and_param(scratch_types, params, fragment):
    @node("t_params")
    def f(
        *,
        radius: int = Param(5, ge=1, le=100),
        method: str = Param("telea", choices=("telea", "ns")),
        sizes: list[int] = Param([1]),
        kind: Literal["a", "b"] = "a",
    ) -> Image:
        raise AssertionError

    scratch_types.append("t_params")
    with pytest.raises(GraphError) as err:
        registry.get("t_params").check_params(params, "mynode")
    assert "'mynode'" in str(err.value) and fragment in str(err.value)
    assert err.value.node == "mynode"


def test_required_param_and_number_normalisation(scratch_types):
    @node("t_req")
    def f(*, path: str = Param(description="where"), scale: float = 1.0, count: int = 2) -> FilePath:
        return path

    scratch_types.append("t_req")
    spec = registry.get("t_req")
    with pytest.raises(GraphError, match="required param 'path'"):
        spec.check_params({}, "n")
    assert spec.check_params({"path": "a", "scale": 2, "count": 3.0}, "n") == {"path": "a", "scale": 2.0, "count": 3}
    assert spec.outputs["path"].name == "FilePath"


def test_multiple_outputs_and_stateful_classes(scratch_types):
    from sam_compose.nodes.ports import Depth

    @node("t_multi", outputs={"image": Image, "depth": Depth})
    def f(image: Image):
        return {"image": image, "depth": image[..., 0].astype(float)}

    @node("t_state", stateful=True)
    class Counter:
        def __init__(self, *, start: int = Param(0, ge=0)):
            self.n = start

        def __call__(self, image: Image) -> Masks:
            raise AssertionError

    scratch_types.extend(["t_multi", "t_state"])
    multi, state = registry.get("t_multi"), registry.get("t_state")
    assert multi.multi_output and list(multi.outputs) == ["image", "depth"]
    with pytest.raises(GraphError, match="must return a dict with keys"):
        multi.split_outputs(np.zeros((2, 2, 3), np.uint8), "m")
    assert state.stateful and not state.cacheable
    assert list(state.inputs) == ["image"] and list(state.params) == ["start"]
    inst = state.instantiate({"start": 4})
    assert isinstance(inst, Counter) and inst.n == 4


def test_bad_node_definitions_fail_at_decoration():
    with pytest.raises(ValueError, match="identifier"):
        node("not a name")
    with pytest.raises(TypeError, match="may only default to None"):

        @node("t_bad_default")
        def f(image: Image = 3) -> Image:  # type: ignore[assignment]
            return image

    with pytest.raises(GraphError, match="default of param"):

        @node("t_bad_param_default")
        def g(*, radius: int = Param(0, ge=1)) -> Image:
            raise AssertionError


def test_port_compatibility_rules():
    def t(name):
        return port_of(getattr(__import__("sam_compose.nodes.ports", fromlist=[name]), name))[0]

    assert connection(t("Masks"), t("Image")) is None
    assert connection(t("Image"), t("Masks")) is None
    assert connection(t("Image"), t("Image")) == "direct"
    assert connection(t("Video"), t("Image")) == "per_frame"
    assert connection(t("Image"), t("Video")) is None
    assert connection(t("Masks"), t("Any")) == "direct"
    assert connection(t("FilePath"), t("Text")) == "direct"
    assert connection(t("Number"), t("JSON")) == "direct"
    assert port_of(Masks | None) == (t("Masks"), True)
    assert port_of(np.ndarray)[0].name == "Image"
    # run-time checks
    assert t("Prompts").check(Prompt(box=[0, 0, 2, 2])) == [Prompt(box=[0, 0, 2, 2])]
    with pytest.raises(TypeError, match="uint8 RGB"):
        t("Image").check(np.zeros((4, 4), np.float32))


# ---------------------------------------------------------------- registry
def test_discovery_finds_core_nodes_and_priority_decides_clashes(scratch_types):
    names = set(registry.available())
    assert {"load_image", "load_video", "point_prompt", "box_prompt", "segment", "generate", "save_image"} <= names

    @node("t_clash", priority=-10)
    def low() -> Image:
        raise AssertionError

    @node("t_clash")
    def high() -> Image:
        raise AssertionError

    scratch_types.append("t_clash")
    assert registry.get("t_clash").func is high

    @node("t_clash", priority=-10)
    def lower_again() -> Image:
        raise AssertionError

    assert registry.get("t_clash").func is high  # a fallback never replaces a real node

    def other() -> Image:
        raise AssertionError

    other.__qualname__ = "other_same_priority"
    with pytest.warns(UserWarning, match="defined twice"):
        node("t_clash")(other)
    assert registry.get("t_clash").func is high


def test_unknown_type_lists_known_types():
    with pytest.raises(GraphError, match="unknown node type 'segmnt'.*segment"):
        registry.get("segmnt")


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch):
    pkg = tmp_path / "graph_plugin_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        from sam_compose.nodes.api import node
        from sam_compose.nodes.ports import Image

        @node("plugin_invert", category="plugins")
        def invert(image: Image) -> Image:
            return 255 - image
    """)
    )
    dist = tmp_path / "graph_plugin_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: graph-plugin-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sam_compose.nodes]\ninvert = graph_plugin_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry.discover(force=True)
        spec = registry.get("plugin_invert")
        assert spec.category == "plugins"
        img = np.full((2, 2, 3), 10, np.uint8)
        assert (spec.instantiate({})(image=img) == 245).all()
    finally:
        registry.unregister("plugin_invert")
        sys.modules.pop("graph_plugin_pkg", None)


def test_catalog_is_json():
    cat = registry.catalog()
    assert json.loads(json.dumps(cat)) == cat
    seg = next(c for c in cat if c["type"] == "segment")
    assert seg["inputs"] == {
        "image": {"type": "Image", "required": True},
        "prompts": {"type": "Prompts", "required": True},
    }
    assert seg["params"]["engine"]["default"] == "opencv"


# ---------------------------------------------------------------- core nodes
def _call(name, **kwargs):
    spec = registry.get(name)
    inputs = {k: v for k, v in kwargs.items() if k in spec.inputs}
    params = spec.check_params({k: v for k, v in kwargs.items() if k not in spec.inputs}, name)
    return spec.instantiate(params)(**inputs)


def test_box_and_point_prompts_segment_the_scene(scene, opencv_engine):
    img = scene.image
    boxes = [[float(v) for v in b] for b in scene.boxes]
    prompts = _call("box_prompt", image=img, boxes=boxes)
    assert [p.box.tolist() for p in prompts] == boxes
    res = _call("segment", image=img, prompts=prompts, engine="opencv")
    assert isinstance(res, MasksClass) and len(res) == len(boxes)
    for i in range(len(boxes)):
        assert mask_iou(res.masks[i], scene.masks[i]) >= 0.9
    pts = [list(scene.interior_point(i)) for i in range(len(boxes))]
    sep = _call("point_prompt", image=img, points=pts, separate=True)
    assert len(sep) == len(pts) and all(p.labels.tolist() == [1] for p in sep)
    res = _call("segment", image=img, prompts=sep[:1], multimask=True, best=True)
    assert len(res) == 1 and mask_iou(res.masks[0], scene.masks[0]) >= 0.8


def test_prompt_node_errors(scene):
    with pytest.raises(ValueError, match="2 labels for 1 points"):
        _call("point_prompt", points=[[1, 2]], labels=[1, 0])
    with pytest.raises(ValueError, match="no boxes"):
        _call("box_prompt", boxes=[])
    with pytest.raises(ValueError):
        _call("point_prompt", image=scene.image, points=[[10_000, 5]])  # outside the image


def test_generate_node_limits_masks(scene):
    res = _call("generate", image=scene.image, points_per_side=8, max_masks=2)
    assert 1 <= len(res) <= 2
    with pytest.raises(ValueError, match="does not take"):
        _call("generate", image=scene.image, options={"not_a_param": 1})


def test_load_image_save_image_and_export_read_back(tmp_path, scene):
    from pycocotools import mask as mask_utils

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), scene.image[:, :, ::-1])
    img = _call("load_image", path=str(src))
    assert np.array_equal(img, scene.image)
    assert _call("load_image", path="sample:coins").shape[2] == 3
    token = api.set_run_context(api.RunContext(out_dir=tmp_path / "out"))
    try:
        saved = _call("save_image", image=img, path="sub/copy.png")
        assert saved == str(tmp_path / "out" / "sub" / "copy.png")
        assert np.array_equal(cv2.imread(saved)[:, :, ::-1], scene.image)
        masks = MasksClass(scene.masks, scores=np.ones(len(scene.masks)))
        path = _call("export", masks=masks, path="m.json")
        doc = json.loads(Path(path).read_text())
        decoded = mask_utils.decode(doc["annotations"][0]["segmentation"]).astype(bool)
        assert np.array_equal(decoded, scene.masks[0])
        with pytest.raises(ValueError, match=".png or .jpg"):
            _call("save_image", image=img, path="noext")
    finally:
        api.reset_run_context(token)
    assert run_context().out_dir is None


def test_output_path_frame_template(tmp_path):
    token = api.set_run_context(api.RunContext(out_dir=tmp_path, frame_index=7))
    try:
        assert output_path("f/{frame:03d}.png") == tmp_path / "f" / "007.png"
        assert (tmp_path / "f").is_dir()
    finally:
        api.reset_run_context(token)


def _write_frames(folder, n=5, size=(48, 64)):
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(n):
        f = np.zeros((*size, 3), np.uint8)
        f[:, :, 0] = 20 * i
        f[10:20, 5 + 5 * i : 15 + 5 * i] = 255
        cv2.imwrite(str(folder / f"{i:03d}.png"), f[:, :, ::-1])
        frames.append(f)
    return frames


def test_load_video_streams_frames_from_folder_and_file(tmp_path):
    frames = _write_frames(tmp_path / "frames")
    got = list(_call("load_video", path=str(tmp_path / "frames")))
    assert len(got) == 5 and all(np.array_equal(a, b) for a, b in zip(got, frames))
    got = list(_call("load_video", path=str(tmp_path / "frames" / "*.png"), start=1, step=2))
    assert len(got) == 2 and np.array_equal(got[0], frames[1])
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for f in frames:
        writer.write(f[:, :, ::-1])
    writer.release()
    got = list(_call("load_video", path=str(video), stop=3))
    assert len(got) == 3 and got[0].shape == (48, 64, 3)
    assert abs(int(got[2][30, 30, 2]) - 0) < 30 and abs(int(got[2][30, 30, 0]) - 40) < 12  # RGB order kept
    with pytest.raises(ValueError, match="does not exist"):
        _call("load_video", path=str(tmp_path / "missing.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(ValueError):
        list(_call("load_video", path=str(bad)))


def test_core_fallback_prompt_and_export_functions(scene, tmp_path):
    """The low-priority core versions stay correct even when topic modules replace them."""
    from pycocotools.coco import COCO

    from sam_compose.nodes import core

    boxes = [[float(v) for v in b] for b in scene.boxes]
    assert [p.box.tolist() for p in core.box_prompt_node(scene.image, boxes=boxes)] == boxes
    with pytest.raises(ValueError, match="no boxes"):
        core.box_prompt_node(boxes=[])
    one = core.point_prompt_node(points=[[5, 6], [7, 8]], labels=[1, 0])
    assert len(one) == 1 and one[0].labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match="2 labels for 1 points"):
        core.point_prompt_node(points=[[1, 2]], labels=[1, 0])
    masks = MasksClass(scene.masks, scores=np.linspace(0.5, 0.9, len(scene.masks)))
    path = core.export_node(masks, path=str(tmp_path / "c.json"))
    coco = COCO(path)
    assert len(coco.getAnnIds()) == len(scene.masks)
    assert registry.get("box_prompt").priority >= core.box_prompt_node.__node_spec__.priority
