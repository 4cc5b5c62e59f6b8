"""Standardisation of data columns (shared by the CLI, the estimators and the exports), and the
check that a stored scaling does not overflow (:func:`check_scaled`).

One routine, :func:`standardisation`, for every finite float64 column whatever its scale:

- **Scale-invariant.** Multiplying a column by any power of two gives the same decisions and
  the mean and standard deviation multiplied by it, bit for bit; by any other factor, up to
  rounding. A column counts as constant only when its spread is rounding noise *relative to
  its own magnitude* (:data:`CONSTANT_RTOL`), so data of scale 1e-13 are scaled like data of
  scale 1.
- **Overflow-free.** Each column is first divided by the power of two just above its largest
  magnitude (exact in binary floating point), so the squares in the variance never overflow or
  underflow: columns up to the float64 maximum (1.8e308) get a finite mean and standard
  deviation. For values that do not need the rescaling the results are bitwise those of the
  plain formulas.
- **Refused, clearly.** A column whose centred values ``x - mean`` are not representable (its
  values span more than the float64 range, e.g. -1.5e308 and 1.5e308 with a mean away from 0)
  raises FloatingPointError naming the column (as the core does for data that overflow); a
  non-finite value raises ValueError.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONSTANT_RTOL", "check_scaled", "standardisation", "unit_scale_for_constant"]

#: A column is constant when its standard deviation is at most this times the magnitude of
#: its mean: the spread that rounding alone leaves in a column of one repeated value is about
#: 1e-16 of it, summation over many rows multiplies that by far less than 1e4.
CONSTANT_RTOL = 1e-12


def standardisation(A, weights=None):
    """Column means and standard deviations of A (n_samples, n_columns), weighted if ``weights``.

    A constant column (standard deviation at most :data:`CONSTANT_RTOL` times its mean's
    magnitude; an all-zero column) gets standard deviation 1, not its rounding noise, so it
    stays as it is instead of being blown up. Returns (mean, std), each (n_columns,), both
    finite, std > 0.

    Raises
    ------
    ValueError
        If A holds NaN or infinity, or has no rows.
    FloatingPointError
        If a column's values span more than float64 can represent after centring (see the
        module docstring).
    """
    A = np.asarray(A, dtype=float)
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D (samples, columns), got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError("A has 0 rows: standardisation needs at least one")
    finite = np.isfinite(A)
    if not finite.all():
        r, c = np.unravel_index(int(np.argmin(finite)), A.shape)
        raise ValueError(f"values to standardise must be finite, got {A[r, c]} in row {r}, column {c}")
    # Divide each column by 2^e with max|x| < 2^e (exact: a power of two) so that |B| < 1.
    exponent = np.frexp(np.max(np.abs(A), axis=0, initial=0.0))[1]
    B = np.ldexp(A, -exponent)
    if weights is None:
        mean_b, std_b = B.mean(axis=0), B.std(axis=0)
    else:
        w = np.asarray(weights, dtype=float)
        w = np.ldexp(w, -np.frexp(np.max(np.abs(w), initial=0.0))[1])  # sums of weights stay finite
        mean_b = np.average(B, axis=0, weights=w)
        std_b = np.sqrt(np.average((B - mean_b) ** 2, axis=0, weights=w))
    with np.errstate(over="ignore"):
        span = np.ldexp(np.max(np.abs(B - mean_b), axis=0, initial=0.0), exponent)
    bad = np.flatnonzero(~np.isfinite(span))
    if bad.size:
        c = int(bad[0])
        raise FloatingPointError(
            f"column {c} cannot be standardised: its values (from {A[:, c].min():.6g} to {A[:, c].max():.6g}) "
            "lie further from their mean than float64 can represent; rescale that column")
    # The constant test on the rescaled column: it is relative, so it answers as on A itself.
    constant = std_b <= CONSTANT_RTOL * np.abs(mean_b)
    mean, std = np.ldexp(mean_b, exponent), np.ldexp(std_b, exponent)
    std[constant] = 1.0
    return mean, std


def unit_scale_for_constant(mean, std):
    """std with 1 where a column is constant up to rounding, in place; returns std.

    A column is constant when ``std <= CONSTANT_RTOL * |mean|`` (relative to the column's own
    magnitude, so the test gives the same answer at every scale; an all-zero column, std 0,
    is constant too).
    """
    std[std <= CONSTANT_RTOL * np.abs(mean)] = 1.0
    return std


def check_scaled(scaled: np.ndarray, raw: np.ndarray, what: str, formula) -> None:
    """FloatingPointError naming the first entry a scaling turned from finite to non-finite.

    Without it a finite input beyond what the stored scaling can map (1e308 with a scale of
    1e-13) would reach the core as inf and be reported as "X must be finite".
    """
    if raw.ndim != 2:
        return  # not a (rows, columns) array: the network refuses it with its own message
    bad = ~np.isfinite(scaled)
    if bad.any():
        bad &= np.isfinite(raw)
        if bad.any():
            r, c = (int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
            raise FloatingPointError(f"{what} at row {r}, column {c}: the model's scaling {formula(c)} of "
                                     f"{float(raw[r, c])!r} overflows float64")
