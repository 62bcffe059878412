"""The one path guard: every file a server (demo, MCP, LangChain tools) or a guarded graph
reads or writes goes through :class:`PathGuard`.

A guard holds allowed **read roots** and one **write root** (always readable too). A
requested path is checked *as it will be opened*: relative paths are joined to a base
folder, ``~`` is expanded, symlinks and ``..`` are resolved, folders and globs are expanded
and **every file they expand to** is checked, one by one. A file is accepted only when its
real path lies inside a root, it is a regular file (no FIFO, device or socket, which would
block or never end) and it is not over the size limit. Writes must land inside the write
root after resolving symlinks. Model specs are either names (``opencv``, ``auto``, a hub id
such as ``facebook/sam-vit-base``) or local paths, which are checked like any other input.

Functions that need no guard (the CLI runs with the user's own rights) still use
:func:`check_path_text` and :func:`check_regular_file`, so a NUL byte or a FIFO is a one-line
error everywhere::

    guard = PathGuard.create(["./images"], write_root="./out")
    guard.read("photo.png")                 # Path of the real file, or AccessError
    guard.expand("frames/*.png")            # every match checked
    guard.write("masks/mask_0.png")         # inside ./out, or AccessError
    guard.model("facebook/sam-vit-base")    # a name passes; a path must be inside a root
    guard(path, "read" | "write" | "model") # the callable form RunContext.path_guard uses
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError, LimitError
from . import limits

__all__ = [
    "MODEL_KEYWORDS",
    "MODEL_PREFIXES",
    "AccessError",
    "PathGuard",
    "check_path_text",
    "check_regular_file",
    "is_glob",
    "split_glob",
]

MAX_PATH_CHARS = 4096
GLOB_CHARS = "*?["
MODEL_KEYWORDS = ("opencv", "auto", "none")
"""Engine / tracker specs that name no file."""
MODEL_PREFIXES = ("onnx:", "local-dir:")
"""Spec prefixes followed by a local folder (checked like any input folder)."""
MODEL_FILE_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".onnx", ".ckpt", ".pkl", ".npz", ".npy", ".json")
_HUB_NAME = re.compile(r"^(hf-hub:)?[A-Za-z0-9][\w.+-]*(/[A-Za-z0-9][\w.+-]*)?(:[\w.+-]+)?$")


class AccessError(InputError):
    """A path outside the allowed folders, not a regular file, or over the size limit."""


def check_path_text(raw: object, what: str = "path") -> str:
    """``raw`` as path text, or an InputError for what no file system accepts (NUL, empty, huge)."""
    if isinstance(raw, os.PathLike):
        raw = os.fspath(raw)
    if isinstance(raw, bytes):
        raise InputError(f"{what} must be text, got bytes; decode it first")
    if not isinstance(raw, str):
        raise InputError(f"{what} must be a path (text), got {type(raw).__name__}")
    if not raw.strip():
        raise InputError(f"{what} is empty; give a file path")
    if "\x00" in raw:
        shown = raw.replace("\x00", "\\0")[:120]
        raise InputError(f"{what} {shown!r} contains a NUL byte; remove it")
    if len(raw) > MAX_PATH_CHARS:
        raise InputError(f"{what} is {len(raw)} characters long; paths are at most {MAX_PATH_CHARS}")
    return raw


def check_regular_file(path: str | os.PathLike, what: str = "file", *, max_bytes: int | None = None) -> os.stat_result:
    """``os.stat`` of an existing regular file, or an InputError naming ``what``.

    Refuses folders, FIFOs, devices and sockets (reading one blocks or never ends) and,
    with ``max_bytes``, files larger than that.
    """
    text = check_path_text(path, what)
    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise InputError(f"{what} {text!r} does not exist") from None
    except NotADirectoryError:
        raise InputError(f"{what} {text!r} does not exist (a part of the path is a file)") from None
    except OSError as exc:
        raise InputError(f"{what} {text!r} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {text!r} is a folder; give a file")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "not a regular file"
        )
        raise InputError(f"{what} {text!r} is {kind}, not a regular file; save the data to a file and pass that")
    if max_bytes is not None and st.st_size > max_bytes:
        raise LimitError(
            f"{what} {Path(text).name!r} is {st.st_size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB "
            f"limit of files read here; use a smaller file (or raise {limits.env_name('file_bytes')})",
            "file_bytes",
            limits.env_name("file_bytes"),
        )
    return st


def is_glob(text: str) -> bool:
    """True when ``text`` holds a glob wildcard (``*``, ``?`` or ``[``)."""
    return any(ch in text for ch in GLOB_CHARS)


def _inside(real: Path, roots: Iterable[Path]) -> bool:
    return any(real == r or r in real.parents for r in roots)


@dataclass(frozen=True)
class PathGuard:
    """Allowed read roots, one write root, and a file-size cap; see the module docstring.

    Build it with :meth:`create` (which resolves and checks the folders). Relative reads
    are tried in ``base`` (the caller's, e.g. a graph file's folder), then in
    :attr:`base_dir` (default: the first read root); relative writes go inside
    :attr:`write_root`. ``max_file_bytes`` None means the ``file_bytes`` limit in force.
    """

    read_roots: tuple[Path, ...]
    write_root: Path | None = None
    base_dir: Path | None = None
    max_file_bytes: int | None = None
    label: str = "the allowed folders"

    @classmethod
    def create(
        cls,
        read_roots: Sequence[str | os.PathLike],
        write_root: str | os.PathLike | None = None,
        *,
        base_dir: str | os.PathLike | None = None,
        max_file_bytes: int | None = None,
        make_write_root: bool = True,
        label: str = "the allowed folders",
    ) -> PathGuard:
        """A guard over existing folders ``read_roots``; ``write_root`` is created when missing."""
        roots: list[Path] = []
        for r in read_roots:
            p = Path(check_path_text(r, "allowed root")).expanduser()
            if not p.is_dir():
                raise InputError(f"allowed root {p} is not an existing folder")
            roots.append(p.resolve())
        out = None
        if write_root is not None:
            out = Path(check_path_text(write_root, "output folder")).expanduser()
            if make_write_root:
                out.mkdir(parents=True, exist_ok=True)
            out = out.resolve()
        base = Path(base_dir).expanduser().resolve() if base_dir is not None else None
        return cls(tuple(roots), out, base, max_file_bytes, label)

    # ------------------------------------------------------------------ helpers
    @property
    def readable(self) -> tuple[Path, ...]:
        """Every folder files may be read from (the read roots and the write root)."""
        return self.read_roots + ((self.write_root,) if self.write_root is not None else ())

    def describe(self) -> str:
        """The read roots, for messages."""
        return ", ".join(str(r) for r in self.readable) or "none"

    def with_write_root(self, folder: str | os.PathLike, *, make: bool = True) -> PathGuard:
        """The same read roots with another write root (e.g. one folder per call or session)."""
        p = Path(folder).expanduser()
        if make:
            p.mkdir(parents=True, exist_ok=True)
        return replace(self, write_root=p.resolve())

    def with_read_roots(self, *folders: str | os.PathLike) -> PathGuard:
        """This guard with more read roots (existing folders)."""
        extra = tuple(Path(f).expanduser().resolve() for f in folders if Path(f).expanduser().is_dir())
        return replace(self, read_roots=self.read_roots + tuple(r for r in extra if r not in self.read_roots))

    def _candidates(self, text: str, base: str | os.PathLike | None) -> list[Path]:
        p = Path(text).expanduser()
        if p.is_absolute():
            return [p]
        bases = [Path(base)] if base is not None else []
        bases += [self.base_dir] if self.base_dir is not None else []
        bases += [self.read_roots[0]] if self.read_roots else []
        if not bases and self.write_root is not None:
            bases = [self.write_root]
        return [b / p for b in bases] or [p.absolute()]

    def _absolute(self, text: str, base: str | os.PathLike | None) -> Path:
        """The first candidate that exists (a glob: whose folder exists), else the first."""
        cands = self._candidates(text, base)
        for c in cands:
            probe = Path(split_glob(str(c))[0]) if is_glob(str(c)) else c
            if os.path.lexists(probe):
                return c
        return cands[0]

    def _refuse(self, what: str, raw: str, real: Path | None = None) -> AccessError:
        where = f" (it resolves to {real})" if real is not None and str(real) != raw else ""
        return AccessError(
            f"{what} {raw!r} is outside {self.label}{where}; allowed: {self.describe()}. Use a file inside them"
        )

    # ------------------------------------------------------------------ reads
    def read(self, raw: str | os.PathLike, what: str = "file", *, base: str | os.PathLike | None = None) -> Path:
        """The real path of one existing regular file inside the read roots (size-checked)."""
        text = check_path_text(raw, what)
        if is_glob(text) and not os.path.lexists(text):
            files = self.expand(text, what, base=base)
            if len(files) != 1:
                raise InputError(f"{what} {text!r} matches {len(files)} files; give exactly one file")
            return files[0]
        return self._check_file(self._absolute(text, base), what, text)

    def _check_file(self, path: Path, what: str, raw: str, *, sized: bool = True) -> Path:
        real = self._resolve(path, what, raw)
        if not _inside(real, self.readable):
            raise self._refuse(what, raw, real)
        bound = None if not sized else limits.get("file_bytes") if self.max_file_bytes is None else self.max_file_bytes
        check_regular_file(real, what, max_bytes=bound)
        return real

    def expand(
        self,
        raw: str | os.PathLike,
        what: str = "files",
        *,
        base: str | os.PathLike | None = None,
        suffixes: Sequence[str] | None = None,
    ) -> list[Path]:
        """Real paths of the files a file, folder or glob names, each one checked; sorted.

        A folder gives its files (not those of sub-folders: see :meth:`tree`); ``suffixes`` keeps only
        files with those endings (lower case, e.g. ``(".png", ".jpg")``). At most the
        ``files`` limit of matches is looked at.
        """
        text = check_path_text(raw, what)
        path = self._absolute(text, base)
        if is_glob(str(path)) and not os.path.lexists(path):
            names = _bounded(glob.iglob(str(path)), f"{what} {text!r}")
        else:
            real_dir = self._resolve(path, what, text)
            if not real_dir.is_dir():
                return [self._check_file(path, what, text)]
            if not _inside(real_dir, self.readable):
                raise self._refuse(what, text, real_dir)
            names = _bounded((str(p) for p in real_dir.iterdir()), f"{what} {text!r}")
        out: list[Path] = []
        for name in sorted(names):
            if suffixes is not None and Path(name).suffix.lower() not in suffixes:
                continue
            if os.path.isdir(name):
                try:
                    real = Path(name).resolve(strict=True)
                except (OSError, RuntimeError):
                    continue
                if not _inside(real, self.readable):
                    raise self._refuse(what, name, real)
                continue
            out.append(self._check_file(Path(name), what, name))
        return out

    def tree(
        self, raw: str | os.PathLike, what: str = "folder", *, base: str | os.PathLike | None = None, sized: bool = True
    ) -> Path:
        """The real path of a file, or of a folder whose every file (at any depth, through
        symlinks) is a regular file inside the roots.

        For model folders, CLIP folders and recording folders, which loaders open file by
        file. ``sized=False`` skips the file-size cap (model weights are large).
        """
        text = check_path_text(raw, what)
        path = self._absolute(text, base)
        if is_glob(text) and not os.path.lexists(path):
            raise InputError(f"{what} {text!r} must be a file or a folder, not a pattern")
        real = self._resolve(path, what, text)
        if not _inside(real, self.readable):
            raise self._refuse(what, text, real)
        if not real.is_dir():
            return self._check_file(path, what, text, sized=sized)
        seen = {real}
        stack = [real]
        count = 0
        bound = limits.get("files")
        while stack:
            folder = stack.pop()
            for entry in sorted(os.listdir(folder)):
                count += 1
                if count > bound:
                    raise limits.over("files", count, f"{what} {text!r}", "point at a smaller folder")
                full = folder / entry
                sub = self._resolve(full, what, str(full))
                if not _inside(sub, self.readable):
                    raise self._refuse(what, str(full), sub)
                if sub.is_dir():
                    if sub not in seen:
                        seen.add(sub)
                        stack.append(sub)
                else:
                    self._check_file(full, what, str(full), sized=sized)
        return real

    @staticmethod
    def _resolve(path: Path, what: str, raw: str) -> Path:
        try:
            return path.resolve(strict=True)
        except FileNotFoundError:
            raise AccessError(f"{what} {raw!r} does not exist (looked in {path.parent})") from None
        except (OSError, RuntimeError) as exc:
            raise AccessError(f"{what} {raw!r} cannot be resolved: {exc}") from None

    # ------------------------------------------------------------------ writes
    def write(self, raw: str | os.PathLike, what: str = "output") -> Path:
        """The real path to write ``raw`` at: inside the write root (relative paths go there)."""
        text = check_path_text(raw, what)
        if self.write_root is None:
            raise AccessError(f"{what} {text!r}: nothing may be written here (no output folder)")
        p = Path(text).expanduser()
        if not p.is_absolute():
            p = self.write_root / p
        try:
            real = p.resolve()
        except (OSError, RuntimeError) as exc:
            raise AccessError(f"{what} {text!r} cannot be resolved: {exc}") from None
        if not _inside(real, (self.write_root,)) or (real == self.write_root and not p.is_dir()):
            raise AccessError(
                f"{what} {text!r} is outside this run's folder {self.write_root}"
                f"{f' (it resolves to {real})' if str(real) != text else ''}; use a relative path"
            )
        if os.path.lexists(real):
            mode = os.lstat(real).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise AccessError(f"{what} {text!r} exists and is not a regular file or folder")
        return real

    # ------------------------------------------------------------------ models
    def model(self, spec: str, what: str = "model", *, base: str | os.PathLike | None = None) -> str:
        """``spec`` if it names no file (a keyword or a hub id), else its checked local path.

        ``onnx:DIR`` and ``local-dir:DIR`` keep their prefix; a path (absolute, ``./``,
        ``~``, a checkpoint suffix, or any name that exists on disk where it would be
        loaded from) must be inside the roots, every file of a folder included.
        """
        text = check_path_text(spec, what).strip()
        if text.lower() in MODEL_KEYWORDS:
            return text
        for prefix in MODEL_PREFIXES:
            if text.startswith(prefix):
                return prefix + str(self.tree(text[len(prefix) :], what, base=base, sized=False))
        if _looks_like_path(text) or self._exists_somewhere(text, base):
            return str(self.tree(text, what, base=base, sized=False))
        if _HUB_NAME.match(text) and ".." not in text:
            return text
        raise AccessError(
            f"{what} {text!r} is neither a model name (such as facebook/sam-vit-base) nor a path "
            f"inside {self.label} ({self.describe()})"
        )

    def _exists_somewhere(self, text: str, base: str | os.PathLike | None) -> bool:
        """Whether a loader could find ``text`` on disk: as given (the current folder) or in a base."""
        if os.path.lexists(Path(text).expanduser()):
            return True
        return any(os.path.lexists(c) for c in self._candidates(text, base))

    # ------------------------------------------------------------------ callable form
    def __call__(self, path: str | os.PathLike, mode: str = "read") -> Path | str:
        """``RunContext.path_guard`` form: ``guard(path, "read" | "write" | "model")``.

        ``read`` of a folder or glob checks every file it expands to and returns the path
        as given (made absolute); of a file, its real path.
        """
        if mode == "write":
            return self.write(path)
        if mode == "model":
            return self.model(os.fspath(path))
        text = check_path_text(path, "input")
        absolute = self._absolute(text, None)
        if (is_glob(text) and not os.path.lexists(absolute)) or absolute.is_dir():
            self.expand(text)
            return absolute
        return self.read(text)


def _looks_like_path(text: str) -> bool:
    p = Path(text).expanduser()
    return (
        p.is_absolute()
        or text.startswith(("./", "../", "~", ".\\"))
        or "\\" in text
        or text.lower().endswith(MODEL_FILE_SUFFIXES)
        or text in (".", "..")
    )


def split_glob(pattern: str) -> tuple[str, list[str]]:
    """``"data/*/a.png"`` -> (``"data"``, ``["*", "a.png"]``): the longest leading folder without
    wildcards (``"."`` when the first part has one) and the parts left to match."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if is_glob(part):
            break
        fixed.append(part)
    return (str(Path(*fixed)) if fixed else "."), list(parts[len(fixed) :])


def _bounded(names: Iterable[str], what: str) -> list[str]:
    bound = limits.get("files")
    out: list[str] = []
    for name in names:
        out.append(name)
        if len(out) > bound:
            raise limits.over("files", len(out), what, "point at a smaller folder or a narrower pattern")
    return out
