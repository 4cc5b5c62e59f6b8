"""Scores of predictions, and a classifier's outputs as class probabilities."""

from __future__ import annotations

import numpy as np


def r2_score(y_true, y_pred):
    """Coefficient of determination 1 - sum (y - yhat)^2 / sum (y - mean y)^2, per column.

    For 1-D input a float, for (n_samples, n_outputs) an array of n_outputs; NaN where the
    targets are constant (R^2 is undefined there).
    """
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y.shape != p.shape or y.ndim not in (1, 2):
        raise ValueError(f"y_true and y_pred must have the same 1-D or 2-D shape, got {y.shape} and {p.shape}")
    # R^2 is scale-free: divide each column by a power of two (exact) above its largest |y| so
    # that the squares cannot overflow for targets up to the float64 maximum.
    scale = np.ldexp(1.0, -np.frexp(np.max(np.abs(y), axis=0, initial=0.0))[1])
    y, p = y * scale, p * scale
    ss_tot = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    ss_res = np.sum((y - p) ** 2, axis=0)
    r2 = 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0)
    r2 = np.where(ss_tot > 0, r2, np.nan)
    return float(r2) if y.ndim == 1 else r2


def class_probabilities(out: np.ndarray) -> np.ndarray:
    """Network outputs as class probabilities: one sigmoid output p becomes the columns [1 - p, p]."""
    return np.hstack([1.0 - out, out]) if out.shape[1] == 1 else out
