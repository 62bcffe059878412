"""JSON and YAML documents (graph files, requests) parsed within limits.

:func:`parse_json` and :func:`parse_yaml` refuse, while parsing, what would exhaust
memory or the stack: integers wider than the ``int_bits`` limit (a ``10**400`` literal),
nesting deeper than ``graph_depth`` (no RecursionError), more than ``yaml_aliases``
aliases. :func:`check_document` then walks the result without recursion, counting every
value, including each use of a YAML alias (a "billion laughs" document is 525 bytes that
would expand to 10**9 strings), against ``graph_values``, and checks string lengths
(``string_chars``). Every error is a :class:`~sam_compose.errors.LimitError` naming
``source``.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InputError, LimitError
from . import limits

__all__ = ["check_document", "check_text_size", "parse_json", "parse_yaml"]


def check_text_size(text: str | bytes, source: str) -> None:
    """Refuse a document over the ``graph_bytes`` limit before parsing it."""
    size = len(text.encode("utf-8")) if isinstance(text, str) else len(text)
    limits.check("graph_bytes", size, source, "is it really a graph?")


def _int_checker(source: str) -> Any:
    bits = limits.get("int_bits")
    max_digits = len(str(2**bits)) + 1

    def parse_int(text: str) -> int:
        digits = len(text.lstrip("-+"))
        value = int(text) if digits <= max_digits else None
        if value is None or abs(value) >= 2**bits:
            raise limits.over(
                "int_bits",
                int(digits * 3.33),
                f"{source}: the integer {text[:24]}{'...' if len(text) > 24 else ''}",
                "use a smaller number",
            )
        return value

    return parse_int


def parse_json(text: str, source: str = "document") -> Any:
    """``json.loads`` within the limits (see the module docstring); JSON errors are InputError."""
    check_text_size(text, source)
    try:
        doc = json.loads(text, parse_int=_int_checker(source))
    except RecursionError:
        raise limits.over("graph_depth", 1000, f"{source}: nesting", "flatten the document") from None
    except LimitError:
        raise
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise InputError(f"{source} is not valid JSON: {exc}") from None
    check_document(doc, source)
    return doc


def parse_yaml(text: str, source: str = "document") -> Any:
    """``yaml.safe_load`` within the limits: aliases and nesting are counted while composing."""
    import yaml

    check_text_size(text, source)
    max_aliases, max_depth = limits.get("yaml_aliases"), limits.get("graph_depth")
    parse_int = _int_checker(source)

    class Loader(yaml.SafeLoader):
        aliases = 0
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > max_aliases:
                    raise limits.over(
                        "yaml_aliases", self.aliases, f"{source}: aliases (*name)", "write the values out"
                    )
            self.depth += 1
            if self.depth > max_depth:
                raise limits.over("graph_depth", self.depth, f"{source}: nesting", "flatten the document")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_yaml_int(self, node: Any) -> Any:
            text = str(node.value).replace("_", "")
            if text.lstrip("-+").isdigit():
                return parse_int(text)
            return super().construct_yaml_int(node)

    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    try:
        doc = yaml.load(text, Loader=Loader)
    except RecursionError:
        raise limits.over("graph_depth", 1000, f"{source}: nesting", "flatten the document") from None
    check_document(doc, source)
    return doc


def check_document(doc: Any, source: str = "document") -> None:
    """Walk ``doc`` (lists, dicts, scalars) without recursion, checking every limit above."""
    max_values, max_depth = limits.get("graph_values"), limits.get("graph_depth")
    max_chars, bits = limits.get("string_chars"), limits.get("int_bits")
    count = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > max_values:
            raise limits.over("graph_values", count, f"{source}: values", "is a YAML alias repeated many times?")
        if isinstance(value, (dict, list, tuple)):
            if depth > max_depth:
                raise limits.over("graph_depth", depth, f"{source}: nesting", "flatten the document")
            if isinstance(value, dict):
                for k, v in value.items():
                    stack.append((k, depth + 1))
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            if len(value) > max_chars:
                raise limits.over(
                    "string_chars",
                    len(value),
                    f"{source}: a string ({value[:30]!r}...)",
                    "keep long data in a file and give its path",
                )
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**bits:
            raise limits.over("int_bits", value.bit_length(), f"{source}: an integer", "use a smaller number")
