"""Reading CSV files with a header row: number and text columns, gaps, one-line errors.

:func:`read_csv` reads a whole file with NumPy's C parser (``numpy.loadtxt``, NumPy >= 1.23)
and returns a :class:`Table`: each column is either a *number* column (every cell a decimal
number or missing) or a *text* column (anything else: class labels, categories).

What counts as a number is deliberately narrow: ASCII digits, sign, decimal point and exponent
(``12``, ``-0.5``, ``1e-3``, surrounding spaces allowed). ``1_000``, ``1,5``, ``0x10``, digits
of other scripts (``١٢``, ``１２``), ``inf`` and numbers that overflow float64 are not numbers.
Missing cells are empty (or blank) cells and the markers ``NA``, ``NaN`` and ``nan`` (what R,
pandas and NumPy write for a gap); they read as NaN in a number column and as ``None`` in a
text column, and are an error wherever the caller does not allow gaps. Lines that are empty,
or whose cells are all empty, are skipped.

Errors are :class:`CSVError` (a ``ValueError``) with one line naming the file and, where there
is one, the line (counted from 1, the header is line 1) and the column, for example
``data.csv, line 7, column 'x': '1_000' is not a number``.

Why NumPy's parser: it is part of the core dependencies, its float parser is strict (Python's
``float`` accepts ``1_000`` and non-ASCII digits) and correctly rounded. A file of number
columns is parsed straight to float64: 300,000 rows x 4 columns take 0.2-0.5 s of CPU (6 to
17 significant digits); a file with text columns or gaps is read as text first and converted
column block by column block (about 0.8 s for the same size). The time grows linearly with
the number of columns (bench/csv_read.py, bench/results/csv_read.txt). pandas' parser is
about seven times faster on long files and two to three times slower on wide ones, but is
not a core dependency, rounds some numbers differently from ``float`` in the last bit, and
fills short rows with NaN silently.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

__all__ = ["CSVError", "MISSING", "Table", "read_csv"]

#: Cell texts that mean "no value" (besides empty or blank cells).
MISSING = ("NA", "NaN", "nan")

PathLike = Union[str, "os.PathLike[str]"]

#: Every cell text that reads as a missing value: the empty cell and :data:`MISSING`.
MISSING_TEXTS = frozenset({""} | set(MISSING))
_NOT_NUMBER = str.maketrans("", "", "0123456789+-.eE")
# Cells classified per block of columns: bounds the temporary copies.
_BLOCK_CELLS = 1 << 22


def _is_number(cell: str) -> bool:
    """Whether a cell is a finite decimal number in ASCII digits (the rule of the module docstring)."""
    if not cell.isascii() or cell.strip().translate(_NOT_NUMBER) != "":
        return False
    try:
        return bool(np.isfinite(float(cell)))
    except ValueError:
        return False


class CSVError(ValueError):
    """A CSV file that cannot be read as asked: the message names the file, line and column."""


def _shorten(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class Table:
    """A CSV file read by :func:`read_csv`: column names and typed columns.

    Attributes
    ----------
    path : str
        The file, as given (used in messages).
    columns : list of str
        Column names, from the header row, in file order.
    n_rows : int
        Number of data rows (blank lines skipped).
    """

    def __init__(self, path: str, columns: List[str], cells: Optional[np.ndarray], *,
                 numbers: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None,
                 lines: Optional[List[int]] = None, skip: int = 1):
        # cells: (n_rows, n_columns) object array of str, the cell texts (None: read again when text is asked
        # for); numbers: (n_rows, n_columns) float64 when the parser read every cell as a number;
        # rows: for each kept row, its index among the parser's rows (None: all kept); lines: the
        # first line of each parser row (None: found by reading the file again for a message);
        # skip: the header's physical lines.
        self._skip = skip
        self.path = path
        self.columns = list(columns)
        self._position = {name: j for j, name in enumerate(self.columns)}
        self._cells = cells
        self._rows = rows
        self._lines = lines
        self._numbers: Dict[str, np.ndarray] = {}
        self._bad: Dict[str, int] = {}  # text column -> first row whose cell is not a number
        if numbers is not None:
            self.n_rows = int(numbers.shape[0])
            self._numbers = {name: numbers[:, j] for j, name in enumerate(self.columns)}
        else:
            self.n_rows = int(cells.shape[0])
            self._classify()

    # -- column kinds ---------------------------------------------------------------------------
    def _classify(self) -> None:
        C = self._cells
        n, k = C.shape
        missing = np.zeros((n, k), dtype=bool)
        for marker in ("",) + MISSING:
            missing |= C == marker
        # A column whose first non-missing cell is not a number is text (class labels, categories):
        # settled here, cell by cell over the columns only. The others are converted in whole
        # blocks of columns (100,000 columns stay linear and fast); a block that fails (a text cell
        # further down, a blank cell with spaces) is redone column by column.
        present = ~missing
        first = np.argmax(present, axis=0)
        candidates = []
        for j, (r, cell) in enumerate(zip(first.tolist(), C[first, np.arange(k)].tolist())):
            if not present[r, j]:  # every cell missing: a number column of NaN
                self._numbers[self.columns[j]] = np.full(n, np.nan)
            elif cell.strip() in MISSING_TEXTS or _is_number(cell):
                candidates.append(j)
            else:
                self._bad[self.columns[j]] = r
        block = max(1, _BLOCK_CELLS // max(n, 1))
        for b in range(0, len(candidates), block):
            cols = candidates[b:b + block]
            try:
                # To ASCII bytes first: a non-ASCII character (digits of other scripts too) is text.
                B = np.where(missing[:, cols], "nan", C[:, cols]).astype(bytes)
                values = B.astype(np.float64)
            except (ValueError, UnicodeError):
                for j in cols:
                    self._classify_column(j, missing[:, j])
                continue
            # Python's float (behind the cast) accepts '1_000' and infinities.
            V = np.ascontiguousarray(B).view(np.uint8)
            bad = ~np.isfinite(values) & ~missing[:, cols]
            if (V == ord("_")).any():  # rare: find the cells only then
                bad |= (V.reshape(n, len(cols), -1) == ord("_")).any(axis=2)
            for i, j in enumerate(cols):
                name = self.columns[j]
                if bad[:, i].any():
                    self._bad[name] = int(np.argmax(bad[:, i]))
                else:
                    self._numbers[name] = values[:, i]

    def _classify_column(self, j: int, missing: np.ndarray) -> None:
        name, col = self.columns[j], self._cells[:, j]
        values = np.full(col.shape[0], np.nan)
        try:
            B = col[~missing].astype(bytes)
            values[~missing] = B.astype(np.float64)
            V = np.ascontiguousarray(B).view(np.uint8).reshape(B.shape[0], -1)
            bad = np.zeros(col.shape[0], dtype=bool)
            bad[~missing] = (V == ord("_")).any(axis=1)
            rows = np.flatnonzero(bad | (~np.isfinite(values) & ~missing))
        except (ValueError, UnicodeError):
            # A cell that is not a number, or a blank cell with spaces: look cell by cell, in order.
            rows = []
            for r, cell in enumerate(col.tolist()):
                cell = cell.strip()
                if cell in MISSING_TEXTS:
                    values[r] = np.nan
                elif _is_number(cell):
                    values[r] = float(cell)
                else:
                    rows = [r]
                    break
        if len(rows):
            self._bad[name] = int(rows[0])
        else:
            self._numbers[name] = values

    def kind(self, name: str) -> str:
        """``"number"`` if every cell of the column is a number or missing, else ``"text"``."""
        self.index(name)
        return "number" if name in self._numbers else "text"

    def index(self, name: str) -> int:
        """Position of the column ``name``; CSVError naming the columns if there is none."""
        try:
            return self._position[name]
        except (KeyError, TypeError):
            shown = ", ".join(self.columns[:20]) + (", ..." if len(self.columns) > 20 else "")
            raise CSVError(f"{self.path}: unknown column {name!r} (columns: {shown})") from None

    # -- values ---------------------------------------------------------------------------------
    def line(self, row: int) -> int:
        """The line of the file (1 = header) on which data row ``row`` (from 0) begins."""
        if self._lines is None:
            self._lines = _data_lines(self.path)
        r = int(row if self._rows is None else self._rows[row])
        return self._lines[r] if r < len(self._lines) else -1

    def _where(self, row: int, name: str) -> str:
        line = self.line(row)
        return f"{self.path}, line {line}, column {name!r}" if line > 0 else f"{self.path}, column {name!r}"

    def _raw(self) -> np.ndarray:
        if self._cells is None:  # read as numbers only: the texts are needed after all
            self._cells = _load(self.path, self._skip, object)
            if self._cells.shape[0] != self.n_rows:
                raise CSVError(f"{self.path}: the file changed while it was being read")
        return self._cells

    def _cell(self, row: int, name: str) -> str:
        return self._raw()[row, self.index(name)].strip()

    def numbers(self, names: Sequence[str], allow_missing: bool = False) -> np.ndarray:
        """The named columns as float64, shape (n_rows, len(names)).

        Missing cells are NaN with ``allow_missing``, else a CSVError naming the line. A cell
        that is not a number is a CSVError naming the line, the column and the cell.
        """
        if isinstance(names, str):
            raise TypeError(f"names must be a sequence of column names, got the string {names!r}")
        out = np.empty((self.n_rows, len(names)))
        for c, name in enumerate(names):
            self.index(name)
            if name not in self._numbers:
                r = self._bad[name]
                cell = self._cell(r, name)
                what = "is not a finite number" if _overflows(cell) else "is not a number"
                raise CSVError(f"{self._where(r, name)}: {_shorten(cell)} {what}")
            values = self._numbers[name]
            if not allow_missing:
                gaps = np.isnan(values)
                if gaps.any():
                    r = int(np.argmax(gaps))
                    raise CSVError(f"{self._where(r, name)}: missing value ({_shorten(self._cell(r, name))})")
            out[:, c] = values
        return out

    def text(self, name: str, allow_missing: bool = False) -> np.ndarray:
        """The column's cells as text (surrounding spaces removed), an object array of str.

        Missing cells are ``None`` with ``allow_missing``, else a CSVError naming the line.
        Works on number columns too (the cells as written).
        """
        j = self.index(name)
        raw = self._raw()[:, j]
        out = np.empty(self.n_rows, dtype=object)
        for r, cell in enumerate(raw.tolist()):
            s = cell.strip()
            if s in MISSING_TEXTS:
                if not allow_missing:
                    raise CSVError(f"{self._where(r, name)}: missing value ({s!r})")
                s = None
            out[r] = s
        return out

    def number_share(self, name: str) -> float:
        """The share of the column's non-missing cells that are numbers (1 for a number column):
        a column of mostly numbers with a few words is more likely a mistake than categories."""
        if self.kind(name) == "number":
            return 1.0
        cells = [c for c in self.text(name, allow_missing=True).tolist() if c is not None]
        return sum(_is_number(c) for c in cells) / len(cells) if cells else 0.0

    def column(self, name: str) -> np.ndarray:
        """A number column as float64 (NaN for gaps), a text column as object (None for gaps)."""
        if self.kind(name) == "number":
            return self._numbers[name].copy()
        return self.text(name, allow_missing=True)

    def __repr__(self) -> str:
        return f"Table({self.path!r}, {self.n_rows} rows, columns {self.columns})"


def _overflows(cell: str) -> bool:
    """Whether ``cell`` reads as a float that is not finite (``1e999``, ``inf``)."""
    try:
        return not np.isfinite(float(cell))
    except ValueError:
        return False


def _data_lines(path: str) -> List[int]:
    """The first line of each non-empty record after the header: the rows NumPy's parser returns."""
    lines = []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        start = reader.line_num + 1
        try:
            for row in reader:
                if row:
                    lines.append(start)
                start = reader.line_num + 1
        except csv.Error:
            pass
    return lines


def _header(path: str):
    """The column names and the number of physical lines the header record takes."""
    # Read the header's own bytes only: a decoding error further down is reported with its line.
    with open(path, "rb") as f:
        raw = f.readline()
        n_lines = 1
        while raw.count(b'"') % 2 and raw.endswith(b"\n"):  # a quoted name with a newline
            more = f.readline()
            if not more:
                break
            raw += more
            n_lines += 1
    if not raw:
        raise CSVError(f"{path}: empty file (expected a header row)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CSVError(f"{path}: the header row is not UTF-8 text") from None
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise CSVError(f"{path}: malformed CSV header ({exc})") from None
    columns = [h.strip() for h in header]
    if not columns:
        raise CSVError(f"{path}: the first line is empty (expected a header row)")
    if "" in columns:
        raise CSVError(f"{path}: the header row has an empty column name (column {columns.index('') + 1})")
    seen = set()
    for name in columns:
        if name in seen:
            raise CSVError(f"{path}: the header row names column {name!r} twice")
        seen.add(name)
    return columns, n_lines


def _ragged(path: str, n_columns: int) -> CSVError:
    """The error for a record whose number of fields differs from the header's."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        next(reader, None)
        try:
            for row in reader:
                if row and len(row) != n_columns and any(cell.strip() for cell in row):
                    return CSVError(f"{path}, line {reader.line_num}: {len(row)} fields, the header has {n_columns}")
        except csv.Error as exc:
            return CSVError(f"{path}, line {reader.line_num}: malformed CSV ({exc})")
    return CSVError(f"{path}: rows with a different number of fields than the header ({n_columns})")


def _read_with_csv_module(path: str, n_columns: int):
    """The cells (object array of str) and the first line of each row, read by the standard library (for files
    NumPy's parser does not take: blank-looking lines among the rows; NumPy < 1.23)."""
    rows, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            next(reader, None)
            start = reader.line_num + 1
            for row in reader:
                if row and (len(row) == n_columns or any(cell.strip() for cell in row)):
                    if len(row) != n_columns:
                        raise CSVError(f"{path}, line {reader.line_num}: {len(row)} fields, the header has {n_columns}")
                    rows.append(row)
                    lines.append(start)
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise CSVError(f"{path}: not a UTF-8 text (CSV) file") from None
    except csv.Error as exc:
        raise CSVError(f"{path}: malformed CSV ({exc})") from None
    cells = np.empty((len(rows), n_columns), dtype=object)
    cells[...] = rows if rows else cells
    return cells, lines


def _load(path: str, skip: int, dtype) -> np.ndarray:
    """The data rows by NumPy's C parser: float64 (every cell a number) or object (the cell texts, str)."""
    with warnings.catch_warnings():
        # NumPy warns that blank lines are not counted towards its internal row chunks.
        warnings.simplefilter("ignore", UserWarning)
        # comments=None: '#' is data. dtype object: the cells as str (a flexible bytes or str dtype
        # is several times slower and grows faster than linearly with the number of columns).
        try:
            return np.loadtxt(path, delimiter=",", dtype=dtype, skiprows=skip, ndmin=2, comments=None,
                              quotechar='"', encoding="utf-8")
        except UnicodeDecodeError:
            raise CSVError(f"{path}, line {_first_non_utf8_line(path)}: not UTF-8 text") from None


def _first_non_utf8_line(path: str) -> int:
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_csv(path: PathLike) -> Table:
    """Read a CSV file with a header row (comma-separated, ``"`` quotes, UTF-8).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Table

    Raises
    ------
    CSVError
        A missing file or directory, an empty file, a header with empty or repeated names,
        a row with a different number of fields than the header, no data rows.
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike of str, got {type(path).__name__}")
    if os.path.isdir(path):
        raise CSVError(f"{path} is a directory, not a CSV file")
    if not os.path.exists(path):
        raise CSVError(f"no such file: {path}")
    columns, header_lines = _header(path)
    k = len(columns)
    # The common case first: every cell a finite number, parsed straight to float64 by the C
    # parser (strict: no '1_000', no non-ASCII digits).
    try:
        numbers = _load(path, header_lines, np.float64)
    except CSVError:
        raise
    except (ValueError, TypeError):
        numbers = None
    if numbers is not None and numbers.shape[0] > 0 and numbers.shape[1] == k and np.isfinite(numbers).all():
        return Table(path, columns, None, numbers=numbers, skip=header_lines)
    lines = None
    try:
        cells = _load(path, header_lines, object)
    except ValueError as exc:
        if "number of columns changed" not in str(exc):
            raise CSVError(f"{path}: malformed CSV ({exc})") from None
        error = _ragged(path, k)
        if "fields, the header has" in str(error):
            raise error from None
        cells, lines = _read_with_csv_module(path, k)  # only blank-looking lines differ: skip them
    except TypeError:  # pragma: no cover - NumPy < 1.23 has no quotechar
        cells, lines = _read_with_csv_module(path, k)
    if cells.shape[0] == 0:
        raise CSVError(f"{path}: no data rows after the header")
    if cells.shape[1] != k:
        raise _ragged(path, k)
    rows = None
    blank = (cells == "").all(axis=1)
    if blank.any():  # rows whose cells are all empty
        rows = np.flatnonzero(~blank)
        cells = cells[rows]
        if cells.shape[0] == 0:
            raise CSVError(f"{path}: no data rows after the header")
    return Table(path, columns, cells, rows=rows, lines=lines, skip=header_lines)
