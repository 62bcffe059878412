"""The ``sam-compose`` command line.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``main(args) -> int``; this file only dispatches and turns errors into one line on
stderr with exit code 2 (bad input) or 1 (anything else).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from ._version import __version__
from .errors import SamComposeError, missing_dependency

COMMANDS: dict[str, tuple[str, str]] = {
    "segment": ("sam_compose.commands.segment", "segment an image from points, boxes, text, gaze or a prior mask"),
    "run": ("sam_compose.graph.command", "run a graph file (JSON or YAML)"),
    "batch": (
        "sam_compose.batch.command",
        "run a graph over a folder, glob or list of files (resumable; local or Ray)",
    ),
    "demo": ("sam_compose.app.command", "launch the Gradio demo"),
    "models": ("sam_compose.engines.models_command", "list, download or verify model checkpoints"),
    "mcp": ("sam_compose.integrations.mcp_command", "serve the tools over MCP (stdio by default)"),
    "export": ("sam_compose.deploy.command", "export a model's encoder and decoder to ONNX (engine onnx:DIR)"),
}


ACCESS_NOTE = (
    "Files: the command line reads and writes any path you give it, with your own rights. "
    "The servers (demo, mcp) confine every request to their allowed folders and limits; "
    "see docs/security.md. Limits (pixels, file sizes, graph nesting, ...) apply everywhere "
    "and are raised with SAM_COMPOSE_MAX_* variables."
)


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A :data:`warnings.formatwarning` that prints only ``warning: MESSAGE``."""
    return f"warning: {message}\n"


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit code 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {' '.join(message.split())} (see {self.prog} --help)\n")


_NEGATIVE = re.compile(r"^-(\d|\.\d)[\d.,eE+-]*$")


def join_negative_values(argv: Sequence[str], value_options: set[str]) -> list[str]:
    """``--point -5,-5`` -> ``--point=-5,-5``: a value that starts with a minus sign is a number
    (coordinates), not an option, after an option that takes a value."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        a = args[i]
        if a in value_options and i + 1 < len(args) and _NEGATIVE.match(args[i + 1]):
            out.append(f"{a}={args[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:  # argparse has no public listing
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            elif action.option_strings and action.nargs != 0:
                found.update(o for o in action.option_strings if o.startswith("--"))
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sam-compose",
        description="Composable Segment Anything: prompts in, masks out, on the command line.",
        epilog=ACCESS_NOTE,
    )
    parser.add_argument("--version", action="version", version=f"sam-compose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # this command's module is not part of this build
            raise
        p = sub.add_parser(
            name, help=help_text, description=(module.__doc__ or help_text).strip().splitlines()[0], epilog=ACCESS_NOTE
        )
        module.configure(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    original = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = original


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(join_negative_values(raw, _value_options(parser)))
    except SystemExit as exc:  # --help, --version, or a one-line usage error (exit code 2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if getattr(args, "_module", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._module.main(args) or 0)
    except BrokenPipeError:  # e.g. `sam-compose ... | head`: the reader left, nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter shutdown quiet
        return 0
    except (SamComposeError, ValueError, OSError) as exc:  # OSError: missing files, busy ports, ...
        if os.environ.get("SAM_COMPOSE_DEBUG"):
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional package this command needs is missing
        dep = missing_dependency(exc, f"sam-compose {args.command}")
        if dep is None or os.environ.get("SAM_COMPOSE_DEBUG"):
            raise
        print(f"error: {dep}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller image or the opencv engine", file=sys.stderr)
        return 1
    except Exception as exc:  # the last line of defence: one line, no traceback
        if os.environ.get("SAM_COMPOSE_DEBUG"):
            raise
        print(
            f"error: {type(exc).__name__}: {' '.join(str(exc).split())} (set SAM_COMPOSE_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
