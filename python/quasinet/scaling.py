"""Standardisation of data columns (shared by the CLI, the estimators and the exports)."""

from __future__ import annotations

import numpy as np


def standardisation(A, weights=None):
    """Column means and standard deviations of A (n_samples, n_columns), weighted if ``weights``.

    A constant (or nearly constant) column gets standard deviation 1, not its rounding noise,
    so it stays as it is instead of being blown up. Returns (mean, std), each (n_columns,).
    """
    A = np.asarray(A, dtype=float)
    if weights is None:
        mean, std = A.mean(axis=0), A.std(axis=0)
    else:
        mean = np.average(A, axis=0, weights=weights)
        std = np.sqrt(np.average((A - mean) ** 2, axis=0, weights=weights))
    return mean, unit_scale_for_constant(mean, std)


def unit_scale_for_constant(mean, std):
    """std with 1 where a column is constant up to rounding (std <= 1e-12 max(1, |mean|)), in place."""
    std[std <= 1e-12 * np.maximum(1.0, np.abs(mean))] = 1.0
    return std
