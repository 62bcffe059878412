"""The project's exceptions.

Every error a user can cause is a :class:`SamComposeError`. Input problems are also
``ValueError`` so callers that only know the standard library can still catch them.
Messages say what was wrong and how to fix it, in one line.
"""

from __future__ import annotations


class SamComposeError(Exception):
    """Base class of every error sam_compose raises on purpose."""


class InputError(SamComposeError, ValueError):
    """Bad input: a file, an image, a prompt, a parameter. The message says how to fix it."""


class ImageError(InputError):
    """An image could not be read or is not usable (size, format, content)."""


class PromptError(InputError):
    """A prompt is malformed or does not fit the image it is used with."""


class GraphError(InputError):
    """A graph or node is invalid (unknown type, bad param, bad wiring, cycle, ...).

    ``node`` and ``port`` name where the problem is (either may be None).
    """

    def __init__(self, message: str, node: str | None = None, port: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.port = port


class EngineError(SamComposeError, ValueError):
    """An engine spec could not be resolved or loaded (unknown name, missing weights, bad checkpoint)."""


class MissingDependencyError(SamComposeError, ImportError):
    """An optional package is needed for this feature; the message names it."""

    def __init__(self, package: str, feature: str, extra: str | None = None) -> None:
        hint = f"pip install {package}" if extra is None else f"pip install 'sam-compose[{extra}]'"
        super().__init__(f"{feature} needs the package '{package}', which is not installed: run `{hint}`")
        self.package = package
        self.feature = feature


def require(module: str, package: str | None = None, feature: str = "this feature", extra: str | None = None):
    """Import ``module`` lazily or raise :class:`MissingDependencyError` naming the package."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(package or module, feature, extra) from exc
