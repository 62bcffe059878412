"""Point cloud files: PLY (binary and ASCII) and GLB (binary glTF 2.0), written and read back.

PLY (Stanford polygon format): one ``vertex`` element with ``float x, y, z``, optional
``uchar red, green, blue`` and optional extra scalar properties (e.g. ``int label``).
Readable by MeshLab, CloudCompare, Open3D, trimesh and :func:`read_ply`.

GLB: a glTF 2.0 binary container (12-byte header, a JSON chunk, a BIN chunk) with one mesh
whose primitive has ``mode`` 0 (POINTS), a ``POSITION`` accessor (float VEC3 with min/max)
and a ``COLOR_0`` accessor (normalised unsigned byte VEC4). ``gr.Model3D``, three.js,
Blender and any glTF viewer open it. glTF is y-up with the camera looking down -z, while
the camera frame of :mod:`.camera` is y-down, z-forward, so :func:`write_glb` flips y and z
by default (``gltf_axes=True``); :func:`read_glb_points` undoes it.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError


def _existing(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} file not found: {p}")
    return p


# --- PLY ---------------------------------------------------------------------------------

_PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
_NUMPY_TO_PLY = {
    "i1": "char",
    "u1": "uchar",
    "i2": "short",
    "u2": "ushort",
    "i4": "int",
    "u4": "uint",
    "f4": "float",
    "f8": "double",
}


def _check_points(points: Any, colors: Any) -> tuple[np.ndarray, np.ndarray | None]:
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must have shape (N, 3), got {pts.shape}")
    if not np.isfinite(pts).all():
        raise InputError("points contain NaN or infinite coordinates; drop them before writing")
    cols = None
    if colors is not None:
        cols = np.asarray(colors)
        if cols.shape != pts.shape:
            raise InputError(f"colors must have shape {pts.shape} (uint8 RGB per point), got {cols.shape}")
        if cols.dtype != np.uint8:
            raise InputError(f"colors must be uint8 RGB, got dtype {cols.dtype}")
    return pts, cols


def write_ply(
    path: str | os.PathLike,
    points: Any,
    colors: Any = None,
    *,
    binary: bool = True,
    extra: Mapping[str, Any] | None = None,
    comment: str = "written by sam_compose",
) -> Path:
    """Write an (N, 3) point array (float32 x, y, z) with optional (N, 3) uint8 colours.

    ``extra`` maps property names to (N,) arrays of a PLY scalar type (int32 labels, float
    confidences, ...). ``binary=True`` writes binary little endian, else ASCII.
    """
    pts, cols = _check_points(points, colors)
    n = len(pts)
    fields: list[tuple[str, str]] = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if cols is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    extras: dict[str, np.ndarray] = {}
    for name, arr in (extra or {}).items():
        a = np.asarray(arr).reshape(-1)
        if a.shape != (n,):
            raise InputError(f"extra PLY property {name!r} must have {n} values, got {a.shape}")
        if a.dtype.kind == "b":
            a = a.astype(np.uint8)
        if a.dtype.kind == "i" and a.dtype.itemsize == 8:
            a = a.astype(np.int32)
        if a.dtype.kind == "u" and a.dtype.itemsize == 8:
            a = a.astype(np.uint32)
        code = a.dtype.str.lstrip("<>|=")
        if code not in _NUMPY_TO_PLY:
            raise InputError(f"extra PLY property {name!r} has dtype {a.dtype}; use an integer or float type")
        extras[name] = a
        fields.append((name, "<" + code if a.dtype.itemsize > 1 else code))
    rec = np.empty(n, dtype=fields)
    rec["x"], rec["y"], rec["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    if cols is not None:
        rec["red"], rec["green"], rec["blue"] = cols[:, 0], cols[:, 1], cols[:, 2]
    for name, a in extras.items():
        rec[name] = a
    header = [
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        f"comment {comment}",
        f"element vertex {n}",
    ]
    for name, code in fields:
        header.append(f"property {_NUMPY_TO_PLY[code.lstrip('<')]} {name}")
    header.append("end_header")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        if binary:
            f.write(rec.tobytes())
        else:
            fmts = ["%.9g" if code.lstrip("<")[0] == "f" else "%d" for _, code in fields]
            np.savetxt(f, rec, fmt=" ".join(fmts))
    os.replace(tmp, path)
    return path


def read_ply(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the ``vertex`` element of a PLY file (ASCII or binary, either endianness).

    Returns ``{"points": (N, 3) float32, "colors": (N, 3) uint8 (if present), <name>: (N,)}``
    for every other scalar vertex property. Elements after ``vertex`` (faces) are ignored.
    """
    path = _existing(path, "PLY")
    with open(path, "rb") as f:
        if f.readline().strip() != b"ply":
            raise InputError(f"{path} is not a PLY file (it must start with 'ply')")
        fmt = None
        elements: list[tuple[str, int, list[tuple[str, str]]]] = []
        while True:
            line = f.readline()
            if not line:
                raise InputError(f"{path}: PLY header has no end_header")
            words = line.decode("ascii", "replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append((words[1], int(words[2]), []))
            elif words[0] == "property":
                if not elements:
                    raise InputError(f"{path}: PLY property before any element")
                if words[1] == "list":
                    elements[-1][2].append((words[-1], "list"))
                else:
                    if words[1] not in _PLY_TYPES:
                        raise InputError(f"{path}: unknown PLY property type {words[1]!r}")
                    elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
        if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise InputError(f"{path}: unsupported PLY format {fmt!r}")
        if not elements or elements[0][0] != "vertex":
            raise InputError(f"{path}: expected the first PLY element to be 'vertex'")
        _, n, props = elements[0]
        if any(code == "list" for _, code in props):
            raise InputError(f"{path}: list properties in the vertex element are not supported")
        if fmt == "ascii":
            rows = [f.readline() for _ in range(n)]
            table = np.loadtxt(rows, dtype=np.float64, ndmin=2) if n else np.zeros((0, len(props)))
            if table.shape != (n, len(props)):
                raise InputError(f"{path}: expected {n} vertex rows of {len(props)} values, got {table.shape}")
            cols = {name: table[:, j].astype(code) for j, (name, code) in enumerate(props)}
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            dt = np.dtype([(name, order + code) for name, code in props])
            buf = f.read(dt.itemsize * n)
            if len(buf) != dt.itemsize * n:
                raise InputError(f"{path}: truncated binary PLY ({len(buf)} of {dt.itemsize * n} vertex bytes)")
            rec = np.frombuffer(buf, dtype=dt)
            cols = {name: rec[name].astype(rec[name].dtype.newbyteorder("=")) for name, _ in props}
    for axis in "xyz":
        if axis not in cols:
            raise InputError(f"{path}: vertex element has no {axis!r} property")
    out: dict[str, np.ndarray] = {"points": np.stack([cols.pop(a) for a in "xyz"], axis=1).astype(np.float32)}
    if all(c in cols for c in ("red", "green", "blue")):
        out["colors"] = np.stack([cols.pop(c) for c in ("red", "green", "blue")], axis=1).astype(np.uint8)
    out.update(cols)
    return out


# --- GLB (glTF 2.0 binary) -------------------------------------------------------------------

GLB_MAGIC = 0x46546C67  # b"glTF"
CHUNK_JSON = 0x4E4F534A  # b"JSON"
CHUNK_BIN = 0x004E4942  # b"BIN\0"
_FLOAT, _UBYTE, _UINT = 5126, 5121, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_GLTF_FLIP = np.array([1.0, -1.0, -1.0], dtype=np.float32)


def _pad4(data: bytes, fill: bytes) -> bytes:
    return data + fill * ((4 - len(data) % 4) % 4)


# An octahedron around each point for ``splat``: 6 vertices (+x, -x, +y, -y, +z, -z) and
# 8 outward-facing (counter-clockwise) triangles.
_OCTA_VERTS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float32)
_OCTA_FACES = np.array(
    [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]], np.uint32
)


def glb_bytes(points: Any, colors: Any = None, *, gltf_axes: bool = True, splat: float | None = None) -> bytes:
    """A GLB file's bytes: one POINTS primitive with POSITION and COLOR_0 (RGBA8).

    ``splat`` (a size in the points' units, e.g. 0.005 m) writes each point as a small
    coloured octahedron instead (a TRIANGLES primitive with indices): viewers that draw
    POINTS one pixel wide then show a solid-looking cloud. :func:`read_glb_points`
    recovers the points from either form.
    """
    pts, cols = _check_points(points, colors)
    if len(pts) == 0:
        raise InputError("cannot write a GLB with no points; the point cloud is empty")
    if cols is None:
        cols = np.full(pts.shape, 200, dtype=np.uint8)
    pos = pts.astype(np.float32)
    indices = None
    if splat is not None:
        if not (np.isfinite(splat) and splat > 0):
            raise InputError(f"splat must be a positive size, got {splat!r}")
        n_pts = len(pos)
        pos = (pos[:, None, :] + _OCTA_VERTS[None] * np.float32(splat / 2.0)).reshape(-1, 3)
        cols = np.repeat(cols, 6, axis=0)
        indices = (_OCTA_FACES[None] + 6 * np.arange(n_pts, dtype=np.uint32)[:, None, None]).reshape(-1)
    pos = np.ascontiguousarray(pos * (_GLTF_FLIP if gltf_axes else np.float32(1.0)), dtype="<f4")
    rgba = np.concatenate([cols, np.full((len(cols), 1), 255, np.uint8)], axis=1)
    pos_bytes, col_bytes = pos.tobytes(), np.ascontiguousarray(rgba).tobytes()
    binary = pos_bytes + col_bytes  # both are multiples of 4 bytes
    n = len(pos)
    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "sam_compose"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "point_cloud"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "mode": 0}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(pos_bytes), "target": _ARRAY_BUFFER},
            {"buffer": 0, "byteOffset": len(pos_bytes), "byteLength": len(col_bytes), "target": _ARRAY_BUFFER},
        ],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": _FLOAT,
                "count": n,
                "type": "VEC3",
                "min": pos.min(axis=0).astype(float).tolist(),
                "max": pos.max(axis=0).astype(float).tolist(),
            },
            {"bufferView": 1, "componentType": _UBYTE, "normalized": True, "count": n, "type": "VEC4"},
        ],
    }
    if indices is not None and splat is not None:  # (both are set together, above)
        idx_bytes = np.ascontiguousarray(indices, dtype="<u4").tobytes()
        doc["bufferViews"].append(
            {"buffer": 0, "byteOffset": len(binary), "byteLength": len(idx_bytes), "target": _ELEMENT_ARRAY_BUFFER}
        )
        doc["accessors"].append({"bufferView": 2, "componentType": _UINT, "count": int(indices.size), "type": "SCALAR"})
        prim = doc["meshes"][0]["primitives"][0]
        prim["mode"], prim["indices"] = 4, 2
        prim["extras"] = {"sam_compose_splat": float(splat)}
        binary += idx_bytes
        doc["buffers"][0]["byteLength"] = len(binary)
    json_chunk = _pad4(json.dumps(doc, separators=(",", ":")).encode("utf-8"), b" ")
    bin_chunk = _pad4(binary, b"\x00")
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    return b"".join(
        [
            struct.pack("<III", GLB_MAGIC, 2, total),
            struct.pack("<II", len(json_chunk), CHUNK_JSON),
            json_chunk,
            struct.pack("<II", len(bin_chunk), CHUNK_BIN),
            bin_chunk,
        ]
    )


def write_glb(
    path: str | os.PathLike, points: Any, colors: Any = None, *, gltf_axes: bool = True, splat: float | None = None
) -> Path:
    """Write points (and uint8 RGB colours) as a GLB point cloud; see :func:`glb_bytes`."""
    data = glb_bytes(points, colors, gltf_axes=gltf_axes, splat=splat)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def read_glb(path: str | os.PathLike) -> tuple[dict[str, Any], bytes]:
    """Parse a GLB container: checks the header and returns (glTF JSON, BIN chunk bytes)."""
    data = _existing(path, "GLB").read_bytes()
    if len(data) < 20:
        raise InputError(f"{path} is too short to be a GLB file ({len(data)} bytes)")
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC:
        raise InputError(f"{path} is not a GLB file (magic {magic:#x}, expected 'glTF')")
    if version != 2:
        raise InputError(f"{path} is glTF version {version}; only version 2 is supported")
    if length != len(data):
        raise InputError(f"{path}: header says {length} bytes, file has {len(data)}")
    offset, doc, binary = 12, None, b""
    while offset < length:
        clen, ctype = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8 : offset + 8 + clen]
        if ctype == CHUNK_JSON:
            doc = json.loads(chunk.decode("utf-8"))
        elif ctype == CHUNK_BIN:
            binary = chunk
        offset += 8 + clen
    if doc is None:
        raise InputError(f"{path}: GLB has no JSON chunk")
    return doc, binary


def _accessor(doc: dict[str, Any], binary: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
    dtype = {_FLOAT: "<f4", _UBYTE: "u1", 5123: "<u2", 5125: "<u4"}[acc["componentType"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    count = acc["count"]
    return np.frombuffer(binary, dtype=dtype, count=count * width, offset=start).reshape(count, width)


def read_glb_points(path: str | os.PathLike, *, gltf_axes: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Points (N, 3) float32 and colours (N, 3) uint8 (or None) of the first primitive of a GLB."""
    doc, binary = read_glb(path)
    prim = doc["meshes"][0]["primitives"][0]
    pos = _accessor(doc, binary, prim["attributes"]["POSITION"]).astype(np.float32)
    if gltf_axes:
        pos = pos * _GLTF_FLIP
    cols = None
    if "COLOR_0" in prim["attributes"]:
        c = _accessor(doc, binary, prim["attributes"]["COLOR_0"])
        cols = (c[:, :3] if c.dtype == np.uint8 else np.round(c[:, :3] * 255)).astype(np.uint8)
    if "sam_compose_splat" in (prim.get("extras") or {}):  # octahedra: one point per 6 vertices
        pos = pos.reshape(-1, 6, 3).mean(axis=1)
        cols = None if cols is None else cols[::6]
    return pos, cols
