"""CSV plumbing for the gaze readers: open (gzip-aware, bounded), header, delimiter, chunked parsing.

:func:`open_text` streams a file (gzip or plain) through :class:`BoundedLines`, which
refuses a line longer than :func:`.limits.max_line_bytes` after reading at most that many
bytes: a small gzip file that inflates to one endless line is refused fast, in bounded
memory. :func:`csv_chunks` yields a file's data rows in chunks of at most ``chunk_size``
rows as small table objects with ``num(column)`` (float64, NaN for empty cells),
``text(column)`` and ``present(column)`` (non-empty cells). pandas' C parser is used when
pandas is installed (it ships with gradio), the standard csv module otherwise.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ....errors import LimitError
from ....security.paths import check_regular_file
from .errors import GazeError
from .limits import line_too_long, max_bytes, max_line_bytes, too_many_bytes

__all__ = ["BoundedLines", "csv_chunks", "delimiter", "first_line", "norm_name", "open_text", "split_header"]


class BoundedLines(io.RawIOBase):
    """A binary stream that raises :class:`~.errors.GazeLimitError` once a line (bytes between
    two newlines) grows past ``line_bytes``, or the stream past ``gaze_bytes`` in total
    (:mod:`.limits`). Reads are passed through in pieces, so nothing longer than one read is
    ever held."""

    def __init__(self, raw: Any, where: object) -> None:
        super().__init__()
        self._raw, self._where = raw, where
        self._limit, self._max_total = max_line_bytes(), max_bytes()
        self._run = 0  # bytes since the last newline
        self._total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf)
        data = self._raw.read(min(len(view), max(self._limit + 1, 1 << 16)))
        if not data:
            return 0
        self._total += len(data)
        if self._total > self._max_total:
            raise too_many_bytes(self._where, self._total)
        last = data.rfind(b"\n")
        if last < 0:
            self._run += len(data)
        else:
            first = data.find(b"\n")
            inner = max((len(p) for p in data[first + 1 : last].split(b"\n")), default=0) if last > first else 0
            longest = max(self._run + first, inner)
            if longest > self._limit:
                raise line_too_long(self._where, longest)
            self._run = len(data) - last - 1
        if self._run > self._limit:
            raise line_too_long(self._where, self._run)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def open_text(path: Path) -> io.TextIOBase:
    """``path`` as text (UTF-8, BOM skipped), gunzipped when it starts with the gzip magic,
    streamed through :class:`BoundedLines`."""
    check_regular_file(path, "gaze file")  # a FIFO would block forever
    with open(path, "rb") as fh:
        magic = fh.read(2)
    raw: Any = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115 - returned open
    bounded = io.BufferedReader(BoundedLines(raw, path), buffer_size=1 << 16)
    return io.TextIOWrapper(bounded, encoding="utf-8-sig", newline="")


def first_line(path: Path) -> str:
    """The first non-blank line of ``path``, stripped (bounded like every read)."""
    try:
        with open_text(path) as fh:
            for line in fh:
                if line.strip():
                    return line.strip()
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise GazeError(f"cannot read gaze file {path}: {exc}") from exc
    raise GazeError(f"gaze file {path} is empty: record gaze first, or check the export folder")


def norm_name(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


def split_header(line: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter(line)))


def delimiter(line: str) -> str:
    """Comma, tab or semicolon: whichever the header line uses most."""
    counts = {",": line.count(","), "\t": line.count("\t"), ";": line.count(";")}
    return max(counts, key=lambda k: counts[k])


class _Rows:
    """One chunk of CSV rows parsed by the csv module (fallback without pandas)."""

    def __init__(self, header: list[str], rows: list[list[str]], path: Path) -> None:
        self.header, self.rows, self.path = header, rows, path

    def __len__(self) -> int:
        return len(self.rows)

    def _idx(self, name: str) -> int:
        try:
            return self.header.index(name)
        except ValueError as exc:
            raise GazeError(f"{self.path}: column {name!r} not found; header is {self.header[:15]}") from exc

    def num(self, name: str) -> np.ndarray:
        """Column as float64; empty or non-numeric cells are NaN, true/false are 1/0."""
        i = self._idx(name)
        col = [r[i] if i < len(r) else "" for r in self.rows]
        try:
            return np.array(col, dtype=np.float64)
        except ValueError:
            return np.array([_to_float(v) for v in col], dtype=np.float64)

    def present(self, name: str) -> np.ndarray:
        """Whether each cell of the column is non-empty."""
        i = self._idx(name)
        return np.array([bool(r[i].strip()) if i < len(r) else False for r in self.rows])

    def text(self, name: str) -> np.ndarray:
        """Column as stripped strings ("" for empty cells)."""
        i = self._idx(name)
        return np.array([r[i].strip() if i < len(r) else "" for r in self.rows], dtype=object)


class _Frame:
    """One chunk parsed by pandas' C parser (much faster for long recordings)."""

    def __init__(self, header: list[str], df: Any, path: Path) -> None:
        self.header, self.df, self.path = header, df, path

    def __len__(self) -> int:
        return len(self.df)

    def _col(self, name: str) -> Any:
        if name not in self.header:
            raise GazeError(f"{self.path}: column {name!r} not found; header is {self.header[:15]}")
        return self.df.iloc[:, self.header.index(name)]

    def num(self, name: str) -> np.ndarray:
        col = self._col(name)
        if col.dtype == object:
            low = col.astype(str).str.strip().str.lower()
            col = low.replace({"true": "1", "false": "0"})
            import pandas as pd

            col = pd.to_numeric(col, errors="coerce")
        return col.to_numpy(dtype=np.float64, na_value=np.nan)

    def present(self, name: str) -> np.ndarray:
        col = self._col(name)
        ok = col.notna().to_numpy()
        if col.dtype == object:
            ok &= col.astype(str).str.strip().ne("").to_numpy()
        return ok

    def text(self, name: str) -> np.ndarray:
        col = self._col(name)
        return col.fillna("").astype(str).str.strip().to_numpy(dtype=object)


def _to_float(v: str) -> float:
    v = v.strip().lower()
    if v in ("true", "false"):
        return 1.0 if v == "true" else 0.0
    try:
        return float(v)
    except ValueError:
        return float("nan")


def csv_chunks(path: Path, chunk_size: int) -> Iterator[tuple[list[str], Any, int]]:
    """Yield (normalised header, chunk table, first data row number) of <= ``chunk_size`` rows.

    Uses pandas' C parser when pandas is installed (it comes with gradio), else the csv module.
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas ships with gradio
        pd = None
    with open_text(path) as fh:
        first = ""
        for line in fh:
            if line.strip():
                first = line
                break
        raw = split_header(first.strip())
        header = [norm_name(c) for c in raw]
        delim = delimiter(first)
        row_no = 2
        if pd is not None:
            reader = pd.read_csv(
                fh,
                sep=delim,
                header=None,
                names=list(range(len(raw))),
                chunksize=chunk_size,
                skip_blank_lines=True,
                index_col=False,
                low_memory=False,
                on_bad_lines="error",
            )
            try:
                for df in reader:
                    yield header, _Frame(header, df, path), row_no
                    row_no += len(df)
            except (GazeError, LimitError):
                raise
            except (ValueError, pd.errors.ParserError) as exc:
                raise GazeError(
                    f"{path}: malformed CSV near data row {row_no}: {' '.join(str(exc).split())[:200]}"
                ) from exc
            return
        rows: list[list[str]] = []
        for row in csv.reader(fh, delimiter=delim):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append(row)
            if len(rows) >= chunk_size:
                yield header, _Rows(header, rows, path), row_no
                row_no += len(rows)
                rows = []
        if rows:
            yield header, _Rows(header, rows, path), row_no
