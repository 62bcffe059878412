"""Checking JSON-ish parameter values against Python type hints (``check_type``, ``type_name``)."""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["check_type", "type_name"]


def type_name(hint: Any) -> str:
    """A short readable name for a type hint (``int``, ``list[float]``, ``str | None``)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return "any"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def check_type(hint: Any, value: Any) -> Any:
    """Check a JSON-ish ``value`` against a type hint; return it normalised or raise TypeError.

    Understands ``int`` (integral floats accepted), ``float`` (ints accepted), ``bool``,
    ``str``, ``Literal``, ``X | None``, unions, ``list[X]``/``Sequence[X]``/``tuple``,
    ``dict[K, V]``; other classes by ``isinstance``; ``Any`` accepts everything.
    """
    if hint is Any or hint is inspect.Parameter.empty or (hint is None and value is None):
        return value
    if hint is type(None):
        if value is None:
            return None
        raise TypeError("expected null")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return check_type(args[0], value)
    if origin is typing.Union or isinstance(hint, types.UnionType):
        for arg in args:
            try:
                return check_type(arg, value)
            except TypeError:
                continue
        raise TypeError(f"expected {type_name(hint)}")
    if origin is Literal:
        if value in args:
            return value
        raise TypeError(f"expected one of {list(args)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError("expected true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError("expected an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError("expected a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError("expected a string")
    if origin in (list, tuple, cabc.Sequence, cabc.Iterable) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list ({type_name(hint)})")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise TypeError(f"expected {len(args)} items ({type_name(hint)})")
            return [check_type(a, v) for a, v in zip(args, value)]
        if args:
            try:
                return [check_type(args[0], v) for v in value]
            except TypeError as exc:
                raise TypeError(f"expected {type_name(hint)} ({exc} in an item)") from None
        return list(value)
    if origin in (dict, cabc.Mapping) or hint in (dict,):
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object ({type_name(hint)})")
        if len(args) == 2:
            return {check_type(args[0], k): check_type(args[1], v) for k, v in value.items()}
        return dict(value)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise TypeError(f"expected {hint.__name__}")
    return value
