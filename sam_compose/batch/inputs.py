"""What a batch runs over: a folder, a glob or a list file, streamed as :class:`Item` s.

``--inputs`` is one of

* a **folder**: every file below it whose suffix the input node reads (images for
  ``load_image``, videos for ``load_video``, any file for ``load_gaze``), in sorted
  order (``a/x.png``, ``b/x.png``, ``c.png``); hidden files and folders are skipped;
* a **glob** such as ``photos/*.jpg`` or ``data/**/*.png`` (``**`` matches any depth,
  a folder's own files first), matched per folder in sorted order;
* a **list file**: one path per line (blank lines and ``#`` comments ignored); relative
  paths are tried next to the list file, then in the working directory;
* a single input file (a suffix the input node reads);
* from Python, any iterable of paths.

Inputs are streamed: only one folder listing (or one line) is held at a time, so a list
of millions of files costs no memory. Every item gets its position in the stream
(``index``), its absolute path, its COCO ``file_name`` (the path relative to the folder,
the glob's fixed prefix or the list file) and a folder name under ``OUT/items/`` derived
from that relative path alone (``cats/a.png`` -> ``cats__a.png``): the same input always
gets the same name, and two files called ``a.png`` in different folders get different
ones. Names that would be ambiguous (a part containing ``__``, characters outside
letters, digits and ``._-+@=,``, a leading dot, ``..``, over 150 characters) get the
first 8 hex digits of a hash of the absolute path appended.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InputError
from ..security.paths import is_glob, split_glob

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
MAX_NAME = 150
_UNSAFE = re.compile(r"[^\w.\-+@=,]")


def image_suffixes() -> tuple[str, ...]:
    from ..video_io import IMAGE_SUFFIXES

    return tuple(IMAGE_SUFFIXES)


def suffixes_for(node_type: str) -> tuple[str, ...] | None:
    """File suffixes a folder or glob is filtered by for an input node type (None: every file)."""
    if node_type == "load_image":
        return image_suffixes()
    if node_type == "load_video":
        return VIDEO_SUFFIXES
    return None


@dataclass(frozen=True)
class Item:
    """One input of a batch: position in the input stream, absolute path, COCO file_name, folder name."""

    index: int
    input: str
    file_name: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        return cls(int(d["index"]), str(d["input"]), str(d["file_name"]), str(d["name"]))


def path_hash(text: str, digest_size: int = 8) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=digest_size).hexdigest()


def item_name(rel: str, absolute: str) -> str:
    """The folder name under ``OUT/items/`` of the input at relative path ``rel`` (see the module docstring)."""
    pure = PurePosixPath(rel)
    raw = [p for p in pure.parts if p not in ("/", ".")]
    parts = [p for p in raw if p != ".."]
    clean = [_UNSAFE.sub("_", p) for p in parts]
    name = "__".join(clean)
    ambiguous = (
        clean != parts
        or len(parts) != len(raw)
        or any("__" in p for p in parts)
        or not name
        or name.startswith(".")
        or len(name) > MAX_NAME
    )
    if ambiguous:
        name = f"{name[-(MAX_NAME - 10) :].lstrip('.')}-{path_hash(absolute, 4)}".lstrip("-")
    return name


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _is_under(path: str, folder: str | None) -> bool:
    if folder is None:
        return False
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _sorted_entries(folder: str) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except (PermissionError, FileNotFoundError, NotADirectoryError):
        return []


def walk_files(root: str, suffixes: tuple[str, ...] | None, exclude: str | None = None) -> Iterator[str]:
    """Files below ``root`` in sorted order (each folder's entries by name, a sub-folder's files at the
    folder's place), hidden entries skipped, ``exclude`` not entered; one listing per level held."""
    stack = [iter(_sorted_entries(root))]
    while stack:
        e = next(stack[-1], None)
        if e is None:
            stack.pop()
            continue
        if _hidden(e.name):
            continue
        if e.is_dir(follow_symlinks=False):
            if not _is_under(e.path, exclude):
                stack.append(iter(_sorted_entries(e.path)))
        elif e.is_file() and (suffixes is None or os.path.splitext(e.name)[1].lower() in suffixes):
            yield e.path


def _glob_walk(folder: str, parts: list[str], exclude: str | None) -> Iterator[str]:
    if not parts:
        if os.path.isfile(folder) and not _is_under(folder, exclude):
            yield folder
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _glob_walk(folder, rest, exclude)
        for e in _sorted_entries(folder):
            if not _hidden(e.name) and e.is_dir(follow_symlinks=False) and not _is_under(e.path, exclude):
                yield from _glob_walk(e.path, parts, exclude)
    elif is_glob(head):
        for e in _sorted_entries(folder):
            if (not _hidden(e.name) or head.startswith(".")) and fnmatch.fnmatchcase(e.name, head):
                yield from _glob_walk(e.path, rest, exclude)
    else:
        yield from _glob_walk(os.path.join(folder, head), rest, exclude)


def _relative(path: str, root: str) -> str:
    """``path`` relative to ``root`` when below it, else the whole path without its anchor (POSIX form)."""
    if _is_under(path, root) and path != root:
        return Path(path).relative_to(root).as_posix()
    return Path(path).as_posix().lstrip("/")


class InputSource:
    """``--inputs`` resolved: iterate it for :class:`Item` s (one pass streams; iterating again restarts).

    ``spec`` is a folder, a glob, a list file or an input file (a string or path), or an
    iterable of paths. ``suffixes`` filters folders (None: every file). ``exclude`` is a
    folder never entered (the run's own output folder).
    """

    def __init__(
        self, spec: Any, suffixes: tuple[str, ...] | None, *, exclude: str | os.PathLike | None = None
    ) -> None:
        self.suffixes = suffixes
        self.exclude = os.path.abspath(exclude) if exclude is not None else None
        self._paths: list[str] | None = None
        self._iterable: Iterable[Any] | None = None
        if isinstance(spec, (str, os.PathLike)):
            text = os.fspath(spec)
            if not text.strip():
                raise InputError("--inputs is empty; give a folder, a glob such as 'photos/*.jpg' or a list file")
            path = Path(text).expanduser()
            self.spec = text
            if path.is_dir():
                self.kind, self.root = "dir", os.path.abspath(path)
            elif path.is_file():
                suffix = path.suffix.lower()
                if (suffixes is not None and suffix in suffixes) or (
                    suffixes is None and suffix not in (".txt", ".lst", ".list")
                ):
                    self.kind, self.root = "file", os.path.abspath(path.parent)
                else:
                    self.kind, self.root = "list", os.path.abspath(path.parent)
            elif is_glob(text):
                root, rest = split_glob(os.path.expanduser(text))
                self.kind, self.root, self._glob_parts = "glob", os.path.abspath(root), rest
            else:
                raise InputError(
                    f"--inputs {text!r} does not exist; give a folder, a glob such as 'photos/*.jpg' "
                    "or a text file listing one path per line"
                )
        elif isinstance(spec, Iterable):
            self.spec = "<paths>"
            self.kind, self.root = "paths", os.getcwd()
            self._iterable = spec
            if isinstance(spec, (list, tuple)):
                self._paths = [os.fspath(p) for p in spec]
                if self._paths:  # names relative to the paths' common folder, as for a folder of them
                    with contextlib.suppress(ValueError):
                        folders = [os.path.dirname(os.path.abspath(os.path.expanduser(p))) for p in self._paths]
                        self.root = os.path.commonpath(folders)
        else:
            raise InputError(
                f"inputs must be a folder, a glob, a list file or a list of paths, got {type(spec).__name__}"
            )

    def describe(self) -> str:
        kinds = {"dir": "folder", "glob": "glob", "list": "list file", "file": "file", "paths": "list of paths"}
        return f"{kinds[self.kind]} {self.spec}"

    def empty_message(self) -> str:
        looked = f" (looked for {', '.join(self.suffixes)})" if self.suffixes and self.kind in ("dir", "glob") else ""
        return f"no input files in {self.describe()}{looked}; nothing to do"

    # ---------------------------------------------------------------- streaming
    def _raw(self) -> Iterator[tuple[str, str]]:
        """(absolute path, relative path) pairs in stream order."""
        if self.kind == "dir":
            for path in walk_files(self.root, self.suffixes, self.exclude):
                yield path, Path(path).relative_to(self.root).as_posix()
        elif self.kind == "glob":
            for path in _glob_walk(self.root, self._glob_parts, self.exclude):
                path = os.path.abspath(path)
                yield path, Path(path).relative_to(self.root).as_posix()
        elif self.kind == "file":
            path = os.path.abspath(os.path.expanduser(self.spec))
            yield path, Path(path).name
        elif self.kind == "list":
            yield from self._list_lines()
        else:
            source = self._paths if self._paths is not None else self._iterable
            for p in source or ():
                absolute = os.path.abspath(os.path.expanduser(os.fspath(p)))
                yield absolute, _relative(absolute, self.root)

    def _entry(self, text: str, first: str, second: str | None) -> tuple[str, str]:
        p = os.path.expanduser(text)
        if os.path.isabs(p):
            p = os.path.normpath(p)
            return p, _relative(p, self.root)
        cand = os.path.normpath(os.path.join(first, p))
        if second is not None and not os.path.exists(cand):
            alt = os.path.normpath(os.path.join(second, p))
            if os.path.exists(alt):
                cand = alt
        return cand, Path(os.path.normpath(p)).as_posix()

    def _list_lines(self) -> Iterator[tuple[str, str]]:
        path = os.path.expanduser(self.spec)
        cwd = os.getcwd()
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    text = line.strip()
                    if not text or text.startswith("#"):
                        continue
                    yield self._entry(text, self.root, cwd)
        except UnicodeDecodeError:
            raise InputError(
                f"--inputs {self.spec!r} is neither a folder nor a text list of paths (not UTF-8 text); "
                "give a folder, a glob or a list file"
            ) from None

    def __iter__(self) -> Iterator[Item]:
        for index, (absolute, rel) in enumerate(self._raw()):
            yield Item(index, absolute, rel, item_name(rel, absolute))

    def counter(self) -> Callable[[Callable[[], bool]], int | None] | None:
        """A function counting the inputs by a second pass (for the progress bar's ETA), or None when the
        inputs cannot be read twice. It takes ``stop()`` and returns None when stopped early."""
        if self.kind == "paths" and self._paths is None:
            return None

        def count(stop: Callable[[], bool]) -> int | None:
            n = 0
            for _ in self._raw():
                n += 1
                if n % 4096 == 0 and stop():
                    return None
            return n

        return count


__all__ = [
    "VIDEO_SUFFIXES",
    "InputSource",
    "Item",
    "item_name",
    "path_hash",
    "split_glob",
    "suffixes_for",
    "walk_files",
]
