"""Port types: what flows along the edges of a node graph.

Each port type is an ``Annotated`` alias over the Python type that actually travels,
so a node reads like ordinary typed Python and type checkers see the real type::

    from sam_compose.nodes.ports import Image, Masks
    def overlay_node(image: Image, masks: Masks) -> Image: ...   # Image is np.ndarray to mypy

The graph runtime reads the :class:`PortType` marker out of the annotation to check
connections before anything runs (:func:`connection`) and values while running
(:meth:`PortType.check`).

Port types and what they carry:

============  ==============================================================================
Image         ``np.ndarray`` (H, W, 3) uint8 RGB
Video         an iterable of Image frames (a stream; see "Video" in docs/graphs.md)
Prompts       ``list[sam_compose.Prompt]`` (a single Prompt is accepted and wrapped)
Masks         :class:`sam_compose.Masks` (N, H, W) bool at the image size, with scores/logits
Gaze          gaze samples or fixations (``GazeSamples`` or a list of ``Fixation``)
Depth         ``np.ndarray`` (H, W) float, metres
PointCloud    a point cloud object (``.points`` (N, 3), ``.colors``)
FilePath      ``str`` path of a file written or read
Text          ``str``
Number        ``int`` or ``float``
JSON          any JSON-able value (dict, list, str, number, bool, None)
Any           anything; checked by the receiving node at run time
============  ==============================================================================

Compatibility (output -> input): identical types; anything -> ``Any`` and ``Any`` ->
anything (checked at run time); ``Video`` -> ``Image`` runs the receiving node once per
frame; ``FilePath`` <-> ``Text``; ``Text``/``FilePath``/``Number`` -> ``JSON``.
Everything else (``Masks`` into an ``Image`` input, ...) is an error before the run.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated
from typing import Any as _Any

import numpy as np

from ..masks import Masks as _MasksClass
from ..types import Prompt as _Prompt


@dataclass(frozen=True)
class PortType:
    """A named port type with an optional run-time value check.

    ``check(value)`` returns the (possibly normalised) value or raises ``TypeError``
    with a message saying what was expected.
    """

    name: str
    description: str = ""
    checker: Callable[[_Any], _Any] | None = field(default=None, compare=False, repr=False)

    def check(self, value: _Any) -> _Any:
        """Return ``value`` (normalised) if it fits this port type, else raise ``TypeError``."""
        if self.checker is None:
            return value
        return self.checker(value)

    def __str__(self) -> str:
        return self.name


def _describe(value: _Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} dtype {value.dtype}"
    return type(value).__name__


def _check_image(value: _Any) -> _Any:
    if not (isinstance(value, np.ndarray) and value.ndim == 3 and value.shape[2] == 3 and value.dtype == np.uint8):
        raise TypeError(f"expected an (H, W, 3) uint8 RGB image, got {_describe(value)}")
    return value


def _check_masks(value: _Any) -> _Any:
    if not isinstance(value, _MasksClass):
        raise TypeError(f"expected sam_compose.Masks, got {_describe(value)}")
    return value


def _check_prompts(value: _Any) -> _Any:
    if isinstance(value, _Prompt):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(p, _Prompt) for p in value):
        return list(value)
    raise TypeError(f"expected a list of sam_compose.Prompt, got {_describe(value)}")


def _check_video(value: _Any) -> _Any:
    if isinstance(value, (str, bytes, np.ndarray)) or not isinstance(value, Iterable):
        raise TypeError(f"expected an iterable of frames, got {_describe(value)}")
    return value


def _check_depth(value: _Any) -> _Any:
    if not (isinstance(value, np.ndarray) and value.ndim == 2):
        raise TypeError(f"expected an (H, W) depth array, got {_describe(value)}")
    return value


def _check_str(value: _Any) -> _Any:
    import os

    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {_describe(value)}")
    return value


def _check_number(value: _Any) -> _Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"expected a number, got {_describe(value)}")
    return value


def _check_pointcloud(value: _Any) -> _Any:
    if not hasattr(value, "points"):
        raise TypeError(f"expected a point cloud with .points, got {_describe(value)}")
    return value


IMAGE = PortType("Image", "(H, W, 3) uint8 RGB image", _check_image)
VIDEO = PortType("Video", "a stream (iterable) of (H, W, 3) uint8 RGB frames", _check_video)
PROMPTS = PortType("Prompts", "list of sam_compose.Prompt", _check_prompts)
MASKS = PortType("Masks", "sam_compose.Masks (N, H, W) bool", _check_masks)
GAZE = PortType("Gaze", "gaze samples or fixations")
DEPTH = PortType("Depth", "(H, W) float depth map in metres", _check_depth)
POINTCLOUD = PortType("PointCloud", "point cloud with .points (N, 3) and .colors", _check_pointcloud)
FILEPATH = PortType("FilePath", "path of a file", _check_str)
TEXT = PortType("Text", "a string", _check_str)
NUMBER = PortType("Number", "an int or float", _check_number)
JSON_T = PortType("JSON", "a JSON-able value")
ANY = PortType("Any", "any value, checked by the receiving node")

PORT_TYPES: dict[str, PortType] = {
    p.name: p for p in (IMAGE, VIDEO, PROMPTS, MASKS, GAZE, DEPTH, POINTCLOUD, FILEPATH, TEXT, NUMBER, JSON_T, ANY)
}

# The aliases node authors annotate with (Annotated keeps the real type for type checkers).
Image = Annotated[np.ndarray, IMAGE]
Video = Annotated[Iterable[np.ndarray], VIDEO]
Prompts = Annotated[list[_Prompt], PROMPTS]
Masks = Annotated[_MasksClass, MASKS]
Gaze = Annotated[_Any, GAZE]
Depth = Annotated[np.ndarray, DEPTH]
PointCloud = Annotated[_Any, POINTCLOUD]
FilePath = Annotated[str, FILEPATH]
Text = Annotated[str, TEXT]
Number = Annotated[float, NUMBER]
JSON = Annotated[_Any, JSON_T]
Any = Annotated[_Any, ANY]

# (source, destination) pairs that connect although the names differ.
_EXTRA_COMPATIBLE = {
    ("FilePath", "Text"),
    ("Text", "FilePath"),
    ("Text", "JSON"),
    ("FilePath", "JSON"),
    ("Number", "JSON"),
}


def register_port_type(port: PortType, compatible_with: Iterable[tuple[str, str]] = ()) -> _Any:
    """Add a port type (for third-party nodes) and return its ``Annotated[Any, port]`` alias.

    ``compatible_with`` adds (source name, destination name) pairs that may connect.
    """
    if port.name in PORT_TYPES and PORT_TYPES[port.name] is not port:
        raise ValueError(f"port type {port.name!r} already exists; choose another name")
    PORT_TYPES[port.name] = port
    _EXTRA_COMPATIBLE.update(compatible_with)
    return Annotated[_Any, port]


def connection(source: PortType, dest: PortType) -> str | None:
    """How an output of type ``source`` feeds an input of type ``dest``.

    Returns ``"direct"`` (value passed as is), ``"per_frame"`` (a Video stream into an
    Image input: the receiving node runs once per frame) or ``None`` (not allowed).
    """
    if source.name == dest.name or dest.name == "Any" or source.name == "Any":
        return "direct"
    if source.name == "Video" and dest.name == "Image":
        return "per_frame"
    if (source.name, dest.name) in _EXTRA_COMPATIBLE:
        return "direct"
    return None


def port_of(hint: _Any) -> tuple[PortType, bool]:
    """The :class:`PortType` in a type hint and whether the hint allows ``None``.

    Accepts the aliases above, ``X | None`` / ``Optional[X]``, a bare :class:`PortType`
    and plain Python types (``np.ndarray`` -> Image, ``Masks`` -> Masks, ``str`` -> Text,
    ``int``/``float`` -> Number, ``dict``/``list`` -> JSON); anything else is ``Any``.
    """
    optional = False
    origin = typing.get_origin(hint)
    if origin is typing.Union or isinstance(hint, types.UnionType):  # Optional[X] or X | None
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) != len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else _Any
        origin = typing.get_origin(hint)
    if isinstance(hint, PortType):
        return hint, optional
    if origin is Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, PortType):
                return meta, optional
        hint = typing.get_args(hint)[0]
    plain = {np.ndarray: IMAGE, _MasksClass: MASKS, str: TEXT, int: NUMBER, float: NUMBER, dict: JSON_T, list: JSON_T}
    try:
        return plain.get(hint, ANY), optional
    except TypeError:  # unhashable hint
        return ANY, optional


__all__ = [
    "JSON",
    "PORT_TYPES",
    "Any",
    "Depth",
    "FilePath",
    "Gaze",
    "Image",
    "Masks",
    "Number",
    "PointCloud",
    "PortType",
    "Prompts",
    "Text",
    "Video",
    "connection",
    "port_of",
    "register_port_type",
]
