"""Checks shared by the network and its Dask side: limits, kinds of curvature, kinds of arrays.

This module imports nothing of quasinet, so that :mod:`quasinet.network` and
:mod:`quasinet.dask` can both use it without importing each other.
"""

from __future__ import annotations


def count_params(layer_sizes, bias: bool = True) -> int:
    """The parameter count of a network with these layer sizes (the layout's total), without building it."""
    return sum(a * b + (b if bias else 0) for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


#: Largest parameter count for which quasinet forms the (P, P) Gauss-Newton matrix
#: (:meth:`Network.gauss_newton`, Levenberg-Marquardt, Bayesian regularisation): 8192
#: parameters need 512 MiB for the matrix and as much again for its Cholesky factor.
GAUSS_NEWTON_MAX_PARAMS = 8192
#: Hessian-vector product kinds of :meth:`Network.hessp`.
HESSIAN_KINDS = ("exact", "gauss-newton")


def check_gauss_newton_size(n_params: int) -> None:
    """ValueError when a (P, P) Gauss-Newton matrix would exceed :data:`GAUSS_NEWTON_MAX_PARAMS`."""
    if n_params > GAUSS_NEWTON_MAX_PARAMS:
        need = 2 * 8 * n_params * n_params
        raise ValueError(
            f"the network has P = {n_params} parameters: its (P, P) Gauss-Newton matrix and Cholesky factor would "
            f"need {need:,} bytes ({need / 2**30:.1f} GiB), above the limit of P = {GAUSS_NEWTON_MAX_PARAMS}; "
            "use method='L-BFGS-B' (or 'trust-krylov', which needs only Hessian-vector products)"
        )


def check_kind(kind) -> str:
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string, got {type(kind).__name__}")
    if kind not in HESSIAN_KINDS:
        raise ValueError(f"kind must be 'exact' or 'gauss-newton', got {kind!r}")
    return kind


def is_dask(*arrays) -> bool:
    """Whether any argument is a Dask collection (told without importing dask, an optional extra).

    Objects of other libraries that implement the protocol (an xarray DataArray) count only
    when dask-backed: their ``__dask_graph__()`` is None otherwise.
    """
    for a in arrays:
        if a is None:
            continue
        if type(a).__module__.split(".")[0] == "dask":
            return True
        graph = getattr(a, "__dask_graph__", None)
        if callable(graph) and graph() is not None:
            return True
    return False
