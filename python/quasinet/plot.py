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

__all__ = ["activations", "cost_curves", "error_histogram", "evidence_history", "prediction_band", "regression",
           "relevance", "save"]


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
                title: str = "Cost per iteration", labels=("training", "validation"), history=None):
    """Training (and validation) cost per iteration on a log scale: ``Trainer.J`` / ``testJ``,
    or an estimator's ``loss_curve_`` / ``validation_curve_``.

    ``history``: for Bayesian regularisation, the kept run's per-cycle records
    (``evidence_history_``): the curve is then the objective beta E_D + sum alpha E_W, and a
    dotted line marks each re-estimate of alpha and beta, where the objective jumps by design.
    """
    ax = _axes(ax)
    J = _vector(J, "J")
    if J.size == 0:
        raise ValueError("J is empty: nothing to plot")
    if history:
        title = "Bayesian regularisation: objective per step" if title == "Cost per iteration" else title
        labels = ("objective $\\beta E_D + \\sum \\alpha E_W$",) + tuple(labels[1:])
    ax.plot(np.arange(1, J.size + 1), J, label=labels[0])
    if history:
        ends = np.cumsum([int(h.get("iterations", 0)) for h in history])
        for i, end in enumerate(ends[:-1]):
            if 0 < end < J.size:
                ax.axvline(end + 0.5, color="0.6", lw=0.8, ls=":",
                           label="$\\alpha$, $\\beta$ re-estimated" if i == 0 else None)
        ax.legend()
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


def _input_names(obj, n_inputs: int):
    names = getattr(obj, "inputs", None)  # io.Model
    if names is None:
        names = getattr(obj, "feature_names_in_", None)  # an estimator fitted on a DataFrame
    return [str(n) for n in names] if names is not None else [f"x{i}" for i in range(n_inputs)]


def _n_inputs(obj) -> int:
    net = getattr(obj, "net", None) or getattr(obj, "network_", None)
    if net is None:
        raise TypeError(f"expected a quasinet.io.Model or a fitted QuasiNetRegressor/QuasiNetClassifier, "
                        f"got {type(obj).__name__}")
    return net.layer_sizes[0]


def prediction_band(model, X, feature, *, y=None, at=None, target=0, n_points: int = 200, ax=None,
                    title: Optional[str] = None):
    """Predictions with a band of +-2 predictive standard deviations against one input.

    Parameters
    ----------
    model : quasinet.io.Model or fitted QuasiNetRegressor
        Trained by Bayesian regularisation (``predict(X, return_std=True)`` must work).
    X : array of shape (n_samples, n_inputs)
        Data that set the range of ``feature`` (its minimum to its maximum) and, unless ``at``
        is given, the values of the other inputs: their column means.
    feature : int or str
        The input on the x axis: a column index or an input name (``Model.inputs`` or the
        estimator's ``feature_names_in_``).
    y : array of shape (n_samples,) or (n_samples, n_targets), optional
        Targets of X, drawn as points against ``feature`` (they vary in the other inputs too).
    at : int or array of shape (n_inputs,), optional
        Hold the other inputs at this row of X (an int) or at these values, instead of the means.
    target : int
        Which target (output column) to draw.
    n_points : int
        Points along the input.

    The mean is drawn as a line (``ax.lines[0]``) and the band as one filled polygon
    (``ax.collections[0]``); the data, if given, as ``ax.collections[1]``.
    """
    n_in = _n_inputs(model)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != n_in or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n_samples, {n_in}) with n_samples >= 1, got {X.shape}")
    names = _input_names(model, n_in)
    if isinstance(feature, str):
        if feature not in names:
            raise ValueError(f"unknown input {feature!r}: expected one of {', '.join(names)}")
        j = names.index(feature)
    elif isinstance(feature, (int, np.integer)) and not isinstance(feature, bool) and 0 <= feature < n_in:
        j = int(feature)
    else:
        raise ValueError(f"feature must be an input name or an index in [0, {n_in}), got {feature!r}")
    if at is None:
        base = X.mean(axis=0)
    elif isinstance(at, (int, np.integer)) and not isinstance(at, bool):
        if not -X.shape[0] <= at < X.shape[0]:
            raise ValueError(f"at must be a row of X (0 to {X.shape[0] - 1}), got {at}")
        base = X[at].copy()
    else:
        base = np.array(at, dtype=float)
        if base.shape != (n_in,):
            raise ValueError(f"at must be a row index or {n_in} input values, got shape {base.shape}")
    grid = np.linspace(X[:, j].min(), X[:, j].max(), int(n_points))
    Xg = np.repeat(base[None, :], grid.size, axis=0)
    Xg[:, j] = grid
    mean, std = model.predict(Xg, return_std=True)
    mean, std = np.asarray(mean).reshape(grid.size, -1), np.asarray(std).reshape(grid.size, -1)
    if not 0 <= target < mean.shape[1]:
        raise ValueError(f"target must lie in [0, {mean.shape[1]}), got {target}")
    mean, std = mean[:, target], std[:, target]
    ax = _axes(ax)
    ax.plot(grid, mean, color="C0", label="prediction")
    ax.fill_between(grid, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.25, label="$\\pm$2 std")
    if y is not None:
        Y = np.asarray(y, dtype=float).reshape(X.shape[0], -1)
        ax.scatter(X[:, j], Y[:, target], s=10, color="0.3", alpha=0.6, label="data")
    held = "their means" if at is None else (f"row {at}" if isinstance(at, (int, np.integer)) else "given values")
    targets = getattr(model, "targets", None)
    ylabel = targets[target] if targets and target < len(targets) else "Prediction"
    if title is None:
        title = f"Prediction $\\pm$2 std against {names[j]} (other inputs at {held})"
    ax.set(title=title, xlabel=names[j], ylabel=ylabel)
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def relevance(model, names: Optional[Sequence[str]] = None, *, ax=None, title: str = "Input relevance"):
    """Bar chart of each input's relevance: an estimator's ``feature_relevance_`` or a model
    file's ``posterior.feature_relevance`` (stored for a model trained by Bayesian regularisation)."""
    if hasattr(model, "posterior"):
        values = None if model.posterior is None else model.posterior.feature_relevance
    else:
        values = getattr(model, "feature_relevance_", None)
        _n_inputs(model)
    if values is None:
        raise ValueError("no feature relevance: this model file was not trained by Bayesian regularisation")
    values = np.asarray(values, dtype=float)
    names = list(names) if names is not None else _input_names(model, values.size)
    if len(names) != values.size:
        raise ValueError(f"names must name {values.size} inputs, got {len(names)}")
    ax = _axes(ax)
    ax.bar(np.arange(values.size), values, color="C0", tick_label=names)
    ax.set(title=title, xlabel="Input", ylabel="Share of the prior variance 1/alpha")
    ax.grid(True, axis="y", alpha=0.3)
    return ax


def evidence_history(history, *, ax=None, title: str = "Bayesian regularisation per evidence cycle"):
    """The effective number of parameters gamma (left axis, solid) and the objective
    M = beta E_D + sum alpha E_W (right axis, dashed, log scale when positive) per evidence cycle,
    with the cycle of highest log evidence (the one kept) marked by a vertical line.

    ``history``: a Trainer result's ``history`` (method "BR"), an estimator's
    ``evidence_history_``, or either object itself. Returns the left Axes; the right one is
    ``ax.right_ax``.
    """
    for attr in ("evidence_history_", "history"):
        if not isinstance(history, (list, tuple)) and hasattr(history, attr):
            history = getattr(history, attr)
    if not isinstance(history, (list, tuple)) or not history or not all(isinstance(h, dict) for h in history):
        raise ValueError("history must be a non-empty list of per-cycle dicts (a BR result's history)")
    try:
        cycles = np.array([h["cycle"] for h in history], dtype=float)
        gamma = np.array([h["gamma"] for h in history], dtype=float)
        M = np.array([h["M"] for h in history], dtype=float)
        log_ev = np.array([h["log_evidence"] for h in history], dtype=float)
    except KeyError as exc:
        raise ValueError(f"history entries need cycle, gamma, M and log_evidence, missing {exc}") from None
    ax = _axes(ax)
    ax.plot(cycles, gamma, color="C0", marker="o", ms=3, label="$\\gamma$ (effective parameters)")
    ax.set(title=title, xlabel="Evidence cycle", ylabel="$\\gamma$")
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.plot(cycles, M, "--", color="C1", label="objective M")
    if np.all(M > 0):
        right.set_yscale("log")
    right.set_ylabel("Objective M = $\\beta E_D + \\sum \\alpha E_W$")
    best = cycles[int(np.argmax(log_ev))]
    ax.axvline(best, color="0.4", lw=1, ls=":", label=f"best log evidence (cycle {best:g})")
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="best")
    ax.right_ax = right
    return ax


def save(ax, path, dpi: int = 100) -> str:
    """Write the figure holding ``ax`` to ``path`` (format from the extension); return the path."""
    path = os.fspath(path)
    ax.figure.savefig(path, dpi=dpi)
    return path
