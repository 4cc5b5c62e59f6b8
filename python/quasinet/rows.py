"""The rows of a data set in this process (NumPy arrays): the reductions the fitting module needs.

:class:`ArrayRows` is the NumPy side of the small interface through which
:mod:`quasinet.fitting` sees its data (:class:`quasinet.dask.DaskRows` is the Dask side): class
labels, a held-out mask, zero-weight dropping and duplicate merging, weighted standardisation,
and the arrays that :meth:`quasinet.Network.bind` turns into the bound objective (cost,
gradient, Gauss-Newton matrix, Hessian-vector products). Both sides compute the same numbers
up to floating-point summation order.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .scaling import standardisation

_HASH_CHUNK = 1 << 14  # rows hashed at a time: the temporaries stay in cache (128 KiB each)
_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def row_hashes(X, Y):
    """A 64-bit hash of every row of [X, Y], shape (N,), read in place (any memory layout).

    Equal rows (as floats: -0.0 equals 0.0) get equal hashes; each column is folded in with a
    multiply and an xor-shift, and the result finished with splitmix64's mixer. Distinct rows
    may collide, which merge_duplicates detects.
    """
    N = X.shape[0]
    h = np.empty(N, dtype=np.uint64)
    cols = [X[:, j] for j in range(X.shape[1])] + [Y[:, j] for j in range(Y.shape[1])]
    t = np.empty(min(_HASH_CHUNK, N), dtype=np.uint64)
    for r0 in range(0, N, _HASH_CHUNK):
        r1 = min(N, r0 + _HASH_CHUNK)
        acc, tmp = h[r0:r1], t[: r1 - r0]
        acc[...] = _GOLDEN
        for c in cols:
            np.add(c[r0:r1], 0.0, out=tmp.view(np.float64))  # -0.0 + 0.0 is +0.0
            acc ^= tmp
            acc *= _MIX1
            np.right_shift(acc, np.uint64(32), out=tmp)
            acc ^= tmp
        np.right_shift(acc, np.uint64(29), out=tmp)
        acc ^= tmp
        acc *= _MIX2
        np.right_shift(acc, np.uint64(32), out=tmp)
        acc ^= tmp
    return h


def _has_ties(sorted_hashes):
    return bool(np.any(sorted_hashes[1:] == sorted_hashes[:-1]))


def _merge_sorted(X, Y, w):
    """The exact merge in lexicographic row order (np.unique on the rows); the fallback when two
    distinct rows share a hash."""
    rows = np.ascontiguousarray(np.hstack([X, Y])) + 0.0
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=w, minlength=uniq.shape[0])
    d = X.shape[1]
    return np.ascontiguousarray(uniq[:, :d]), np.ascontiguousarray(uniq[:, d:]), weights


def merge_duplicates(X, Y, w):
    """Drop zero-weight samples and merge identical (x, y) samples into one, summing weights.

    J is unchanged (a sample of weight w counts as w repeated samples). Without repeated rows
    and with no weight other than 0 and 1 (the common case) X and Y come back as given, in
    place and in their order (minus zero-weight rows): no copy, no reordering. Otherwise the
    merged rows come in a canonical order (by row hash, each group checked row by row; the
    lexicographic order if two distinct rows share a hash), so such fits do not depend on the
    order of the samples, and repeating a sample gives bitwise the same model as weighting it.
    Detecting repeats costs one hashing pass over the rows and one sort of N 64-bit hashes.
    Returns weights None when they are all 1 (the core's unweighted path).
    """
    if w is not None:
        keep = w > 0
        if not np.all(keep):
            X, Y, w = X[keep], Y[keep], w[keep]
        if np.all(w == 1.0):
            w = None
    h = row_hashes(X, Y)
    if w is None and not _has_ties(np.sort(h)):
        return X, Y, None
    # Canonical order: by hash (equal rows are adjacent, distinct rows rarely tie).
    order = np.argsort(h, kind="stable")
    hs = h[order]
    tie = hs[1:] == hs[:-1]
    if not tie.any():  # weights, no repeats: only the order changes
        return X[order] + 0.0, Y[order] + 0.0, w[order]  # + 0.0: one sign for zeros, as merged rows have
    if w is not None:  # equal rows ordered by weight: their sum no longer depends on the input order
        order = np.lexsort((w, h))
        hs = h[order]
    start = np.flatnonzero(np.concatenate([[True], ~tie]))
    sizes = np.diff(np.append(start, hs.size))
    first = np.repeat(order[start], sizes)  # for each sorted row, the first row of its group
    later = first != order
    a, b = order[later], first[later]
    if not (np.array_equal(X[a], X[b]) and np.array_equal(Y[a], Y[b])):
        return _merge_sorted(X, Y, w)  # two distinct rows share a hash
    weights = np.add.reduceat(w[order], start) if w is not None else sizes.astype(float)
    if np.all(weights == 1.0):
        weights = None
    return X[order[start]] + 0.0, Y[order[start]] + 0.0, weights  # + 0.0: one sign for the zeros of a group


class ArrayRows:
    """X (N, d), targets Y (N, k) or 1-D labels, and sample weights w (N,) or None, as NumPy arrays.

    The fitting module never touches the arrays' rows itself: it asks this object (or its Dask
    twin) for what it needs.
    """

    def __init__(self, X: np.ndarray, Y: np.ndarray, w: Optional[np.ndarray]):
        self.X, self.Y, self.w = X, Y, w

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def total_weight(self) -> float:
        """Sum of the sample weights (the row count without weights)."""
        return float(self.n_rows if self.w is None else np.sum(self.w))

    def check_weights(self) -> None:
        """ValueError for negative, non-finite or all-zero sample weights."""
        w = self.w
        if w is None:
            return
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite and non-negative")
        if not np.any(w > 0):
            raise ValueError("sample_weight must not be all zero")

    def classes(self) -> Tuple[np.ndarray, np.ndarray]:
        """The sorted class labels of the 1-D targets and each row's index into them."""
        return np.unique(self.Y, return_inverse=True)

    def present_classes(self, index: np.ndarray, n_classes: int) -> int:
        """How many classes have a row of positive weight."""
        return int(np.unique(index if self.w is None else index[self.w > 0]).size)

    @property
    def n_outputs(self) -> int:
        return int(self.Y.shape[1])

    def with_targets(self, Y) -> "ArrayRows":
        return ArrayRows(self.X, Y, self.w)

    def one_hot(self, index, k: int) -> np.ndarray:
        """Class indices as one-hot rows (N, k)."""
        out = np.zeros((index.size, k))
        out[np.arange(index.size), index] = 1.0
        return out

    def label_vector(self, index) -> np.ndarray:
        """Each row's class index as a NumPy vector (for a stratified held-out part)."""
        return np.asarray(index)

    def split(self, held_out: np.ndarray) -> Tuple["ArrayRows", "ArrayRows"]:
        """The rows outside and inside the boolean mask ``held_out``, each in their order."""
        keep = ~held_out
        part = lambda m: ArrayRows(self.X[m], self.Y[m], None if self.w is None else self.w[m])  # noqa: E731
        return part(keep), part(held_out)

    def subset(self, index: np.ndarray) -> "ArrayRows":
        """The rows at the (sorted) integer ``index``, in that order."""
        return ArrayRows(self.X[index], self.Y[index], None if self.w is None else self.w[index])

    def merged(self) -> "ArrayRows":
        """Zero-weight rows dropped and repeated rows merged (:func:`merge_duplicates`)."""
        return ArrayRows(*merge_duplicates(self.X, self.Y, self.w))

    def standardisation(self, which: str) -> Tuple[np.ndarray, np.ndarray]:
        """Weighted mean and scale of the columns of X (``which="X"``) or Y."""
        return standardisation(self.X if which == "X" else self.Y, self.w)

    def scaled(self, x_mean, x_scale, y_mean=None, y_scale=None) -> "ArrayRows":
        """The rows with X (and Y, when y_mean is given) standardised."""
        Y = self.Y if y_mean is None else (self.Y - y_mean) / y_scale
        return ArrayRows((self.X - x_mean) / x_scale, Y, self.w)

    def close(self) -> None:
        """Nothing is held elsewhere."""
