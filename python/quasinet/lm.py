"""Levenberg-Marquardt on the core's Gauss-Newton matrix, with the semantics of MATLAB's ``trainlm``.

Each iteration solves (G + mu I) dx = -g by Cholesky (LAPACK through SciPy), where g and G are
the cost's gradient and Gauss-Newton matrix at x (:meth:`quasinet.Network.gauss_newton`), and
tries x + dx: if the cost falls the step is taken and mu shrinks by ``mu_dec``; otherwise mu
grows by ``mu_inc`` and the step is solved again, until a step lowers the cost or mu exceeds
``mu_max``. An uphill (or non-finite) step is never kept. For ``sse``/``mse`` this is the classic
Levenberg-Marquardt on the residuals; for the cross-entropies G is the generalised Gauss-Newton
matrix, so the same loop is a damped Newton method with a positive semi-definite model.

Stops: the cost at or below ``goal`` (status 0), the gradient's norm below ``min_grad``
(status 2), mu above ``mu_max`` (status 3: no damped step lowers the cost, a local minimum to
working precision), ``maxiter`` iterations (status 1), or the callback raising StopIteration
(status 99, as SciPy reports it). One option beyond ``trainlm``'s, off by default: ``ftol``,
stop (status 4) when an accepted step lowers the cost by at most ``ftol * max(|cost|, 1)``.
"""

from __future__ import annotations

import numbers
from typing import Callable, Optional

import numpy as np
from scipy import optimize
from scipy.linalg import lapack

_potrf, _potrs = lapack.dpotrf, lapack.dpotrs

#: ``trainlm``'s defaults; every one can be set through ``Trainer(..., options={...})``.
DEFAULTS = {"mu": 1e-3, "mu_dec": 0.1, "mu_inc": 10.0, "mu_max": 1e10, "min_grad": 1e-7, "goal": 0.0, "ftol": 0.0}
#: mu never falls below this after a successful step (as in ``trainlm``).
MU_MIN = 1e-20

_MESSAGES = {
    0: "the cost reached goal",
    1: "the iteration limit (maxiter) was reached",
    2: "the norm of the gradient fell below min_grad",
    3: "mu exceeded mu_max: no damped step lowers the cost",
    4: "an accepted step lowered the cost by at most ftol * max(|cost|, 1)",
    99: "`callback` raised `StopIteration`.",
}


def check_options(options: Optional[dict]) -> dict:
    """The Levenberg-Marquardt options: :data:`DEFAULTS` updated by ``options``, each checked."""
    opts = dict(DEFAULTS)
    for name, value in dict(options or {}).items():
        if name not in DEFAULTS:
            raise ValueError(f"unknown Levenberg-Marquardt option {name!r}: expected one of {', '.join(DEFAULTS)}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"option {name} must be a real number, got {type(value).__name__}")
        opts[name] = float(value)
    checks = {
        "mu": opts["mu"] > 0,
        "mu_dec": 0 < opts["mu_dec"] < 1,
        "mu_inc": opts["mu_inc"] > 1,
        "mu_max": opts["mu_max"] >= opts["mu"],
        "min_grad": opts["min_grad"] >= 0,
        "goal": True,
        "ftol": 0 <= opts["ftol"] < 1,
    }
    ranges = {"mu": "> 0", "mu_dec": "in (0, 1)", "mu_inc": "> 1", "mu_max": ">= mu", "min_grad": ">= 0",
              "ftol": "in [0, 1)"}
    for name, ok in checks.items():
        if not (ok and np.isfinite(opts[name])):
            raise ValueError(f"option {name} must be finite and {ranges.get(name, 'real')}, got {opts[name]}")
    return opts


def damped_step(G: np.ndarray, g: np.ndarray, mu: float, work: np.ndarray) -> Optional[np.ndarray]:
    """The solution dx of (G + mu I) dx = -g by Cholesky, or None when G + mu I is not
    numerically positive definite. ``work`` (same shape as G) is overwritten."""
    np.copyto(work, G)
    work.flat[:: G.shape[0] + 1] += mu
    # LAPACK directly (dpotrf, dpotrs): SciPy's cho_factor/cho_solve wrappers cost more than
    # the factorisation itself at the sizes LM is meant for.
    factor, info = _potrf(work, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        return None
    dx, info = _potrs(factor, g, lower=False)
    if info != 0 or not np.all(np.isfinite(dx)):
        return None
    return -dx


def levenberg_marquardt(
    fun_gn: Callable,
    cost: Callable,
    x0,
    maxiter: int,
    options: Optional[dict] = None,
    callback: Optional[Callable] = None,
) -> optimize.OptimizeResult:
    """Minimise with Levenberg-Marquardt.

    Parameters
    ----------
    fun_gn : callable
        ``fun_gn(x) -> (cost, grad, G)``, G the (P, P) Gauss-Newton matrix.
    cost : callable
        ``cost(x) -> float``, for trial steps.
    x0 : array_like
        Starting point.
    maxiter : int
        Iteration (accepted step) limit.
    options : dict or None
        Any of :data:`DEFAULTS` (``mu``, ``mu_dec``, ``mu_inc``, ``mu_max``, ``min_grad``, ``goal``,
        ``ftol``).
    callback : callable or None
        ``callback(x)`` after every accepted step; raising StopIteration ends the run.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun`` (``cost`` at x), ``jac``, ``nit`` (accepted steps), ``nfev`` (cost
        evaluations, each Gauss-Newton evaluation counted once), ``njev`` (Gauss-Newton
        evaluations), ``status``, ``success``, ``message`` and the final ``mu``.
    """
    opts = check_options(options)
    x = np.array(x0, dtype=float, copy=True)
    mu = opts["mu"]
    f, g, G = fun_gn(x)
    # Steps are judged by costs from the same routine, ``cost``: fun_gn may sum the rows in
    # other blocks (its cost can differ in the last bit), and a step downhill only by rounding
    # must not count.
    f = cost(x)
    nfev, njev = 2, 1
    nit = 0
    work = np.empty_like(G, order="F")  # LAPACK factorises a Fortran-ordered array in place (G is symmetric)
    status = None
    while status is None:
        if f <= opts["goal"]:
            status = 0
        elif np.linalg.norm(g) < opts["min_grad"]:
            status = 2
        elif nit >= maxiter:
            status = 1
        if status is not None:
            break
        x_new = None
        while mu <= opts["mu_max"]:
            dx = damped_step(G, g, mu, work)
            if dx is not None:
                trial = x + dx
                f_trial = cost(trial)
                nfev += 1
                if f_trial < f:  # False for NaN: a non-finite trial is rejected like an uphill one
                    x_new = trial
                    mu = max(mu * opts["mu_dec"], MU_MIN)
                    break
            mu *= opts["mu_inc"]
        if x_new is None:
            status = 3
            break
        x = x_new
        f_old, f = f, f_trial
        _, g, G = fun_gn(x)
        nfev += 1
        njev += 1
        nit += 1
        if callback is not None:
            try:
                callback(np.array(x, copy=True))
            except StopIteration:
                status = 99
        if status is None and f_old - f <= opts["ftol"] * max(abs(f), 1.0):
            status = 4
    return optimize.OptimizeResult(
        x=x, fun=float(f), jac=g, nit=nit, nfev=nfev, njev=njev, status=status, success=status in (0, 2, 3, 4),
        message=_MESSAGES[status], mu=mu,
    )
