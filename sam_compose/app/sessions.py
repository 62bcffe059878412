"""Demo sessions: per-session state built by a factory, per-session folders, one path guard each.

Every browser session gets its own state object (a ``gr.State`` whose value is a
:class:`SessionFactory`, called once per session) and its own folder
``<workspace>/sessions/<session_id>/`` for downloads and other results. Stateless API calls
get a fresh folder each under ``<workspace>/calls/``. Every event reads files only through
the session's :class:`~sam_compose.security.paths.PathGuard`: the demos folder, Gradio's
uploads folder and the session's own folder (plus any ``allowed_roots`` the app was started
with) are readable; only the session's (or call's) folder is writable.

A closed session's folder is removed (``gr.State(delete_callback=on_session_end)``); on every
new session old folders are pruned: at most ``SAM_COMPOSE_MAX_SESSIONS`` session folders and
``SAM_COMPOSE_MAX_OUTPUT_FOLDERS`` call folders are kept, none idle for longer than
``SAM_COMPOSE_MAX_SESSION_AGE`` / ``SAM_COMPOSE_MAX_OUTPUT_AGE`` seconds.

A new tab or module adopts this in three lines::

    state = session_state(workspace, MyTabState)                # a gr.State, one MyTabState per session
    folder = workspace.session_folder(state.session_id)      # its own files
    path = workspace.guard(state.session_id).read(upload)    # every path a request names

(``MyTabState`` needs a ``session_id`` and a ``folder`` attribute, e.g. by subclassing
:class:`~sam_compose.app.state.SessionState` or copying its two fields.)
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..security import limits
from ..security.cleanup import prune
from ..security.paths import PathGuard
from .state import SessionState

__all__ = ["DemoWorkspace", "SessionFactory", "default_workspace", "on_session_end", "session_state", "upload_folder"]

_SESSION_ID = re.compile(r"^[0-9a-f]{8,64}$")
_WORKSPACES: dict[str, DemoWorkspace] = {}
_LOCK = threading.RLock()


def upload_folder() -> Path:
    """Gradio's folder for uploaded files (``GRADIO_TEMP_DIR``, else ``<tmp>/gradio``)."""
    env = os.environ.get("GRADIO_TEMP_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "gradio"


def demos_folder() -> Path | None:
    from ..graph.demos import demos_dir

    return demos_dir()


class SessionFactory:
    """Builds one fresh state per session (a ``gr.State`` value; Gradio calls it per session).

    Deep copies are the factory itself (``gr.State`` deep-copies its value).
    """

    def __init__(self, workspace: DemoWorkspace, cls: Callable[[], Any] = SessionState) -> None:
        self.workspace = workspace
        self.cls = cls

    def __call__(self) -> Any:
        return self.workspace.new_session(self.cls)

    def __deepcopy__(self, memo: dict) -> SessionFactory:
        return self


class DemoWorkspace:
    """The demo's folders: ``root/sessions/<id>/`` per session, ``root/calls/<id>/`` per API call.

    ``root`` defaults to a new temporary folder; ``allowed_roots`` are extra folders every
    session may read (``sam-compose demo --root DIR``).
    """

    def __init__(
        self, root: str | os.PathLike | None = None, *, allowed_roots: Sequence[str | os.PathLike] = ()
    ) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="sam_compose_demo_"))
        self.sessions_dir = self.root / "sessions"
        self.calls_dir = self.root / "calls"
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self.calls_dir.mkdir(parents=True, exist_ok=True)
        self.root = self.root.resolve()
        self.sessions_dir, self.calls_dir = self.sessions_dir.resolve(), self.calls_dir.resolve()
        self.allowed_roots = [Path(r).expanduser().resolve() for r in allowed_roots]
        for r in self.allowed_roots:
            if not r.is_dir():
                raise InputError(f"allowed folder {r} is not an existing folder")
        with _LOCK:
            _WORKSPACES[str(self.sessions_dir)] = self

    def __deepcopy__(self, memo: dict) -> DemoWorkspace:
        return self

    # ------------------------------------------------------------------ sessions
    def factory(self, cls: Callable[[], Any] = SessionState) -> SessionFactory:
        """A ``gr.State`` value that builds a fresh ``cls()`` per session."""
        return SessionFactory(self, cls)

    def new_session(self, cls: Callable[[], Any] = SessionState) -> Any:
        """A fresh state with its own id and folder (old folders are pruned first)."""
        self.prune()
        state = cls()
        state.session_id = uuid.uuid4().hex
        state.folder = str(self.session_folder(state.session_id))
        return state

    def session_folder(self, session_id: str) -> Path:
        """The session's own folder (created, and marked as used now)."""
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            raise InputError(f"invalid session id {session_id!r}")
        folder = self.sessions_dir / session_id
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)
        return folder

    def new_result_folder(self, session_id: str, prefix: str) -> Path:
        """A new, empty folder inside the session's folder (one per download or result)."""
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.session_folder(session_id)))

    def remove(self, session_id: str) -> None:
        """Delete a session's folder (its downloads go with it)."""
        if isinstance(session_id, str) and _SESSION_ID.match(session_id):
            shutil.rmtree(self.sessions_dir / session_id, ignore_errors=True)

    def call_folder(self, prefix: str = "call") -> Path:
        """A new folder for one stateless API call."""
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.calls_dir))

    def prune(self) -> None:
        """Remove session and call folders beyond the count and age limits (oldest first)."""
        prune(self.sessions_dir, max_count=limits.get("sessions"), max_age=limits.get("session_age"))
        prune(self.calls_dir, max_count=limits.get("output_folders"), max_age=limits.get("output_age"))

    # ------------------------------------------------------------------ the guard
    def read_roots(self) -> list[Path]:
        """Folders every session may read: the demos, Gradio's uploads, and ``allowed_roots``."""
        roots = [upload_folder()]
        roots[0].mkdir(parents=True, exist_ok=True)
        demos = demos_folder()
        if demos is not None and demos.is_dir():
            roots.append(demos)
        return roots + self.allowed_roots

    def guard(self, session_id: str, write_folder: str | os.PathLike | None = None) -> PathGuard:
        """The session's guard: readable roots plus its own folder; writes go to ``write_folder``
        (a folder inside the session's, default the session's folder itself)."""
        own = self.session_folder(session_id)
        guard = PathGuard.create(self.read_roots(), own, label="the demo's folders (uploads, demos, this session)")
        return guard.with_write_root(write_folder) if write_folder is not None else guard

    def call_guard(self, folder: str | os.PathLike) -> PathGuard:
        """The guard of one API call: readable roots, writes only into ``folder``."""
        return PathGuard.create(self.read_roots(), folder, label="the demo's folders (uploads, demos)")

    def __repr__(self) -> str:
        return f"DemoWorkspace({str(self.root)!r})"


_DEFAULT: DemoWorkspace | None = None


def default_workspace() -> DemoWorkspace:
    """The process-wide workspace (handlers built without one use it)."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = DemoWorkspace()
        return _DEFAULT


def session_state(workspace: DemoWorkspace, cls: Callable[[], Any] = SessionState) -> Any:
    """A ``gr.State`` holding one fresh ``cls()`` per browser session, its folder removed when the
    session ends.

    The factory is set as the state's value after construction (Gradio calls a callable
    value once per session); passing it to ``gr.State(...)`` would also add a public
    page-load API endpoint named after it.
    """
    import gradio as gr

    state = gr.State(None, delete_callback=on_session_end)
    state.value = workspace.factory(cls)
    return state


def on_session_end(state: Any) -> None:
    """``gr.State`` delete callback: remove the closed session's folder."""
    folder = getattr(state, "folder", None)
    session_id = getattr(state, "session_id", None)
    if not folder or not session_id:
        return
    parent = str(Path(folder).parent)
    with _LOCK:
        ws = _WORKSPACES.get(parent)
    if ws is not None:
        ws.remove(session_id)
