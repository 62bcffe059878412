"""Finding 1: MCP / LangChain ``run_graph`` escaped the roots through ``load_video`` (symlinked
frames, globs through symlinked folders, ``dir/../*.png``) and through the depth node's model.

Every escape is tried through the LangChain tool (the MCP server calls the same service) and
must be refused naming the path; the files outside are never read (a read would show as a
frame in the report)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from sam_compose.errors import InputError
from sam_compose.integrations.langchain import get_tools
from sam_compose.integrations.service import AgentService
from sam_compose.security import AccessError, PathGuard


@pytest.fixture
def world(tmp_path):
    """root/ (allowed) and outside/ (secret frames, a model folder), with links from root to outside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "frames").mkdir(parents=True)
    (outside / "secret_frames").mkdir(parents=True)
    (outside / "model").mkdir()
    frame = np.full((32, 32, 3), 90, np.uint8)
    for i in range(2):
        Image.fromarray(frame).save(root / "frames" / f"f{i}.png")
        Image.fromarray(frame + 100).save(outside / "secret_frames" / f"s{i}.png")
    Image.fromarray(frame + 50).save(outside / "top.png")
    (outside / "model" / "config.json").write_text("{}")
    os.symlink(outside / "secret_frames" / "s0.png", root / "frames" / "f9.png")  # a symlinked frame
    os.symlink(outside / "secret_frames", root / "linkdir")  # a symlinked folder
    (root / "sub").mkdir()
    os.symlink(outside / "secret_frames", root / "sub" / "hop")  # hop/.. is outside/
    return root, outside


def _graph(root, name, nodes):
    (root / name).write_text(json.dumps({"nodes": nodes}))
    return name


def _video_graph(root, name, path):
    return _graph(
        root,
        name,
        {
            "video": {"type": "load_video", "params": {"path": path}},
            "save": {"type": "save_image", "inputs": {"image": "video"}, "params": {"path": "frame_{frame}.png"}},
        },
    )


def _call(tool, args):
    return tool.invoke({"type": "tool_call", "id": "c", "name": tool.name, "args": args})


@pytest.mark.parametrize(
    "path",
    ["frames", "frames/*.png", "l[i]nkdir/*.png", "sub/hop/../secret_frames/*.png", "linkdir", "sub/hop/../*.png"],
)
@pytest.mark.parametrize("absolute", [False, True])
def test_load_video_cannot_read_outside_the_roots(world, path, absolute):
    root, _ = world
    path = str(root / path) if absolute else path
    tools = {t.name: t for t in get_tools(engine="opencv", allowed_roots=[root], output_dir=root / "out")}
    msg = _call(tools["run_graph"], {"graph": _video_graph(root, "v.json", path)})
    assert msg.status == "error", msg.content
    assert "outside" in msg.content, msg.content
    written = list((root / "out").rglob("frame_*.png"))
    assert written == [], "no frame may be processed when one of them is outside the roots"


def test_load_video_inside_the_roots_still_works(world):
    root, _ = world
    os.unlink(root / "frames" / "f9.png")
    svc = AgentService(engine="opencv", allowed_roots=[root], output_dir=root / "out")
    out = svc.run_graph(_video_graph(root, "ok.json", "frames/*.png"))
    assert out.report["ok"] and out.report["nodes"]["save"]["frames"] == 2


def test_depth_model_and_other_model_params_are_guarded(world):
    root, outside = world
    svc = AgentService(engine="opencv", allowed_roots=[root], output_dir=root / "out")
    g = _graph(
        root,
        "depth.json",
        {
            "img": {"type": "load_image", "params": {"path": "frames/f0.png"}},
            "depth": {
                "type": "depth",
                "inputs": {"image": "img"},
                "params": {"source": "monocular", "model": str(outside / "model")},
            },
        },
    )
    with pytest.raises(InputError, match="outside"):
        svc.run_graph(g)
    g = _graph(
        root,
        "inpaint.json",
        {
            "img": {"type": "load_image", "params": {"path": "frames/f0.png"}},
            "box": {"type": "box_prompt", "params": {"boxes": [[2, 2, 20, 20]]}},
            "seg": {"type": "segment", "inputs": {"image": "img", "prompts": "box"}},
            "fill": {
                "type": "inpaint",
                "inputs": {"image": "img", "masks": "seg"},
                "params": {"method": "diffusers", "model": "../outside/model"},
            },
        },
    )
    with pytest.raises(InputError, match="outside"):
        svc.run_graph(g)


@pytest.mark.parametrize(
    "override",
    [
        {"img.path": "/etc/hostname"},
        {"img.path": "../outside/secret_frames/s0.png"},
        {"img.path": "linkdir/s0.png"},
        {"img.path": "frames/f9.png"},
    ],
)
def test_absolute_dotdot_and_symlinked_image_paths_are_refused(world, override):
    root, _ = world
    svc = AgentService(engine="opencv", allowed_roots=[root], output_dir=root / "out")
    g = _graph(root, "img.json", {"img": {"type": "load_image", "params": {"path": "frames/f0.png"}}})
    with pytest.raises(InputError, match="outside|does not exist"):
        svc.run_graph(g, overrides=override)


def test_the_guard_checks_every_file_a_pattern_or_folder_expands_to(world):
    root, outside = world
    guard = PathGuard.create([root])
    assert [p.name for p in guard.expand(root / "frames" / "f[01].png")] == ["f0.png", "f1.png"]
    for pattern in ["frames", "frames/*", "l[i]nkdir/*.png", "sub/hop/../*.png", str(outside / "*" / "*.png")]:
        with pytest.raises(AccessError, match="outside"):
            guard.expand(pattern)
    with pytest.raises(AccessError, match="outside"):
        guard.tree("sub")  # the model-folder check walks every file, through links
    with pytest.raises(AccessError, match="outside"):
        guard.model(str(outside / "model"))
    assert guard.model("facebook/sam-vit-base") == "facebook/sam-vit-base"
    assert guard.model("opencv") == "opencv"


def test_writes_stay_inside_the_write_root(world):
    root, outside = world
    guard = PathGuard.create([root], write_root=root / "out")
    assert guard.write("a/b.png") == (root / "out" / "a" / "b.png").resolve()
    os.symlink(outside, root / "out" / "escape")
    for bad in [str(outside / "x.png"), "../x.png", "escape/x.png", "a/../../x.png"]:
        with pytest.raises(AccessError, match="outside"):
            guard.write(bad)


def test_every_node_param_that_names_a_file_declares_its_kind():
    import sam_compose.graph  # noqa: F401 - registers the node modules
    from sam_compose.graph.runtime import unguarded_params
    from sam_compose.nodes.registry import catalog, find

    for entry in catalog():
        spec = find(entry["type"])
        assert unguarded_params(spec) == [], f"{spec.name}: declare Param(kind=...) for {unguarded_params(spec)}"
    kinds = {
        entry["type"]: {n: p.get("kind") for n, p in entry["params"].items() if p.get("kind")} for entry in catalog()
    }
    assert kinds["load_video"] == {"path": "path_in"} and kinds["depth"] == {"path": "path_in", "model": "model"}
    assert kinds["save_image"] == {"path": "path_out"} and kinds["track"] == {"engine": "model", "save": "path_out"}


def test_a_node_type_that_forgets_to_declare_a_path_cannot_run_under_a_guard(world):
    from sam_compose import Graph
    from sam_compose.nodes.api import Param, node

    root, outside = world

    @node("sneaky_reader_test", category="misc")
    def sneaky(*, path: str = Param(description="a file, but declared as a plain value")) -> Image:
        raise AssertionError("never runs: the runtime refuses the node type first")

    g = Graph()
    g.add("sneaky_reader_test", path=str(outside / "top.png"))
    report = g.run(path_guard=PathGuard.create([root], write_root=root / "out"), cache=False)
    assert "declares param 'path' as a plain value" in report["nodes"]["sneaky_reader_test"]["error"]
