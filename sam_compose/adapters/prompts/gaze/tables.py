"""CSV plumbing for the gaze readers: open (gzip-aware), header, delimiter, chunked parsing.

:func:`csv_chunks` yields a file's data rows in chunks of at most ``chunk_size`` rows as
small table objects with ``num(column)`` (float64, NaN for empty cells) and
``present(column)`` (non-empty cells). pandas' C parser is used when pandas is
installed (it ships with gradio), the standard csv module otherwise.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ....errors import LimitError
from ....security import limits
from ....security.paths import check_regular_file
from .samples import GazeError

__all__ = ["open_text", "first_line", "norm_name", "split_header", "delimiter", "csv_chunks"]


class _Bounded(io.RawIOBase):
    """A byte stream that refuses to go past the ``gaze_bytes`` limit in total or the
    ``line_bytes`` limit without a newline (checked as the bytes arrive, before any line
    is assembled)."""

    def __init__(self, raw: Any, path: Path) -> None:
        self._raw, self._path = raw, path
        self._total = self._run = 0
        self._max_total, self._max_line = limits.get("gaze_bytes"), limits.get("line_bytes")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if not n:
            return n
        self._total += n
        if self._total > self._max_total:
            raise limits.over("gaze_bytes", self._total, f"gaze file {self._path.name}",
                              "split the recording or read a shorter export")
        data = memoryview(buffer)[:n].tobytes()
        first, last = data.find(b"\n"), data.rfind(b"\n")
        longest = self._run + (n if first < 0 else first)
        if first >= 0 and n > self._max_line:
            longest = max(longest, max(len(seg) for seg in data[first + 1:last].split(b"\n")))
        self._run = self._run + n if first < 0 else n - last - 1
        if max(longest, self._run) > self._max_line:
            raise limits.over("line_bytes", max(longest, self._run), f"gaze file {self._path.name}: a line",
                              "is it really a line-per-sample recording?")
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_text(path: Path) -> io.TextIOBase:
    """The recording as text (gzip or plain), bounded in total size and line length."""
    check_regular_file(path, "gaze file")  # a FIFO would block forever
    with open(path, "rb") as fh:
        magic = fh.read(2)
    raw: Any = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115 - closed by the wrapper
    return io.TextIOWrapper(io.BufferedReader(_Bounded(raw, path)), encoding="utf-8-sig", newline="")


def first_line(path: Path) -> str:
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
            reader = pd.read_csv(fh, sep=delim, header=None, names=list(range(len(raw))), chunksize=chunk_size,
                                 skip_blank_lines=True, index_col=False, low_memory=False, on_bad_lines="error")
            try:
                for df in reader:
                    yield header, _Frame(header, df, path), row_no
                    row_no += len(df)
            except LimitError:
                raise
            except (ValueError, pd.errors.ParserError) as exc:
                raise GazeError(f"{path}: malformed CSV near data row {row_no}: {exc}") from exc
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
