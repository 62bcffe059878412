"""Agent tools: a LangChain tool-calling loop with a fake chat model, the MCP server over stdio,
and every bad call coming back as a message the model can act on."""

from __future__ import annotations

import asyncio
import os
import sys

import numpy as np
import pytest
from PIL import Image

from sam_compose.geometry import mask_iou
from sam_compose.integrations.langchain import get_tools
from sam_compose.samples import synthetic_scene


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("agent_root")
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    scene = synthetic_scene(seed=7)
    Image.fromarray(scene.image).save(root / "scene.png")
    Image.fromarray(scene.image).save(outside / "secret.png")
    os.symlink(outside / "secret.png", root / "link.png")
    big = root / "big.png"
    big.write_bytes(b"\x89PNG" + os.urandom(50 * 1024 * 1024))  # 50 MB
    return root, outside, scene


@pytest.fixture(scope="module")
def tools(workspace):
    root, _, _ = workspace
    return {t.name: t for t in get_tools(engine="opencv", allowed_roots=[root], output_dir=root / "out")}


def call(tool, args, call_id="c1"):
    return tool.invoke({"type": "tool_call", "id": call_id, "name": tool.name, "args": args})


class _CountingEngine:
    """A duck-typed engine (no Engine subclass) that delegates to the OpenCV engine and counts calls."""

    def __init__(self):
        from sam_compose.engines import load_engine

        self.inner = load_engine("opencv")
        self.calls = 0

    def segment(self, image, prompt, **kwargs):
        self.calls += 1
        return self.inner.segment(image, prompt, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_duck_typed_engine_is_used_as_given(workspace):
    from sam_compose.errors import EngineError

    root, _, scene = workspace
    engine = _CountingEngine()
    tools = {t.name: t for t in get_tools(engine=engine, allowed_roots=[root], output_dir=root / "out")}
    msg = call(tools["segment_image"], {"image": "scene.png", "boxes": [[float(v) for v in scene.boxes[0]]]})
    assert msg.status == "success" and engine.calls == 1
    with pytest.raises(EngineError, match="engine= must be"):
        get_tools(engine=42, allowed_roots=[root], output_dir=root / "out")


def test_tool_schemas_are_pydantic_and_named_per_contract(tools):
    assert set(tools) == {"segment_image", "generate_masks", "run_graph"}
    schema = tools["segment_image"].args_schema.model_json_schema()
    assert {"image", "points", "labels", "boxes", "text", "gaze"} <= set(schema["properties"])
    assert all(t.response_format == "content_and_artifact" for t in tools.values())


def test_fake_chat_model_tool_calling_loop(tools, workspace):
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    _, _, scene = workspace
    box = [float(v) for v in scene.boxes[0]]
    model = FakeMessagesListChatModel(
        responses=[
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "segment_image", "args": {"image": "scene.png", "boxes": [box]}, "id": "call_1"},
                    {"name": "generate_masks", "args": {"image": "scene.png", "max_masks": 5}, "id": "call_2"},
                ],
            ),
            AIMessage(content="The object covers about 4% of the image."),
        ]
    )
    messages = [HumanMessage("Segment the object in scene.png inside this box, and list all regions.")]
    ai = model.invoke(messages)
    messages.append(ai)
    for tc in ai.tool_calls:
        result = tools[tc["name"]].invoke(tc)
        assert isinstance(result, ToolMessage) and result.tool_call_id == tc["id"]
        messages.append(result)
    final = model.invoke(messages)
    assert "4%" in final.content
    seg, gen = messages[2], messages[3]
    assert seg.status == "success" and "area" in seg.content and "box" in seg.content
    masks = seg.artifact["masks"]
    assert mask_iou(masks.masks[0], scene.masks[0]) >= 0.9
    assert os.path.exists(seg.artifact["files"]["masks"][0])
    assert len(gen.artifact["masks"]) <= 5 and "region" in gen.content


def test_async_tool(tools):
    msg = asyncio.run(
        tools["generate_masks"].ainvoke(
            {
                "type": "tool_call",
                "id": "a1",
                "name": "generate_masks",
                "args": {"image": "sample:coins", "max_masks": 3},
            }
        )
    )
    assert msg.status == "success" and len(msg.artifact["masks"]) <= 3


@pytest.mark.parametrize(
    "args, message",
    [
        ({"image": "../outside/secret.png", "points": [[5, 5]]}, "outside the allowed folders"),
        ({"image": "link.png", "points": [[5, 5]]}, "outside the allowed folders"),
        ({"image": "missing.png", "points": [[5, 5]]}, "does not exist"),
        ({"image": "scene.png", "boxes": [[10, 20]]}, "4 numbers"),
        ({"image": "scene.png", "points": [[10, 20, 30]]}, "2 numbers"),
        ({"image": "big.png", "points": [[5, 5]]}, "MB limit"),
        ({"image": "scene.png"}, "nothing to segment"),
        ({"image": "scene.png", "points": [[9999, 5]]}, "outside the"),
        ({"image": "http://example.com/a.png", "points": [[5, 5]]}, "URLs are not fetched"),
        ({"image": "scene.png", "bogus": 1}, "bogus"),
    ],
)
def test_bad_calls_come_back_as_error_messages(tools, args, message):
    msg = call(tools["segment_image"], args)
    assert msg.status == "error"
    assert message in msg.content, msg.content


def test_absolute_path_outside_roots(tools, workspace):
    _, outside, _ = workspace
    msg = call(tools["segment_image"], {"image": str(outside / "secret.png"), "points": [[5, 5]]})
    assert msg.status == "error" and "outside the allowed folders" in msg.content


def test_mcp_server_over_stdio_lists_and_calls_tools(workspace):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    root, _, scene = workspace
    x, y = scene.interior_point(1)

    async def session():
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "sam_compose.cli", "mcp", "--engine", "opencv", "--root", str(root)],
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        async with Client(params) as client:
            listed = await client.list_tools()
            ok = await client.call_tool("segment_image", {"image": "scene.png", "points": [[x, y]], "labels": [1]})
            bad = await client.call_tool("segment_image", {"image": "link.png", "points": [[1, 1]]})
            gen = await client.call_tool("generate_masks", {"image": "scene.png", "max_masks": 4})
            return listed, ok, bad, gen

    listed, ok, bad, gen = asyncio.run(asyncio.wait_for(session(), timeout=240))
    assert {t.name for t in listed.tools} == {"segment_image", "generate_masks", "run_graph"}
    assert not ok.is_error
    kinds = [c.type for c in ok.content]
    assert kinds[0] == "text" and "image" in kinds
    assert "area" in ok.content[0].text
    img = next(c for c in ok.content if c.type == "image")
    assert img.mime_type == "image/png" and len(img.data) > 1000
    assert bad.is_error and "outside the allowed folders" in bad.content[0].text
    assert not gen.is_error


def test_sandbox_rejects_bad_roots(tmp_path):
    with pytest.raises(ValueError, match="not an existing folder"):
        get_tools(engine="opencv", allowed_roots=[tmp_path / "nope"])


def test_mcp_http_refuses_non_loopback(capsys):
    from sam_compose.cli import main

    assert main(["mcp", "--transport", "http", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_written_mask_matches_artifact(tools, workspace):
    _, _, scene = workspace
    msg = call(tools["segment_image"], {"image": "scene.png", "boxes": [[float(v) for v in scene.boxes[2]]]})
    png = np.asarray(Image.open(msg.artifact["files"]["masks"][0])) > 0
    assert (png == msg.artifact["masks"].masks[0]).all()


def test_run_graph_demo_by_name_writes_inside_the_run_folder(tools, workspace):
    root, _, _ = workspace
    msg = call(tools["run_graph"], {"graph": "box_segment_overlay", "overrides": {"seg.engine": "opencv"}})
    assert msg.status == "success", msg.content
    folder = msg.artifact["files"]["folder"]
    assert folder.startswith(str(root)) and msg.artifact["report"]["ok"] is True
    assert any(p.suffix == ".png" for p in __import__("pathlib").Path(folder).rglob("*"))


def _graph(root, name, nodes):
    import json

    p = root / name
    p.write_text(json.dumps({"nodes": nodes}))
    return p.name


def test_run_graph_refuses_unknown_nodes_and_paths_outside(tools, workspace):
    root, outside, _ = workspace
    unknown = _graph(root, "unknown.json", {"x": {"type": "exec_python", "params": {"code": "print(1)"}}})
    msg = call(tools["run_graph"], {"graph": unknown})
    assert msg.status == "error" and "exec_python" in msg.content

    reads_outside = _graph(
        root,
        "reads.json",
        {
            "img": {"type": "load_image", "params": {"path": str(outside / "secret.png")}},
            "save": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": "copy.png"}},
        },
    )
    msg = call(tools["run_graph"], {"graph": reads_outside})
    assert msg.status == "error" and "outside the allowed folders" in msg.content

    writes_outside = _graph(
        root,
        "writes.json",
        {
            "img": {"type": "load_image", "params": {"path": "scene.png"}},
            "save": {"type": "save_image", "inputs": {"image": "img"}, "params": {"path": str(outside / "stolen.png")}},
        },
    )
    msg = call(tools["run_graph"], {"graph": writes_outside})
    assert msg.status == "error" and "outside this run's folder" in msg.content
    assert not (outside / "stolen.png").exists()

    msg = call(tools["run_graph"], {"graph": "no_such_demo"})
    assert msg.status == "error" and "neither a demo name" in msg.content


def test_text_without_clip_weights_offline_is_an_actionable_error(tools, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    msg = call(tools["segment_image"], {"image": "scene.png", "text": "a red mug"})
    assert msg.status == "error" and "CLIP" in msg.content and "offline" in msg.content


def test_run_graph_cannot_load_clip_or_checkpoints_from_outside(tools, workspace):
    root, outside, _ = workspace
    (outside / "clipdir").mkdir(exist_ok=True)
    g = _graph(
        root,
        "clip_outside.json",
        {
            "img": {"type": "load_image", "params": {"path": "scene.png"}},
            "txt": {
                "type": "text_prompt",
                "inputs": {"image": "img"},
                "params": {"text": "a mug", "clip": f"local-dir:{outside / 'clipdir'}", "proposals": "grid"},
            },
        },
    )
    msg = call(tools["run_graph"], {"graph": g})
    assert msg.status == "error" and "outside the allowed folders" in msg.content
    (outside / "sam.pth").write_bytes(b"not a checkpoint")
    g = _graph(
        root,
        "engine_outside.json",
        {
            "img": {"type": "load_image", "params": {"path": "scene.png"}},
            "box": {"type": "box_prompt", "params": {"boxes": [[10, 10, 50, 50]]}},
            "seg": {
                "type": "segment",
                "inputs": {"image": "img", "prompts": "box"},
                "params": {"engine": str(outside / "sam.pth")},
            },
        },
    )
    msg = call(tools["run_graph"], {"graph": g})
    assert msg.status == "error" and "outside the allowed folders" in msg.content
