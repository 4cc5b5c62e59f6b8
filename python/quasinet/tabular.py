"""Tables with text (categorical) columns and gaps, turned into the numbers a network takes.

Two forms of one encoding:

- :class:`ColumnEncoding`, without scikit-learn: fitted on a :class:`quasinet.csvread.Table`,
  a pandas DataFrame or a mapping of column name to values; stored as plain JSON (a model
  file's header can carry it, :meth:`ColumnEncoding.to_json`); used by the command line.
- :func:`quasinet.sklearn.make_tabular`: a scikit-learn ``Pipeline`` of a ``ColumnTransformer`` and a quasinet
  estimator, for DataFrames in ``cross_validate``, ``GridSearchCV`` and pickles.

The encoding, column by column:

- a **number column** keeps its values; a gap (NaN, an empty cell) is filled with the
  column's training median (or mean), and if the training data had gaps in the column, a
  0/1 feature ``"<name> (missing)"`` marks the rows that had one;
- a **categorical column** (text, detected or named) becomes one 0/1 feature
  ``"<name>=<category>"`` per category seen in training; a category not seen in training
  encodes as all zeros; a gap is a category of its own (``"<name> (missing)"``) when the
  training data had gaps in the column, else all zeros too. Categories are compared as text:
  cells are stripped of surrounding spaces, and a number given for a categorical column is
  written without a trailing ``.0`` (4.0 -> ``"4"``).
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .csvread import MISSING_TEXTS, Table

__all__ = ["ColumnEncoding", "ColumnKinds"]

#: Version of the JSON form written by :meth:`ColumnEncoding.to_json`.
ENCODING_VERSION = 1
IMPUTE = ("median", "mean")
# Bounds checked when reading the JSON form (it may come from an untrusted file).
MAX_COLUMNS = 1_000_000
MAX_CATEGORIES = 1_000_000
MAX_NAME_LENGTH = 10_000


def _is_missing(v) -> bool:
    """None, NaN, pandas' NA and NaT, and empty or marker texts (``NA``, ``NaN``, ``nan``)."""
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() in MISSING_TEXTS
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    return type(v).__name__ in ("NAType", "NaTType")


def category_label(v) -> Optional[str]:
    """The text a categorical cell is compared as: stripped text, integral numbers without
    ``.0``; ``None`` for a gap."""
    if _is_missing(v):
        return None
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 2**63 else repr(f)
    return str(v).strip()


def _missing_name(name: str) -> str:
    return f"{name} (missing)"


# -- reading columns from the supported containers ----------------------------------------------
def _column_names(data) -> List[str]:
    if isinstance(data, Table):
        return list(data.columns)
    if hasattr(data, "columns") and hasattr(data, "__getitem__"):  # a DataFrame
        return [str(c) for c in data.columns]
    if isinstance(data, Mapping):
        return [str(c) for c in data.keys()]
    raise TypeError("data must be a quasinet.csvread.Table, a pandas DataFrame or a mapping of column name to "
                    f"values, got {type(data).__name__}")


def _raw(data, name: str):
    if isinstance(data, Table):
        return data.column(name)
    try:
        values = data[name]
    except KeyError:
        raise ValueError(f"column {name!r} is missing (columns: {', '.join(_column_names(data)[:20])})") from None
    if hasattr(values, "to_numpy"):  # pandas: NA-aware object form keeps text and gaps apart
        values = values.to_numpy(dtype=object) if not _numeric_dtype(values.dtype) else values.to_numpy(
            dtype=np.float64, na_value=np.nan)
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D, got shape {values.shape}")
    return values


def _numeric_dtype(dtype) -> bool:
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:  # pandas extension dtypes
        return getattr(dtype, "kind", "O") in "biuf"


def _is_number_column(values) -> bool:
    if values.dtype.kind in "biuf":
        return True
    if values.dtype.kind != "O":
        return False
    # bools count as numbers (0 and 1), as NumPy's and pandas' bool dtypes do
    return all(_is_missing(v) or isinstance(v, (numbers.Real, np.bool_)) for v in values)


def _as_numbers(data, name: str) -> np.ndarray:
    """A number column as float64 with NaN for gaps; ValueError naming the column and the row."""
    if isinstance(data, Table):
        return data.numbers([name], allow_missing=True)[:, 0]  # its errors name the line
    values = _raw(data, name)
    if values.dtype.kind in "biuf":
        out = values.astype(np.float64)
    else:
        out = np.empty(values.shape[0])
        for r, v in enumerate(values):
            if _is_missing(v):
                out[r] = np.nan
            elif isinstance(v, (numbers.Real, np.bool_)):
                out[r] = float(v)
            else:
                raise ValueError(f"column {name!r}, row {r}: {v!r} is not a number (the encoding treats {name!r} as "
                                 "a number column; fit it with the column named in categorical to encode it as "
                                 "categories)")
    bad = np.isinf(out)
    if bad.any():
        raise ValueError(f"column {name!r}, row {int(np.argmax(bad))}: {out[bad][0]} is not a finite number")
    return out


def _as_labels(data, name: str) -> List[Optional[str]]:
    if isinstance(data, Table):
        return list(data.text(name, allow_missing=True))
    return [category_label(v) for v in _raw(data, name)]


# -- the encoding -------------------------------------------------------------------------------
class ColumnEncoding:
    """Number and categorical columns encoded as the network's inputs (see the module docstring).

    Build one with :meth:`fit` or :meth:`from_json`; apply it with :meth:`transform`.

    Attributes
    ----------
    columns : list of dict
        One entry per input column, in order: ``{"name", "kind": "number", "fill", "indicator"}``
        or ``{"name", "kind": "categorical", "categories", "indicator"}``.
    impute : {"median", "mean"}
        How ``fill`` was computed.
    """

    def __init__(self, columns: List[Dict[str, Any]], impute: str = "median"):
        self.columns = columns
        self.impute = impute
        names = self.feature_names()
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"two encoded features would both be named {dup!r}: rename a column or a category")

    # -- fitting --------------------------------------------------------------------------------
    @classmethod
    def fit(cls, data, columns: Optional[Sequence[str]] = None, *, categorical: Union[str, Sequence[str]] = "auto",
            impute: str = "median") -> "ColumnEncoding":
        """Learn the encoding of ``columns`` (default: all) of ``data``.

        Parameters
        ----------
        data : quasinet.csvread.Table, pandas.DataFrame or mapping of name to 1-D values
        columns : sequence of str, optional
            The input columns, in the order of the encoded features.
        categorical : "auto" or sequence of str
            ``"auto"``: text columns (in a Table, columns with a cell that is not a number; in a
            DataFrame or mapping, non-numeric dtypes) are categorical, the others numbers. A
            sequence names the categorical columns; then only those are (another text column is
            an error naming it).
        impute : {"median", "mean"}
            The value that fills gaps in number columns.
        """
        if impute not in IMPUTE:
            raise ValueError(f"impute must be one of {IMPUTE}, got {impute!r}")
        available = _column_names(data)
        if columns is None:
            columns = available
        if isinstance(columns, str):
            raise TypeError(f"columns must be a sequence of column names, got the string {columns!r}")
        columns = list(columns)
        if not columns:
            raise ValueError("no input columns to encode")
        if len(set(columns)) != len(columns):
            raise ValueError(f"column {next(c for c in columns if columns.count(c) > 1)!r} is named twice")
        for name in columns:
            if name not in available:
                raise ValueError(f"unknown column {name!r} (columns: {', '.join(available[:20])})")
        if isinstance(categorical, str):
            if categorical != "auto":
                raise ValueError(f"categorical must be 'auto' or a list of column names, got {categorical!r}")
            named = None
        else:
            named = list(categorical)
            for name in named:
                if name not in columns:
                    raise ValueError(f"categorical column {name!r} is not among the input columns ({', '.join(columns[:20])})")
        specs = []
        for name in columns:
            if named is not None:
                is_cat = name in named
            elif isinstance(data, Table):
                is_cat = data.kind(name) == "text"
            else:
                is_cat = not _is_number_column(_raw(data, name))
            if is_cat:
                labels = _as_labels(data, name)
                present = [v for v in labels if v is not None]
                if not present:
                    raise ValueError(f"categorical column {name!r} has no values (every cell is missing): leave it out")
                specs.append({"name": name, "kind": "categorical", "categories": sorted(set(present)),
                              "indicator": len(present) < len(labels)})
            else:
                values = _as_numbers(data, name)
                present = values[~np.isnan(values)]
                if present.size == 0:
                    raise ValueError(f"number column {name!r} has no values (every cell is missing): leave it out")
                fill = float(np.median(present) if impute == "median" else np.mean(present))
                specs.append({"name": name, "kind": "number", "fill": fill, "indicator": present.size < values.size})
        return cls(specs, impute)

    # -- applying -------------------------------------------------------------------------------
    @property
    def inputs(self) -> List[str]:
        """Names of the input columns, in order."""
        return [c["name"] for c in self.columns]

    def feature_names(self) -> List[str]:
        """Names of the encoded features (the network's inputs), in order."""
        out = []
        for c in self.columns:
            if c["kind"] == "number":
                out.append(c["name"])
            else:
                out.extend(f"{c['name']}={cat}" for cat in c["categories"])
            if c["indicator"]:
                out.append(_missing_name(c["name"]))
        return out

    @property
    def n_features(self) -> int:
        return len(self.feature_names())

    def transform(self, data) -> np.ndarray:
        """The encoded features of ``data`` (same containers as :meth:`fit`), float64 of shape
        (n_rows, n_features). Columns are found by name; extra columns are ignored."""
        blocks = []
        n = None
        available = set(_column_names(data))
        for c in self.columns:
            name = c["name"]
            if name not in available:
                raise ValueError(f"column {name!r} is missing (the encoding needs {', '.join(self.inputs[:20])})")
            if c["kind"] == "number":
                values = _as_numbers(data, name)
                gaps = np.isnan(values)
                block = [np.where(gaps, c["fill"], values)]
            else:
                labels = _as_labels(data, name)
                index = {cat: i for i, cat in enumerate(c["categories"])}
                onehot = np.zeros((len(labels), len(index)))
                for r, label in enumerate(labels):
                    i = index.get(label)
                    if i is not None:
                        onehot[r, i] = 1.0
                gaps = np.array([label is None for label in labels], dtype=bool)
                block = [onehot.T[i] for i in range(len(index))]
            if c["indicator"]:
                block.append(gaps.astype(np.float64))
            if n is None:
                n = block[0].shape[0]
            elif block[0].shape[0] != n:
                raise ValueError(f"column {name!r} has {block[0].shape[0]} values, the others {n}")
            blocks.extend(block)
        return np.column_stack(blocks) if blocks else np.empty((0, 0))

    def describe(self) -> List[str]:
        """One line per column, for ``quasinet info``."""
        lines = []
        for c in self.columns:
            gap = ", gaps marked" if c["indicator"] else ""
            if c["kind"] == "number":
                lines.append(f"{c['name']}: number, gaps filled with {c['fill']:.6g} ({self.impute}){gap}")
            else:
                cats = c["categories"]
                shown = ", ".join(cats[:8]) + (f", ... ({len(cats)} in all)" if len(cats) > 8 else "")
                lines.append(f"{c['name']}: categorical ({shown}){gap}")
        return lines

    def __repr__(self) -> str:
        kinds = ", ".join(f"{c['name']}:{'cat' if c['kind'] == 'categorical' else 'num'}" for c in self.columns)
        return f"ColumnEncoding({kinds})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ColumnEncoding) and self.to_json() == other.to_json()

    # -- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> Dict[str, Any]:
        """The encoding as a JSON-serialisable dict (``json.dumps`` writes it; :meth:`from_json` reads it)."""
        return {"version": ENCODING_VERSION, "impute": self.impute,
                "columns": [dict(c, categories=list(c["categories"])) if c["kind"] == "categorical" else dict(c)
                            for c in self.columns]}

    @classmethod
    def from_json(cls, obj: Union[str, Dict[str, Any]]) -> "ColumnEncoding":
        """Read :meth:`to_json`'s form (a dict or its JSON text); ValueError naming what is wrong."""
        if isinstance(obj, (str, bytes)):
            try:
                obj = json.loads(obj)
            except ValueError as exc:
                raise ValueError(f"column encoding: not JSON ({exc})") from None

        def fail(msg):
            return ValueError(f"column encoding: {msg}")

        if not isinstance(obj, dict):
            raise fail(f"expected a JSON object, got {type(obj).__name__}")
        if set(obj) != {"version", "impute", "columns"}:
            raise fail(f"expected the keys columns, impute and version, got {sorted(map(str, obj))}")
        if obj["version"] != ENCODING_VERSION or isinstance(obj["version"], bool):
            raise fail(f"version {obj['version']!r} is not supported (expected {ENCODING_VERSION})")
        if obj["impute"] not in IMPUTE:
            raise fail(f"impute must be one of {IMPUTE}, got {str(obj['impute'])[:40]!r}")
        cols = obj["columns"]
        if not isinstance(cols, list) or not 1 <= len(cols) <= MAX_COLUMNS:
            raise fail(f"columns must be a list of 1 to {MAX_COLUMNS} entries")
        specs, seen = [], set()
        for i, c in enumerate(cols):
            where = f"column {i}"
            if not isinstance(c, dict):
                raise fail(f"{where} must be an object, got {type(c).__name__}")
            name = c.get("name")
            if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
                raise fail(f"{where}: name must be a non-empty string of at most {MAX_NAME_LENGTH} characters")
            if name in seen:
                raise fail(f"column {name!r} appears twice")
            seen.add(name)
            where = f"column {name[:40]!r}"
            if not isinstance(c.get("indicator"), bool):
                raise fail(f"{where}: indicator must be true or false")
            kind = c.get("kind")
            if kind == "number":
                if set(c) != {"name", "kind", "fill", "indicator"}:
                    raise fail(f"{where}: a number column has the keys fill, indicator, kind and name, got {sorted(c)}")
                fill = c["fill"]
                if isinstance(fill, bool) or not isinstance(fill, (int, float)) or not math.isfinite(fill):
                    raise fail(f"{where}: fill must be a finite number, got {str(fill)[:40]}")
                specs.append({"name": name, "kind": "number", "fill": float(fill), "indicator": c["indicator"]})
            elif kind == "categorical":
                if set(c) != {"name", "kind", "categories", "indicator"}:
                    raise fail(f"{where}: a categorical column has the keys categories, indicator, kind and name, "
                               f"got {sorted(c)}")
                cats = c["categories"]
                if not isinstance(cats, list) or not 1 <= len(cats) <= MAX_CATEGORIES:
                    raise fail(f"{where}: categories must be a list of 1 to {MAX_CATEGORIES} strings")
                for cat in cats:
                    if not isinstance(cat, str) or len(cat) > MAX_NAME_LENGTH:
                        raise fail(f"{where}: categories must be strings of at most {MAX_NAME_LENGTH} characters, "
                                   f"got {str(cat)[:40]!r}")
                if len(set(cats)) != len(cats):
                    raise fail(f"{where}: a category appears twice")
                specs.append({"name": name, "kind": "categorical", "categories": list(cats),
                              "indicator": c["indicator"]})
            else:
                raise fail(f"{where}: kind must be 'number' or 'categorical', got {str(kind)[:40]!r}")
        try:
            return cls(specs, obj["impute"])
        except ValueError as exc:
            raise fail(str(exc)) from None


# -- scikit-learn -------------------------------------------------------------------------------
class ColumnKinds:
    """A column selector for ``ColumnTransformer``: the categorical or the number columns of X.

    ``categorical="auto"``: columns of a non-numeric dtype (object, string, category) are
    categorical; a list names them. Picklable (a plain class at module level), so pipelines
    that use it can be saved. Date and time columns are refused (encode them as numbers first).
    """

    def __init__(self, kind: str, categorical: Union[str, Sequence[str]] = "auto"):
        if kind not in ("categorical", "number"):
            raise ValueError(f"kind must be 'categorical' or 'number', got {kind!r}")
        self.kind = kind
        self.categorical = categorical if isinstance(categorical, str) else list(categorical)

    def __call__(self, X):
        if hasattr(X, "columns") and hasattr(X, "dtypes"):
            names = list(X.columns)
            if self.categorical != "auto":
                unknown = [c for c in self.categorical if c not in names]
                if unknown:
                    raise ValueError(f"categorical column {unknown[0]!r} is not a column of X "
                                     f"(columns: {', '.join(map(str, names[:20]))})")
            chosen = []
            for name, dtype in zip(names, X.dtypes):
                if getattr(dtype, "kind", "O") in "mM":
                    raise TypeError(f"column {name!r} holds dates or times ({dtype}); encode it as numbers first "
                                    "(for example days since a reference date)")
                if self.categorical == "auto":
                    is_cat = not (_numeric_dtype(dtype) or str(dtype) == "boolean")
                else:
                    is_cat = name in self.categorical
                if is_cat == (self.kind == "categorical"):
                    chosen.append(name)
            return chosen
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {X.shape}")
        if self.categorical != "auto":
            named = set(self.categorical)
            if not all(isinstance(c, numbers.Integral) for c in named):
                raise ValueError("X has no column names (not a DataFrame): name categorical columns by position")
            is_cat = [j in named for j in range(X.shape[1])]
        elif X.dtype.kind in "biuf":
            is_cat = [False] * X.shape[1]
        else:
            is_cat = [not _is_number_column(X[:, j]) for j in range(X.shape[1])]
        return [j for j, c in enumerate(is_cat) if c == (self.kind == "categorical")]

    def __repr__(self) -> str:
        return f"ColumnKinds({self.kind!r}, categorical={self.categorical!r})"
