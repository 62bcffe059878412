"""Graphs: building, files, validation before running, execution, cache, shared engines, errors, threads."""

from __future__ import annotations

import json
import sys
import threading

import numpy as np
import pytest
import yaml

from sam_compose.engines.opencv import OpenCVEngine
from sam_compose.engines.registry import register_engine, shared_engine
from sam_compose.errors import InputError
from sam_compose.geometry import mask_iou
from sam_compose.graph import Graph, GraphError, GraphRunError, ResultCache
from sam_compose.nodes.api import Param, node
from sam_compose.nodes.ports import Masks, Number

CALLS: dict[str, int] = {}


@node("gt_const", category="test")
def gt_const(*, value: float = 0.0) -> Number:
    CALLS["gt_const"] = CALLS.get("gt_const", 0) + 1
    return value


@node("gt_add", category="test")
def gt_add(x: Number, *, k: float = Param(1.0, ge=-1000, le=1000)) -> Number:
    CALLS["gt_add"] = CALLS.get("gt_add", 0) + 1
    return x + k


@node("gt_fail", category="test")
def gt_fail(x: Number, *, message: str = "boom") -> Number:
    raise InputError(message)


@node("gt_wrong_output", category="test")
def gt_wrong_output(x: Number) -> Masks:
    return [1, 2]  # type: ignore[return-value]


register_engine("graphtest-count", lambda spec, device, dtype: OpenCVEngine(spec=spec))


def chain(n: int) -> Graph:
    g = Graph()
    prev = g.add("gt_const", id="n0", value=0)
    for i in range(1, n):
        prev = g.add("gt_add", id=f"n{i}", x=prev)
    return g


def build_segment_graph(engine: str = "graphtest-count") -> Graph:
    g = Graph()
    img = g.add("load_image", id="img", path="sample:coins")
    box = g.add("box_prompt", id="box", boxes=[[20, 20, 120, 120]])
    g.add("segment", id="seg", image=img, prompts=box, engine=engine)
    return g


# ---------------------------------------------------------------- building and files
def test_python_builder_reads_naturally_and_matches_the_file_format(tmp_path):
    g = Graph()
    img = g.load_image(path="sample:astronaut")
    box = g.box_prompt(boxes=[[140, 20, 330, 220]])
    seg = g.segment(image=img, prompts=box, engine="opencv")
    ov = g.add("overlay", image=img, masks=seg.masks)
    g.add("save_image", id="save", image=ov, path="ov.png")
    assert g.to_dict() == {
        "nodes": {
            "load_image": {"type": "load_image", "params": {"path": "sample:astronaut"}},
            "box_prompt": {"type": "box_prompt", "params": {"boxes": [[140, 20, 330, 220]]}},
            "segment": {
                "type": "segment",
                "inputs": {"image": "load_image", "prompts": "box_prompt"},
                "params": {"engine": "opencv"},
            },
            "overlay": {"type": "overlay", "inputs": {"image": "load_image", "masks": "segment.masks"}},
            "save": {"type": "save_image", "inputs": {"image": "overlay"}, "params": {"path": "ov.png"}},
        }
    }
    report = g.run(keep_values=True, out_dir=tmp_path)
    assert report.ok and report["outputs"] == {"save": str(tmp_path / "ov.png")}
    assert len(report.value(seg)) == 1 and report.value("overlay").shape == (512, 512, 3)
    with pytest.raises(GraphError, match="already used"):
        g.add("segment", id="save", image=img, prompts=box)
    with pytest.raises(GraphError, match="unknown node type"):
        g.add("segmnt")
    with pytest.raises(GraphError, match="no input port 'imag'"):
        g.add("segment", imag=img)
    assert g.add("segment", image=img, prompts=box).id == "segment_2"


DESIGN_EXAMPLE = {
    "nodes": {
        "img": {"type": "load_image", "params": {"path": "photo.jpg"}},
        "box": {"type": "box_prompt", "params": {"boxes": [[100, 50, 300, 400]]}},
        "seg": {"type": "segment", "inputs": {"image": "img", "prompts": "box"}, "params": {"engine": "opencv"}},
        "fill": {"type": "overlay", "inputs": {"image": "img", "masks": "seg"}, "label": "draw", "ui": {"x": 1}},
        "save": {"type": "save_image", "inputs": {"image": "fill"}, "params": {"path": "out.png"}, "comment": "c"},
    },
    "name": "design example",
}


def test_json_and_yaml_round_trip_exactly(tmp_path):
    odd = json.loads(json.dumps(DESIGN_EXAMPLE))
    odd["nodes"]["box"]["inputs"] = {}  # explicit empty keys survive too
    odd["nodes"]["seg"]["params"]["multimask"] = False
    for data in (DESIGN_EXAMPLE, odd):
        g = Graph.from_dict(data)
        assert g.to_dict() == data
        assert list(g.to_dict()["nodes"]["seg"]) == list(data["nodes"]["seg"])
        for suffix in (".json", ".yaml", ".yml"):
            path = g.to_file(tmp_path / f"g{suffix}")
            again = Graph.from_file(path)
            assert again.to_dict() == data
            text = path.read_text()
            assert (json.loads(text) if suffix == ".json" else yaml.safe_load(text)) == data
    # YAML written by hand in the DESIGN structure reads the same as JSON
    assert Graph.from_dict(yaml.safe_load(yaml.safe_dump(DESIGN_EXAMPLE))).to_dict() == DESIGN_EXAMPLE


@pytest.mark.parametrize(
    "content, name, fragment",
    [
        ("this is : not : a graph", "g.txt", "neither JSON nor YAML"),
        ('{"nodes": ', "g.json", "not valid JSON"),
        ("nodes: [\n  - a\n bad", "g.yaml", "not valid YAML"),
        ("\x00\x01binary", "g.bin", None),
        ("[1, 2]", "g.json", "expected an object"),
        ("{}", "g.json", "needs a 'nodes' object"),
        ('{"nodes": {}, "extra": 1}', "g.json", "unknown top-level key 'extra'"),
        ('{"nodes": {"a": {"type": "gt_const", "param": {}}}}', "g.json", "node 'a': unknown key 'param'"),
        ('{"nodes": {"a": {"params": {}}}}', "g.json", "node 'a' has no 'type'"),
        ('{"nodes": {"a.b": {"type": "gt_const"}}}', "g.json", "without '.'"),
        ('nodes:\n  a: !!python/object/apply:os.system ["echo hacked"]\n', "g.yaml", "not valid YAML"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, content, name, fragment):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(GraphError) as err:
        Graph.from_file(path)
    if fragment:
        assert fragment in str(err.value)
    with pytest.raises(GraphError, match="does not exist"):
        Graph.from_file(tmp_path / "missing.json")


# ---------------------------------------------------------------- validation
def _nodes(**nodes):
    return {"nodes": nodes}


VALIDATION_CASES = [
    ("unknown type", _nodes(a={"type": "no_such_node"}), "a", None, "unknown node type 'no_such_node'"),
    ("unknown param", _nodes(a={"type": "gt_const", "params": {"valu": 1}}), "a", "valu", "unknown param 'valu'"),
    (
        "wrongly typed param",
        _nodes(a={"type": "gt_const", "params": {"value": "x"}}),
        "a",
        "value",
        "expected a number",
    ),
    (
        "out of range param",
        _nodes(a={"type": "gt_const"}, b={"type": "gt_add", "inputs": {"x": "a"}, "params": {"k": 5000}}),
        "b",
        "k",
        "<= 1000",
    ),
    ("missing required param", _nodes(a={"type": "load_image"}), "a", "path", "required param 'path'"),
    ("missing required input", _nodes(a={"type": "gt_add"}), "a", "x", "required input 'x'"),
    (
        "type mismatch",
        _nodes(
            img={"type": "load_image", "params": {"path": "sample:coins"}},
            seg={"type": "generate", "inputs": {"image": "img"}},
            ov={"type": "overlay", "inputs": {"image": "seg", "masks": "seg"}},
        ),
        "ov",
        "image",
        "expects Image but seg.masks is Masks",
    ),
    (
        "missing node ref",
        _nodes(b={"type": "gt_add", "inputs": {"x": "ghost"}}),
        "b",
        "x",
        "node 'ghost', which does not exist",
    ),
    (
        "unknown output port",
        _nodes(a={"type": "gt_const"}, b={"type": "gt_add", "inputs": {"x": "a.nope"}}),
        "b",
        "x",
        "has no output 'nope'",
    ),
    (
        "unknown input port",
        _nodes(a={"type": "gt_const"}, b={"type": "gt_add", "inputs": {"x": "a", "y": "a"}}),
        "b",
        "y",
        "no input port 'y'",
    ),
    (
        "cycle",
        _nodes(
            a={"type": "gt_add", "inputs": {"x": "c"}},
            b={"type": "gt_add", "inputs": {"x": "a"}},
            c={"type": "gt_add", "inputs": {"x": "b"}},
        ),
        "a",
        "x",
        "cycle: a -> b -> c -> a",
    ),
    ("self loop", _nodes(a={"type": "gt_add", "inputs": {"x": "a"}}), "a", "x", "cycle"),
    ("bad outputs key", {"nodes": {"a": {"type": "gt_const"}}, "outputs": ["zz"]}, None, None, "'zz'"),
    ("empty graph", {"nodes": {}}, None, None, "no nodes"),
]


@pytest.mark.parametrize("case, data, node_id, port, fragment", VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_invalid_graphs_are_rejected_before_anything_runs(case, data, node_id, port, fragment):
    CALLS.clear()
    g = Graph.from_dict(data)
    with pytest.raises(GraphError) as err:
        g.run(cache=False)
    assert fragment in str(err.value)
    assert isinstance(err.value, InputError)
    assert err.value.node == node_id and err.value.port == port
    if node_id:
        assert repr(node_id) in str(err.value)
    assert CALLS == {}  # nothing ran


def test_all_problems_are_listed_at_once():
    g = Graph.from_dict(
        _nodes(a={"type": "gt_add"}, b={"type": "gt_const", "params": {"value": "x"}}, c={"type": "nope"})
    )
    with pytest.raises(GraphError) as err:
        g.validate()
    msg = str(err.value)
    assert msg.startswith("3 problems") and "'a'" in msg and "'b'" in msg and "'c'" in msg
    assert len(err.value.problems) == 3


# ---------------------------------------------------------------- execution
def test_ten_thousand_chained_nodes_run_without_recursion():
    g = chain(10_000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # would fail at once if anything recursed per node
    try:
        report = g.run(cache=ResultCache())
    finally:
        sys.setrecursionlimit(limit)
    assert report.ok and report["outputs"] == {"n9999": 9999.0}
    assert len(report["nodes"]) == 10_000
    again = Graph.from_dict(g.to_dict())
    assert again.to_dict() == g.to_dict()


def test_only_ancestors_of_requested_outputs_run():
    CALLS.clear()
    g = Graph.from_dict(
        _nodes(
            a={"type": "gt_const", "params": {"value": 1}},
            b={"type": "gt_add", "inputs": {"x": "a"}},
            c={"type": "gt_add", "inputs": {"x": "a"}, "params": {"k": 5}},
        )
    )
    report = g.run(["c"], cache=False)
    assert report["outputs"] == {"c": 6.0} and set(report["nodes"]) == {"a", "c"}
    assert CALLS == {"gt_const": 1, "gt_add": 1}


def test_failing_node_is_reported_and_other_results_kept():
    g = Graph.from_dict(
        _nodes(
            a={"type": "gt_const", "params": {"value": 2}},
            ok={"type": "gt_add", "inputs": {"x": "a"}},
            bad={"type": "gt_fail", "inputs": {"x": "a"}, "params": {"message": "no good"}},
            after={"type": "gt_add", "inputs": {"x": "bad"}},
            after2={"type": "gt_add", "inputs": {"x": "after"}},
        )
    )
    report = g.run(keep_values=True, cache=False)
    assert not report.ok
    bad = report["nodes"]["bad"]
    assert bad["error"] == "InputError: no good" and bad["inputs"] == {"x": 2.0} and bad["input_error"]
    assert report["nodes"]["after"] == {"type": "gt_add", "ms": 0.0, "cached": False, "skipped": True, "because": "bad"}
    assert all({"ms", "cached"} <= set(d) for d in report["nodes"].values())
    assert report["nodes"]["after2"]["because"] == "bad"
    assert report["outputs"] == {"ok": 3.0}
    assert report.value("a") == 2.0
    with pytest.raises(KeyError, match="no good"):
        report.value("bad")
    json.dumps(report.to_json())
    with pytest.raises(GraphRunError, match="node 'bad' failed: InputError: no good"):
        g.run(keep_values=True, cache=False, raise_on_error=True)


def test_wrong_output_type_is_caught_at_the_node():
    g = Graph.from_dict(_nodes(a={"type": "gt_const"}, w={"type": "gt_wrong_output", "inputs": {"x": "a"}}))
    report = g.run(cache=False)
    assert "output 'masks'" in report["nodes"]["w"]["error"] and "Masks" in report["nodes"]["w"]["error"]


def test_failing_image_node_summarises_image_inputs(scene):
    g = Graph()
    img = g.add("load_image", id="img", path="sample:coins")
    pts = g.add("point_prompt", id="pts", points=[[5000, 5000]])
    g.add("segment", id="seg", image=img, prompts=pts)
    report = g.run(keep_values=True, cache=False)
    seg = report["nodes"]["seg"]
    assert "outside" in seg["error"] or "image" in seg["error"]
    assert seg["inputs"]["image"] == {"type": "image", "shape": [303, 384, 3]}
    assert seg["inputs"]["prompts"]["type"] == "prompts"
    assert report.value("img").shape == (303, 384, 3)


def test_cache_reuses_upstream_work_and_engine_calls_are_counted():
    eng = shared_engine("graphtest-count")
    cache = ResultCache()
    g = build_segment_graph()
    g.add("overlay", id="ov", image="img", masks="seg", alpha=0.5)
    before = eng.stats.segment_calls
    r1 = g.run(keep_values=True, cache=cache)
    assert r1.ok and eng.stats.segment_calls == before + 1
    assert not any(n["cached"] for n in r1["nodes"].values())
    # rebuild the graph from its file form with one downstream param changed: upstream is reused
    g2 = Graph.from_dict(g.to_dict())
    g2.set("ov", alpha=0.8)
    r2 = g2.run(keep_values=True, cache=cache)
    assert eng.stats.segment_calls == before + 1
    assert {n: d["cached"] for n, d in r2["nodes"].items()} == {"img": True, "box": True, "seg": True, "ov": False}
    assert not np.array_equal(r1.value("ov"), r2.value("ov"))
    # an upstream param change recomputes from there on
    r3 = g2.run(keep_values=True, cache=cache, params={"box.boxes": [[30, 30, 130, 140]]})
    assert r3["nodes"]["img"]["cached"] and not r3["nodes"]["seg"]["cached"]
    assert eng.stats.segment_calls == before + 2
    # cached arrays are protected from in-place edits by downstream code
    with pytest.raises(ValueError):
        r2.value("img")[0, 0, 0] = 1


def test_segment_nodes_with_one_engine_spec_share_engine_and_embeddings():
    eng = shared_engine("graphtest-count")
    stats0 = eng.stats.as_dict()
    g = Graph()
    img = g.add("load_image", id="img", path="sample:chelsea")
    for i, box in enumerate([[50, 50, 150, 150], [200, 100, 300, 200], [10, 10, 100, 90]]):
        g.add("segment", id=f"seg{i}", image=img, prompts=g.add("box_prompt", boxes=[box]), engine="graphtest-count")
    report = g.run(cache=ResultCache())
    assert report.ok
    stats = eng.stats.as_dict()
    assert stats["segment_calls"] - stats0["segment_calls"] == 3
    assert stats["embeddings_computed"] - stats0["embeddings_computed"] == 1  # one embedding for three nodes
    assert stats["embedding_cache_hits"] - stats0["embedding_cache_hits"] == 2


def test_feeding_values_and_file_cache_key(tmp_path, scene):
    import cv2

    g = build_segment_graph(engine="opencv")
    g.set("box", boxes=[[float(v) for v in scene.boxes[0]]])
    report = g.run(keep_values=True, feed={"img": scene.image}, cache=ResultCache())
    assert report["nodes"]["img"]["fed"] and mask_iou(report.value("seg").masks[0], scene.masks[0]) >= 0.9
    assert scene.image.flags.writeable and not report.value("img").flags.writeable  # the caller's array untouched
    # a file that changes on disk is read again although the params are the same
    path = tmp_path / "x.png"
    cache = ResultCache()
    g = Graph()
    g.add("load_image", id="img", path=str(path))
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    assert g.run(keep_values=True, cache=cache).value("img").max() == 0
    cv2.imwrite(str(path), np.full((9, 8, 3), 255, np.uint8))
    second = g.run(keep_values=True, cache=cache)
    assert not second["nodes"]["img"]["cached"] and second.value("img").max() == 255


def test_progress_callback_sees_every_node():
    events = []
    chain(5).run(cache=ResultCache(), progress=events.append)
    assert [e["node"] for e in events] == [f"n{i}" for i in range(5)]
    assert events[-1]["index"] == events[-1]["total"] == 5


def test_two_graphs_run_concurrently_from_threads():
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            g = Graph()
            img = g.add("load_image", id="img", path="sample:coins" if i % 2 else "sample:chelsea")
            seg = g.add("segment", id="seg", image=img, prompts=g.add("box_prompt", boxes=[[20, 20, 150, 150]]))
            tail = g.add("gt_const", id="c", value=float(i))
            for j in range(50):
                tail = g.add("gt_add", id=f"a{j}", x=tail)
            results[i] = (g.run(cache=ResultCache()), seg)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, (report, seg) in results.items():
        assert report.ok and report.value("a49") == float(i) + 50
        assert report.value(seg).image_size == ((303, 384) if i % 2 else (300, 451))


def test_set_param_errors():
    g = build_segment_graph()
    with pytest.raises(GraphError, match="no node 'nope'"):
        g.set_param("nope.engine", "x")
    with pytest.raises(GraphError, match="has no param 'engin'"):
        g.set_param("seg.engin", "x")
    with pytest.raises(GraphError, match="NODE.PARAM"):
        g.set_param("seg", "x")


def test_path_guard_refuses_files_outside_allowed_folders(tmp_path):
    from pathlib import Path

    allowed = tmp_path / "allowed"

    def guard(path: Path, mode: str) -> None:
        if not Path(path).resolve().is_relative_to(allowed.resolve()):
            raise InputError(f"{mode} outside the allowed folder: {path}")

    g = Graph()
    img = g.add("load_image", id="img", path="sample:coins")
    g.add("save_image", id="inside", image=img, path="ok.png")
    g.add("save_image", id="outside", image=img, path=str(tmp_path / "escape.png"))
    g.add("load_image", id="secret", path=str(tmp_path / "secret.png"))
    report = g.run(out_dir=allowed, path_guard=guard, cache=False)
    assert report["outputs"]["inside"] == str(allowed / "ok.png")
    assert "write outside the allowed folder" in report["nodes"]["outside"]["error"]
    assert "read outside the allowed folder" in report["nodes"]["secret"]["error"]
    assert not (tmp_path / "escape.png").exists()
    ckpt = tmp_path / "model.pth"
    ckpt.write_bytes(b"not read: the guard refuses first")
    g = Graph()
    g.add(
        "segment",
        id="seg",
        image=g.add("load_image", path="sample:coins"),
        prompts=g.add("point_prompt", points=[[50, 50]]),
        engine=str(ckpt),
    )
    report = g.run(path_guard=guard, cache=False)
    assert "read outside the allowed folder" in report["nodes"]["seg"]["error"]


def test_feeding_a_node_skips_its_upstream():
    CALLS.clear()
    g = chain(4)
    report = g.run(feed={"n2": 100.0}, cache=False)
    assert report["outputs"] == {"n3": 101.0}
    assert set(report["nodes"]) == {"n2", "n3"} and CALLS == {"gt_add": 1}
