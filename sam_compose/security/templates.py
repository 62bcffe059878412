"""Output path templates such as ``frames/{frame:05d}.png``, checked before formatting.

The only field is ``frame`` (the index of the frame being written), with an optional
integer format of bounded width. ``str.format`` is never called on the user's text: a
field such as ``{frame:1500000000}`` would build a 1.5 GB string, ``{0}`` or ``{x.y}``
would fail with IndexError / AttributeError deep inside a writer.
"""

from __future__ import annotations

import re
import string

from ..errors import InputError
from . import limits

__all__ = ["check_template", "format_template", "has_template"]

_SPEC = re.compile(r"^(?P<fill>0)?(?P<width>\d*)(?P<type>d)?$")
_EXAMPLE = "use {frame} or {frame:05d}, e.g. frames/{frame:05d}.png; write {{ and }} for literal braces"


def has_template(text: str) -> bool:
    """True when ``text`` holds a ``{...}`` field."""
    return "{" in text or "}" in text


def check_template(text: str, what: str = "path template") -> list[tuple[str, int]]:
    """The parts of ``text``: ``(literal, -1)`` or ``("", width)`` for each ``{frame}`` field.

    Raises :class:`InputError` for any other field, a conversion, a format that is not
    an integer format, unbalanced braces, and :class:`LimitError` for a width over the
    ``template_width`` limit.
    """
    parts: list[tuple[str, int]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InputError(f"{what} {text[:120]!r} has unbalanced braces ({exc}); {_EXAMPLE}") from None
    for literal, field, spec, conversion in parsed:
        if literal:
            parts.append((literal, -1))
        if field is None:
            continue
        if field != "frame" or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise InputError(f"{what} {text[:120]!r}: field {shown[:40]} is not allowed; {_EXAMPLE}")
        m = _SPEC.match(spec or "")
        if m is None:
            raise InputError(
                f"{what} {text[:120]!r}: format {(spec or '')[:40]!r} of {{frame}} is not an integer format; {_EXAMPLE}"
            )
        digits = m.group("width") or "0"
        width = int(digits) if len(digits) <= 18 else 10**18
        limits.check("template_width", width, f"{what} {text[:120]!r}", "use a width such as {frame:05d}")
        parts.append(("0" if m.group("fill") else "", width))
    return parts


def format_template(text: str, frame: int | None, what: str = "path template") -> str:
    """``text`` with every ``{frame}`` field replaced by ``frame`` (0 when None)."""
    out: list[str] = []
    index = 0 if frame is None else int(frame)
    for literal, width in check_template(text, what):
        if width < 0:
            out.append(literal)
        else:
            out.append(str(index).rjust(width, "0" if literal == "0" else " ") if width else str(index))
    return "".join(out)
