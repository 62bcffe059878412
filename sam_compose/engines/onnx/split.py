"""Splitting an exported decoder into a once-per-image part and a per-prompt part (engine side).

``decoder.onnx`` takes the image's embedding and one batch of prompts and recomputes, on
every call, everything that depends only on the image: the flattened and transposed image
tokens, the image tokens plus the "no mask" dense embedding, the tokens plus their
positional encoding, and (without a mask prompt) the whole mask-embedding branch run on an
all-zero ``mask_input``. The ``onnx:`` engine loads the same file twice more, in memory:

* ``image_side``: the decoder's inputs fixed to "no mask" (``mask_input`` zeros,
  ``has_mask_input`` 0), cut down to the nodes that depend on the image inputs only; it
  runs once per image and its outputs (the *frontier*) are cached with the embedding;
* ``prompt_side``: the rest, fed with the frontier tensors and the prompts' points.

The two together compute exactly the nodes of the original graph (same operators, same
order of floating-point operations), so results are those of ``decoder.onnx`` with a zero
mask; prompts with a mask input still run the whole ``decoder.onnx``. The files on disk and
the contract in ``sam_onnx.json`` are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NO_MASK_INPUTS = ("mask_input", "has_mask_input")


@dataclass(frozen=True)
class SplitDecoder:
    """Serialised ``image_side`` and ``prompt_side`` models and the names that join them.

    ``frontier``: ``image_side``'s outputs, inputs of ``prompt_side`` by the same names;
    ``passthrough``: decoder inputs that ``prompt_side`` still reads directly (e.g. a shape
    taken from the embedding); ``prompt_inputs``: the prompt tensors it reads.
    """

    image_side: bytes
    prompt_side: bytes
    image_inputs: tuple[str, ...]
    frontier: tuple[str, ...]
    passthrough: tuple[str, ...]
    prompt_inputs: tuple[str, ...]


def _no_mask_constants(model: Any) -> dict[str, np.ndarray]:
    """``mask_input`` (1, 1, S, S) zeros and ``has_mask_input`` (1,) zero, sized from the graph."""
    dims = {}
    for inp in model.graph.input:
        dims[inp.name] = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    side = dims["mask_input"][-2:]
    return {"mask_input": np.zeros((1, 1, *side), np.float32), "has_mask_input": np.zeros((1,), np.float32)}


def split_decoder(data: bytes, image_inputs: tuple[str, ...]) -> SplitDecoder | None:
    """Split a serialised ``decoder.onnx`` (see the module docstring); ``None`` when the graph
    offers nothing to split or lacks the type information the cut needs."""
    import onnx
    from onnx import numpy_helper, shape_inference
    from onnx.utils import Extractor

    model = onnx.load_from_string(data)
    names = {i.name for i in model.graph.input}
    if not set(NO_MASK_INPUTS) <= names or not set(image_inputs) <= names:
        return None
    fixed = _no_mask_constants(model)
    kept = [i for i in model.graph.input if i.name not in fixed]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model.graph.initializer.extend(numpy_helper.from_array(a, name) for name, a in fixed.items())
    model = shape_inference.infer_shapes(model)
    constant = {t.name for t in model.graph.initializer} | {""}
    derived = set(image_inputs)  # tensors computed from the image inputs (and constants) only
    image_nodes = set()
    for i, node in enumerate(model.graph.node):
        if any(a.type == onnx.AttributeProto.GRAPH for a in node.attribute):
            continue
        ins = set(node.input)
        if node.op_type == "Constant" or ins <= constant:
            constant.update(node.output)
        elif ins <= derived | constant:
            derived.update(node.output)
            image_nodes.add(i)
    outputs = [o.name for o in model.graph.output]
    frontier: list[str] = []
    for i, node in enumerate(model.graph.node):
        if i in image_nodes:
            continue
        frontier.extend(t for t in node.input if t in derived and t not in frontier)
    frontier.extend(t for t in outputs if t in derived and t not in frontier)
    passthrough = tuple(t for t in frontier if t in image_inputs)
    cut = tuple(t for t in frontier if t not in image_inputs)
    typed = {v.name for v in model.graph.value_info}
    if not cut or any(t not in typed for t in cut) or any(t in outputs for t in cut):
        return None
    prompt_inputs = tuple(i.name for i in model.graph.input if i.name not in image_inputs)
    extractor = Extractor(model)
    image_side = extractor.extract_model(list(image_inputs), list(cut))
    prompt_side = extractor.extract_model([*passthrough, *cut, *prompt_inputs], outputs)
    for part in (image_side, prompt_side):
        del part.opset_import[:]
        part.opset_import.extend(model.opset_import)
        part.ir_version = model.ir_version
    return SplitDecoder(
        image_side.SerializeToString(),
        prompt_side.SerializeToString(),
        tuple(image_inputs),
        cut,
        passthrough,
        prompt_inputs,
    )


__all__ = ["NO_MASK_INPUTS", "SplitDecoder", "split_decoder"]
