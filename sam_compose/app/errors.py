"""Friendly messages in the page: library errors become ``gr.Error``, warnings ``gr.Warning``.

Every event handler and API endpoint of the demo is wrapped with :func:`friendly`, so a
bad upload, a click before any image or a missing model shows one clear sentence in the
page (and in ``gradio_client`` as an ``AppError`` with the same text) instead of a
traceback, and the page keeps working.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any, Callable, TypeVar

from ..errors import MissingDependencyError, SamComposeError

log = logging.getLogger("sam_compose.app")

F = TypeVar("F", bound=Callable[..., Any])


class FeatureUnavailable(SamComposeError):
    """A part of the demo whose library module is not present in this installation."""


def message_of(exc: BaseException) -> str:
    """One line of text for ``exc`` (whitespace collapsed)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def to_gradio_error(exc: BaseException) -> Exception:
    """The ``gr.Error`` to raise for ``exc``: its message for expected errors, a short note otherwise."""
    import gradio as gr

    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, (SamComposeError, ValueError, FileNotFoundError, PermissionError, MissingDependencyError)):
        log.info("refused: %s", message_of(exc))
        return gr.Error(message_of(exc), title="Cannot do that", print_exception=False)
    if isinstance(exc, MemoryError):
        return gr.Error("out of memory: try a smaller image or the opencv engine", title="Out of memory",
                        print_exception=False)
    log.exception("unexpected error in the demo")
    return gr.Error(f"unexpected {type(exc).__name__}: {message_of(exc)}", title="Something went wrong")


def friendly(fn: F) -> F:
    """Wrap a handler: library errors -> ``gr.Error``; Python warnings -> ``gr.Warning`` toasts.

    The wrapper keeps ``fn``'s signature and docstring (Gradio reads both: special
    arguments such as ``gr.SelectData`` and the API description).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import gradio as gr

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - everything becomes one readable message
                err = to_gradio_error(exc)
                if err is exc:
                    raise
                raise err from exc
            finally:
                seen: set[str] = set()
                for w in caught:
                    if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
                        continue
                    text = message_of(w.message)  # type: ignore[arg-type]
                    if text not in seen:
                        seen.add(text)
                        try:
                            gr.Warning(text)
                        except Exception:  # noqa: BLE001 - outside an event (direct call): just log
                            log.warning(text)
        return result

    return wrapper  # type: ignore[return-value]
