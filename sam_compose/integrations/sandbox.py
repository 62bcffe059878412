"""Where agent tools may read and write: configured root folders, with size limits.

Every path an agent passes is resolved (symlinks followed, ``..`` collapsed) and must land
inside one of the roots; anything else is refused with a message the model can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024


class AccessError(InputError):
    """A path outside the allowed roots, or a file over the size limit."""


@dataclass
class FileSandbox:
    """Allowed roots for reading, one output folder for writing, and a file-size cap.

    ``roots`` default to the current working directory; ``output_dir`` defaults to
    ``<first root>/sam_compose_out`` and is always readable too.
    """

    roots: list[Path] = field(default_factory=list)
    output_dir: Path | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        roots = [Path(r).expanduser() for r in (self.roots or [Path.cwd()])]
        for r in roots:
            if not r.is_dir():
                raise InputError(f"allowed root {r} is not an existing folder")
        self.roots = [r.resolve() for r in roots]
        out = Path(self.output_dir).expanduser() if self.output_dir else self.roots[0] / "sam_compose_out"
        out.mkdir(parents=True, exist_ok=True)
        self.output_dir = out.resolve()

    def _inside(self, path: Path) -> bool:
        for root in [*self.roots, self.output_dir]:
            try:
                path.relative_to(root)  # type: ignore[arg-type]
                return True
            except ValueError:
                continue
        return False

    def describe_roots(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def resolve_input(self, raw: str, what: str = "file") -> Path:
        """An existing file inside the roots, no larger than ``max_file_bytes``.

        Relative paths are taken relative to the first root.
        """
        if not isinstance(raw, str) or not raw.strip():
            raise AccessError(f"{what} path must be a non-empty string")
        p = Path(raw.strip()).expanduser()
        if not p.is_absolute():
            p = self.roots[0] / p
        try:
            real = p.resolve(strict=True)
        except FileNotFoundError:
            raise AccessError(f"{what} {raw!r} does not exist; paths are relative to {self.roots[0]}") from None
        except (OSError, RuntimeError) as exc:
            raise AccessError(f"{what} {raw!r} cannot be resolved: {exc}") from None
        if not self._inside(real):
            raise AccessError(
                f"{what} {raw!r} is outside the allowed folders ({self.describe_roots()}); "
                "use a file inside them"
            )
        if not real.is_file():
            raise AccessError(f"{what} {raw!r} is not a file")
        size = real.stat().st_size
        if size > self.max_file_bytes:
            raise AccessError(
                f"{what} {raw!r} is {size / 1e6:.1f} MB, over the {self.max_file_bytes / 1e6:.0f} MB limit; "
                "downscale or compress it first"
            )
        return real

    def new_output_folder(self, prefix: str) -> Path:
        """A fresh folder inside ``output_dir`` for one call's files."""
        import tempfile

        assert self.output_dir is not None
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.output_dir))

    def check_output(self, raw: str | os.PathLike) -> Path:
        """A path for writing: relative paths go inside ``output_dir``; absolute ones must be inside the roots."""
        p = Path(raw).expanduser()
        if not p.is_absolute():
            p = self.output_dir / p  # type: ignore[operator]
        real = p.resolve()
        if not self._inside(real):
            raise AccessError(f"output path {str(raw)!r} is outside the allowed folders ({self.describe_roots()})")
        return real
