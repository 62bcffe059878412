"""Friendly messages in the page: library errors become ``gr.Error``, warnings ``gr.Warning``.

Every event handler and API endpoint of the demo is wrapped with :func:`friendly`, so a
bad upload, a click before any image or a missing model shows one clear sentence in the
page (and in ``gradio_client`` as an ``AppError`` with the same text) instead of a
traceback, and the page keeps working.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

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
        return gr.Error(
            "out of memory: try a smaller image or the opencv engine", title="Out of memory", print_exception=False
        )
    log.exception("unexpected error in the demo")
    return gr.Error(f"unexpected {type(exc).__name__}: {message_of(exc)}", title="Something went wrong")


_SINK: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("sam_compose_demo_warnings", default=None)
_HOOK_LOCK = threading.Lock()
_previous: Any = None


def _route_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """``warnings.showwarning`` while the demo runs: a warning raised by an event's own thread goes
    to that event (a contextvar), any other warning where it would have gone."""
    sink = _SINK.get()
    if sink is not None:
        sink.append((message, category))
        return
    if _previous is not None:  # set before this hook is installed; Python's own hook prints to stderr
        _previous(message, category, filename, lineno, file, line)


def _ensure_routing() -> None:
    """Install :func:`_route_warning` once (again only if someone replaced it since).

    Also shows every sam_compose UserWarning each time it happens (not once per place), so
    each event tells its user. Both are process-wide settings made once, never per event, so
    no thread sees them change under it (``warnings.catch_warnings`` is not thread-safe).
    """
    global _previous
    if warnings.showwarning is _route_warning:
        return
    with _HOOK_LOCK:
        if warnings.showwarning is not _route_warning:
            _previous = warnings.showwarning
            warnings.filterwarnings("always", category=UserWarning, module=r"sam_compose(\..*)?$")
            warnings.showwarning = _route_warning


def friendly(fn: F) -> F:
    """Wrap a handler: library errors -> ``gr.Error``; Python warnings -> ``gr.Warning`` toasts;
    a deadline (``SAM_COMPOSE_MAX_SECONDS``) stops the event at its next step.

    The wrapper keeps ``fn``'s signature and docstring (Gradio reads both: special
    arguments such as ``gr.SelectData`` and the API description). Warnings are collected per
    event through a ``contextvars`` variable, so concurrent events never see each other's.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import gradio as gr

        from ..security.deadlines import deadline

        _ensure_routing()
        caught: list[Any] = []
        token = _SINK.set(caught)
        try:
            with deadline(what=f"the demo event {fn.__name__}"):
                return fn(*args, **kwargs)
        except Exception as exc:  # everything becomes one readable message
            err = to_gradio_error(exc)
            if err is exc:
                raise
            raise err from exc
        finally:
            _SINK.reset(token)
            seen: set[str] = set()
            for message, category in caught:
                if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
                    continue
                text = message_of(message)
                if text not in seen:
                    seen.add(text)
                    try:
                        gr.Warning(text)
                    except Exception:  # outside an event (direct call): just log
                        log.warning(text)

    return cast(F, wrapper)
