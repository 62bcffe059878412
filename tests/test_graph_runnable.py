"""A graph as a LangChain Runnable: invoke, batch, stream, and as a step of an LCEL chain."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda, RunnableParallel

from sam_compose.engines.registry import shared_engine
from sam_compose.geometry import mask_iou
from sam_compose.graph import Graph, GraphError, GraphRunError
from sam_compose.graph.runnable import GraphRunnable
from sam_compose.masks import Masks


def segment_graph() -> Graph:
    g = Graph()
    img = g.add("load_image", id="img", path="sample:coins")
    box = g.add("box_prompt", id="box", boxes=[[0, 0, 10, 10]])
    g.add("segment", id="seg", image=img, prompts=box, engine="opencv")
    return g


def test_graph_is_a_runnable_in_an_lcel_chain(scene):
    g = segment_graph()
    runnable = g.as_runnable(input="img", output="seg")
    assert isinstance(runnable, Runnable)
    # scene -> (image fed into 'img', box param overridden) -> Masks -> IoU
    chain = (
        RunnableLambda(lambda i: {"img": scene.image, "box.boxes": [[float(v) for v in scene.boxes[i]]]})
        | g.as_runnable(output="seg")
        | RunnableLambda(lambda m: m.masks[0])
    )
    for i in range(len(scene.boxes)):
        assert mask_iou(chain.invoke(i), scene.masks[i]) >= 0.9
    masks = runnable.invoke(scene.image)
    assert isinstance(masks, Masks) and masks.image_size == scene.image.shape[:2]


def test_batch_and_stream():
    eng = shared_engine("opencv")
    boxes = GraphRunnable(segment_graph(), input="box.boxes", output=["seg", "img"])
    before = eng.stats.embeddings_computed
    results = boxes.batch([[[10, 10, 80, 80]], [[100, 100, 200, 200]], [[10, 10, 80, 80]]])
    assert [len(r["seg"]) for r in results] == [1, 1, 1]
    assert np.array_equal(results[0]["seg"].masks, results[2]["seg"].masks)
    assert eng.stats.embeddings_computed - before <= 1  # one image: one embedding shared by the batch
    assert all(r["img"].shape == (303, 384, 3) for r in results)
    chunks = list(boxes.stream([[10, 10, 80, 80]]))
    assert len(chunks) == 1 and set(chunks[0]) == {"seg", "img"}


def test_stream_over_video_frames_in_a_chain(tmp_path):
    import cv2

    for i in range(3):
        f = np.full((40, 50, 3), 30 * i, np.uint8)
        cv2.imwrite(str(tmp_path / f"{i}.png"), f)
    g = Graph()
    g.add(
        "overlay",
        id="ov",
        image=g.add("load_video", id="vid", path=str(tmp_path)),
        masks=g.add("generate", id="auto", image="vid", points_per_side=4, max_masks=1),
    )
    runnable = g.as_runnable(input="vid.path", output="ov")
    frames = list(runnable.stream(str(tmp_path)))
    assert len(frames) == 3 and all(f.shape == (40, 50, 3) for f in frames)

    async def collect():
        return [f.shape async for f in runnable.astream(str(tmp_path))], await runnable.ainvoke(str(tmp_path))

    import asyncio

    shapes, last = asyncio.run(collect())
    assert shapes == [(40, 50, 3)] * 3 and last.shape == (40, 50, 3)

    # a generator step downstream receives the frames one by one as they are produced
    def first_pixels(frames):
        for f in frames:
            yield int(f[0, 0, 0])

    chain = runnable | RunnableGenerator(first_pixels)
    firsts = list(chain.stream(str(tmp_path)))
    assert len(firsts) == 3 and firsts[0] < firsts[1] < firsts[2]


def test_report_output_summary_and_errors():
    g = segment_graph()
    report = g.as_runnable().invoke({"box.boxes": [[5, 5, 60, 60]]})
    assert report.ok and set(report["outputs"]) == {"seg"}
    summary = g.as_runnable(summary=True).invoke(None)
    assert summary["outputs"]["seg"]["type"] == "masks"
    parallel = RunnableParallel(a=g.as_runnable(input="box.boxes", output="seg"), b=RunnableLambda(len))
    out = parallel.invoke([[5, 5, 60, 60]])
    assert out["b"] == 1 and len(out["a"]) == 1
    with pytest.raises(GraphRunError, match="node 'img' failed"):
        g.as_runnable(input="img.path", output="seg").invoke("/no/such/file.png")
    with pytest.raises(GraphError, match="dict"):
        g.as_runnable().invoke("not a dict")
    with pytest.raises(GraphError, match="no param 'nope'"):
        g.as_runnable().invoke({"seg.nope": 1})
    with pytest.raises(GraphError, match="not a node"):
        g.as_runnable(input="ghost")
