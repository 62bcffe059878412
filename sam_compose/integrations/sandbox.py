"""Where agent tools may read and write: a :class:`~sam_compose.security.paths.PathGuard` over
configured root folders, one output folder, and a file-size cap.

Every path an agent passes is checked by the guard as it will be opened (symlinks followed,
``..`` collapsed, folders and globs expanded file by file) and must land inside one of the
roots; anything else is refused with a message the model can act on. Each tool call gets a
fresh folder inside the output folder; old call folders are removed by count and age
(limits ``output_folders`` and ``output_age``, see docs/security.md).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..security import limits
from ..security.cleanup import prune
from ..security.paths import AccessError, PathGuard

__all__ = ["CALL_FOLDER_PREFIX", "DEFAULT_MAX_FILE_BYTES", "AccessError", "FileSandbox"]

DEFAULT_MAX_FILE_BYTES = limits.LIMITS["file_bytes"].default
CALL_FOLDER_PREFIX = "call-"


@dataclass
class FileSandbox:
    """Allowed roots for reading, one output folder for writing, and a file-size cap.

    ``roots`` default to the current working directory; ``output_dir`` defaults to
    ``<first root>/sam_compose_out`` and is always readable too. :attr:`guard` is the
    :class:`PathGuard` every check goes through.
    """

    roots: list[Path] = field(default_factory=list)
    output_dir: Path | None = None
    max_file_bytes: int | None = None

    def __post_init__(self) -> None:
        roots = [Path(r).expanduser() for r in (self.roots or [Path.cwd()])]
        out = Path(self.output_dir).expanduser() if self.output_dir else roots[0] / "sam_compose_out"
        self.guard = PathGuard.create(roots, out, max_file_bytes=self.max_file_bytes)
        self.roots = list(self.guard.read_roots)
        self.output_dir = self.guard.write_root

    def describe_roots(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def resolve_input(self, raw: str, what: str = "file") -> Path:
        """An existing regular file inside the roots, no larger than the size cap (relative to the first root)."""
        if not isinstance(raw, str) or not raw.strip():
            raise AccessError(f"{what} path must be a non-empty string")
        return self.guard.read(raw.strip(), what)

    def new_output_folder(self, prefix: str) -> Path:
        """A fresh folder inside ``output_dir`` for one call's files; old call folders are pruned."""
        assert self.output_dir is not None
        folder = Path(tempfile.mkdtemp(prefix=f"{CALL_FOLDER_PREFIX}{prefix}-", dir=self.output_dir))
        prune(
            self.output_dir,
            prefix=CALL_FOLDER_PREFIX,
            max_count=limits.get("output_folders"),
            max_age=limits.get("output_age"),
            keep={folder.name},
        )
        return folder

    def call_guard(self, folder: str | os.PathLike) -> PathGuard:
        """The guard of one call: the roots (and the demos folder) readable, ``folder`` the only place to write."""
        from ..graph.demos import demos_dir

        guard = self.guard.with_write_root(folder)
        demos = demos_dir()
        return guard.with_read_roots(demos) if demos is not None else guard

    def check_output(self, raw: str | os.PathLike) -> Path:
        """A path for writing: relative paths go inside ``output_dir``; absolute ones must be inside it."""
        return self.guard.write(raw)
