"""Plots of training runs and fits (needs the optional extra ``plot``: matplotlib).

Every function draws into ``ax`` if given, else into a new figure made without pyplot (so it
works headless, with no display and no GUI backend), and returns the matplotlib ``Axes``.
Write a figure with :func:`save` or ``ax.figure.savefig(path)``.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

try:
    from matplotlib.figure import Figure
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("quasinet.plot needs matplotlib: pip install 'quasinet[plot]'") from exc

from . import _core, metrics

__all__ = ["activations", "cost_curves", "error_histogram", "regression", "save"]


def _axes(ax, figsize=(6.0, 4.0)):
    if ax is not None:
        return ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig.subplots()


def _vector(values, name) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one target), got shape {a.shape}")
    return a


def cost_curves(J: Sequence[float], validation: Optional[Sequence[float]] = None, *, ax=None,
                title: str = "Cost per iteration", labels=("training", "validation")):
    """Training (and validation) cost per iteration on a log scale: ``Trainer.J`` / ``testJ``,
    or an estimator's ``loss_curve_`` / ``validation_curve_``."""
    ax = _axes(ax)
    J = _vector(J, "J")
    if J.size == 0:
        raise ValueError("J is empty: nothing to plot")
    ax.plot(np.arange(1, J.size + 1), J, label=labels[0])
    if validation is not None and len(validation):
        v = _vector(validation, "validation")
        ax.plot(np.arange(1, v.size + 1), v, "--", label=labels[1])
        ax.legend()
    # A log scale needs positive values; a cost that reaches 0 exactly is drawn linearly.
    values = np.concatenate([J, _vector(validation, "validation") if validation is not None and len(validation) else []])
    if np.all(values > 0):
        ax.set_yscale("log")
    ax.set(title=title, xlabel="Iteration", ylabel="Cost")
    ax.grid(True, which="both", alpha=0.3)
    return ax


def r2_score(y_true, y_pred) -> float:
    """Coefficient of determination of one target (:func:`quasinet.metrics.r2_score`); NaN for constant targets."""
    return metrics.r2_score(_vector(y_true, "y_true"), _vector(y_pred, "y_pred"))


def regression(y_true, y_pred, *, ax=None, title: str = "Predicted vs target"):
    """Predicted against target values, the ideal line y = x, the least-squares fit line and R^2."""
    y, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"y_true and y_pred must have the same non-zero length, got {y.size} and {p.size}")
    ax = _axes(ax, figsize=(5.0, 5.0))
    ax.scatter(y, p, s=14, alpha=0.7, label="samples")
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, label="y = x")
    if np.ptp(y) > 0:
        slope, intercept = np.polyfit(y, p, 1)
        ax.plot([lo, hi], [slope * lo + intercept, slope * hi + intercept], color="C3",
                label=f"fit: {slope:.3g} x {'-' if intercept < 0 else '+'} {abs(intercept):.3g}")
    ax.set(title=f"{title} (R$^2$ = {r2_score(y, p):.4f})", xlabel="Target", ylabel="Predicted")
    ax.legend(loc="upper left")
    ax.grid(True, alpha=0.3)
    return ax


def error_histogram(y_true, y_pred, *, ax=None, bins=30, title: str = "Prediction errors"):
    """Histogram of the errors ``y_pred - y_true``."""
    y, p = _vector(y_true, "y_true"), _vector(y_pred, "y_pred")
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"y_true and y_pred must have the same non-zero length, got {y.size} and {p.size}")
    e = p - y
    ax = _axes(ax)
    ax.hist(e, bins=bins, color="C0", edgecolor="white")
    ax.axvline(0.0, color="0.3", lw=1)
    ax.set(title=f"{title} (mean {e.mean():.3g}, std {e.std():.3g})", xlabel="Predicted - target", ylabel="Samples")
    return ax


def activations(names: Sequence[str] = ("sigmoid",), *, z=None, ax=None, title: str = "Activations and derivatives"):
    """Each activation f(z) (solid) with its derivative f'(z) (dashed), from the C++ core:
    with the default ``("sigmoid",)`` the notebook's sigmoid / sigmoidPrime figure."""
    if isinstance(names, str):
        names = (names,)
    z = np.linspace(-6.0, 6.0, 241) if z is None else np.asarray(z, dtype=float)
    ax = _axes(ax)
    for i, name in enumerate(names):
        ax.plot(z, _core.activation(name, z), color=f"C{i}", label=f"{name}")
        ax.plot(z, _core.activation_derivative(name, z), "--", color=f"C{i}", label=f"{name}'")
    ax.set(title=title, xlabel="z")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def save(ax, path, dpi: int = 100) -> str:
    """Write the figure holding ``ax`` to ``path`` (format from the extension); return the path."""
    path = os.fspath(path)
    ax.figure.savefig(path, dpi=dpi)
    return path
