"""``Param``: a node parameter's schema (default, range, choices, description, kind)."""

from __future__ import annotations

import typing
from typing import Any

from ..errors import GraphError
from .typecheck import check_type, type_name

__all__ = ["PARAM_KINDS", "REQUIRED", "Param", "ParamInfo"]

PARAM_KINDS = ("value", "path_in", "path_out", "model")
"""What a parameter's value means: a plain value, a file/folder/glob the node reads, a file the
node writes, or a model (a spec, a folder or a checkpoint). Servers guard every kind but
``value`` through one path guard before the node runs."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Marker default: the param (or input) must be given."""


def Param(
    default: Any = REQUIRED,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    choices: typing.Sequence[Any] | None = None,
    description: str = "",
    kind: str = "value",
) -> Any:
    """A node parameter's schema, written as the default of a keyword-only parameter::

        def segment_node(image: Image, *, engine: str = Param("opencv", kind="model")) -> Masks: ...

    Returns a :class:`ParamInfo`; the return type is ``Any`` (as pydantic's ``Field``) so that
    ``engine: str = Param(...)`` type-checks. See :class:`ParamInfo` for the arguments.
    """
    return ParamInfo(default, ge=ge, le=le, gt=gt, lt=lt, choices=choices, description=description, kind=kind)


class ParamInfo:
    """A node parameter's schema: default, range, choices and description.

    ``ge``/``le``/``gt``/``lt`` bound numbers; ``choices`` lists the allowed values;
    ``Param()`` without a default makes the parameter required. The Python type comes
    from the annotation of the keyword-only parameter it is the default of. ``kind`` says
    whether the value names something on disk (see :data:`PARAM_KINDS`).
    """

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        ge: float | None = None,
        le: float | None = None,
        gt: float | None = None,
        lt: float | None = None,
        choices: typing.Sequence[Any] | None = None,
        description: str = "",
        kind: str = "value",
    ) -> None:
        if kind not in PARAM_KINDS:
            raise ValueError(f"Param kind must be one of {PARAM_KINDS}, got {kind!r}")
        self.default = default
        self.kind = kind
        self.ge, self.le, self.gt, self.lt = ge, le, gt, lt
        self.choices = tuple(choices) if choices is not None else None
        self.description = description
        self.name: str = ""
        self.annotation: Any = Any

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def __repr__(self) -> str:
        return f"Param({self.default!r})" if not self.required else "Param()"

    def validate(self, value: Any, where: str) -> Any:
        """Return ``value`` (type-normalised) or raise :class:`GraphError` naming ``where``."""
        try:
            value = check_type(self.annotation, value)
        except TypeError as exc:
            raise GraphError(f"{where}: {exc}; got {value!r:.80}") from None
        if self.choices is not None and value not in self.choices:
            raise GraphError(f"{where}: {value!r} is not one of {list(self.choices)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for bound, ok, text in (
                (self.ge, lambda b: value >= b, ">="),
                (self.le, lambda b: value <= b, "<="),
                (self.gt, lambda b: value > b, ">"),
                (self.lt, lambda b: value < b, "<"),
            ):
                if bound is not None and not ok(bound):
                    raise GraphError(f"{where}: {value!r} is out of range; it must be {text} {bound}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON description (for UIs, tools and docs)."""
        d: dict[str, Any] = {"type": type_name(self.annotation), "description": self.description}
        if not self.required:
            d["default"] = self.default
        else:
            d["required"] = True
        for key in ("ge", "le", "gt", "lt"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.choices is not None:
            d["choices"] = list(self.choices)
        if self.kind != "value":
            d["kind"] = self.kind
        return d
