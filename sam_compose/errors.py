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


class LimitError(InputError):
    """An input over a resource limit (pixels, file size, rows, nesting, time, ...).

    ``limit`` is the limit's name and ``env`` the environment variable that changes it
    (see :mod:`sam_compose.security.limits` and docs/security.md).
    """

    def __init__(self, message: str, limit: str | None = None, env: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.env = env


class ImageError(InputError):
    """An image could not be read or is not usable (size, format, content)."""


class ImageLimitError(LimitError, ImageError):
    """An image (or mask, or video frame) over a size or aspect-ratio limit."""


class PromptError(InputError):
    """A prompt is malformed or does not fit the image it is used with."""


class GraphError(InputError):
    """A graph or node is invalid (unknown type, bad param, bad wiring, cycle, ...).

    ``node`` and ``port`` name where the problem is (either may be None). When validation
    found several problems at once, ``problems`` holds each of them (else it is empty).
    """

    def __init__(self, message: str, node: str | None = None, port: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.port = port
        self.problems: list[GraphError] = []


class EngineError(SamComposeError, ValueError):
    """An engine spec could not be resolved or loaded (unknown name, missing weights, bad checkpoint)."""


OPTIONAL_PACKAGES: dict[str, tuple[str, str]] = {
    # top-level module -> (PyPI package, sam-compose extra that installs it)
    "torch": ("torch", "sam"),
    "transformers": ("transformers", "sam"),
    "huggingface_hub": ("huggingface_hub", "sam"),
    "safetensors": ("safetensors", "sam"),
    "timm": ("timm", "sam"),
    "open_clip": ("open_clip_torch", "text"),
    "gradio": ("gradio", "demo"),
    "gradio_client": ("gradio_client", "demo"),
    "langchain_core": ("langchain-core", "agents"),
    "pydantic": ("pydantic", "agents"),
    "mcp": ("mcp", "agents"),
    "ray": ("ray[data]", "ray"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "onnx": ("onnx", "onnx"),
    "onnxscript": ("onnxscript", "onnx"),
    "diffusers": ("diffusers", "diffusers"),
    "accelerate": ("accelerate", "diffusers"),
    "supervision": ("supervision", "interop"),
    "pupil_labs": ("pupil-labs-neon-recording", "gaze"),
}
"""Which extra brings each optional package: ``pip install 'sam-compose[EXTRA]'``."""


class MissingDependencyError(SamComposeError, ImportError):
    """An optional package is needed for this feature; the message names the extra to install."""

    def __init__(self, package: str, feature: str, extra: str | None = None) -> None:
        hint = f"pip install {package}" if extra is None else f"pip install 'sam-compose[{extra}]'"
        super().__init__(f"{feature} needs the package '{package}', which is not installed: run `{hint}`")
        self.package = package
        self.feature = feature
        self.extra = extra


def missing_dependency(exc: ImportError, feature: str = "this feature") -> MissingDependencyError | None:
    """The :class:`MissingDependencyError` for an ``ImportError`` of a known optional package, else None."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name not in OPTIONAL_PACKAGES:
        return None
    package, extra = OPTIONAL_PACKAGES[name]
    return MissingDependencyError(package, feature, extra)


def require(module: str, package: str | None = None, feature: str = "this feature", extra: str | None = None):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra that installs it
    (looked up in :data:`OPTIONAL_PACKAGES` unless ``package``/``extra`` are given)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        known = OPTIONAL_PACKAGES.get(module.split(".")[0])
        pkg = package or (known[0] if known else module)
        ext = extra or (known[1] if known else None)
        raise MissingDependencyError(pkg, feature, ext) from exc
