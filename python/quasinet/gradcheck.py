"""Numerical gradients by central differences, and the analytic-vs-numerical check."""

from __future__ import annotations

from typing import List, Optional, Tuple, Union

import numpy as np

#: The central-difference step used when ``eps`` is None, by the network's ``dtype``. A float32
#: network's cost carries rounding noise of about 1e-7 of its size, which a difference
#: quotient divides by the step: 3e-3 balances that against the step's truncation error (the
#: error measure below then lands around 1e-6..1e-5 for smooth activations).
DEFAULT_STEP = {"float64": 1e-4, "float32": 3e-3}
#: Below these :func:`check_gradient` errors the analytic gradient is right, by ``dtype``
#: (relu's kinks can push a float32 check towards the bound when a step crosses one).
TOLERANCE = {"float64": 1e-8, "float32": 1e-4}


def _step(net, eps):
    if eps is None:
        return DEFAULT_STEP[net.dtype]
    if not (isinstance(eps, (int, float, np.floating)) and np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return float(eps)


def numerical_gradient(net, X, y, eps: Optional[float] = None, sample_weight=None) -> np.ndarray:
    """Central-difference gradient of ``net.cost`` at ``net.params``.

    n_p = (J(p + eps e_p) - J(p - eps e_p)) / (2 eps) for every parameter p; ``eps=None`` takes
    :data:`DEFAULT_STEP` for the network's dtype (1e-4 for float64, 3e-3 for float32). The network's
    parameters are the same afterwards as before (they are never modified: each evaluation
    is made at a perturbed copy). Raises :class:`FloatingPointError` when a perturbed cost
    overflows float64.
    """
    eps = _step(net, eps)
    fg = net.bind(X, y, sample_weight)
    p = net.get_params()
    grad = np.empty_like(p)
    for i in range(p.size):
        orig = p[i]
        p[i] = orig + eps
        plus = fg.cost(p)
        p[i] = orig - eps
        minus = fg.cost(p)
        p[i] = orig
        grad[i] = (plus - minus) / (2.0 * eps)
    return grad


def _relative_error(g: np.ndarray, n: np.ndarray) -> float:
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(n))):
        return float("inf")  # the data overflow float64: no agreement can be shown
    # The measure is scale-free; scaling by the largest entry keeps the norms from overflowing
    # when gradients pass 1e154 (their squares would).
    scale = max(float(np.max(np.abs(g), initial=0.0)), float(np.max(np.abs(n), initial=0.0)))
    if scale > 0.0:
        g, n = g / scale, n / scale
    denom = np.linalg.norm(g + n)
    diff = np.linalg.norm(g - n)
    if denom == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return float(diff / denom)


def check_gradient(
    net, X, y, eps: Optional[float] = None, sample_weight=None, per_layer: bool = False
) -> Union[float, Tuple[float, List[dict]]]:
    """Relative error ``norm(g - n) / norm(g + n)`` between backpropagation (g) and central differences (n).

    Below about :data:`TOLERANCE` (1e-8 for a float64 network, 1e-4 for a float32 one, whose
    default step ``eps`` is larger: see :data:`DEFAULT_STEP`) the analytic gradient is right. With ``per_layer=True`` returns
    ``(error, breakdown)`` where ``breakdown[l]`` is ``{"layer": l, "weights": err_W, "bias":
    err_b or None}``, the same measure restricted to that block of parameters. When the data
    overflow float64 (the core raises :class:`FloatingPointError`) no agreement can be shown
    and every error is inf.
    """
    eps = _step(net, eps)
    try:
        _, g = net.cost_grad(X, y, sample_weight)
        n = numerical_gradient(net, X, y, eps=eps, sample_weight=sample_weight)
    except FloatingPointError:
        g = n = np.full(net.n_params, np.inf)
    total = _relative_error(g, n)
    if not per_layer:
        return total
    breakdown = []
    for l, (w_off, n_in, n_out, b_off) in enumerate(net.layout):
        w = slice(w_off, w_off + n_in * n_out)
        entry = {"layer": l, "weights": _relative_error(g[w], n[w]), "bias": None}
        if b_off is not None:
            b = slice(b_off, b_off + n_out)
            entry["bias"] = _relative_error(g[b], n[b])
        breakdown.append(entry)
    return total, breakdown
