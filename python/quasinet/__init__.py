"""quasinet: feedforward neural networks with exact gradients and quasi-Newton training.

The forward pass, cost and backpropagation run in a C++ core over one flat float64
parameter buffer; this package validates input, checks gradients and hands the core's
cost and gradient to :func:`scipy.optimize.minimize`.
"""

# Loads libscipy_openblas globally before the extension that links it is imported.
import scipy_openblas32 as _scipy_openblas32  # noqa: F401

from . import _core
from .gradcheck import check_gradient, numerical_gradient
from .network import ACTIVATIONS, LOSSES, Network
from .train import Trainer

__version__ = "0.1.0"


def set_num_threads(n: int) -> None:
    """Set how many threads quasinet uses for large calls (0 restores the default, all cores).

    Results do not depend on the thread count beyond floating-point summation order.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """How many threads quasinet uses for large calls."""
    return _core.get_num_threads()


from . import datasets, notebook  # noqa: E402  (they import the names above)
from .io import load  # noqa: E402


def __getattr__(name):
    # The scikit-learn estimators, the plots, the exports and Dask need optional extras: import them on first use.
    if name in ("sklearn", "plot", "export", "dask"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Network",
    "Trainer",
    "check_gradient",
    "datasets",
    "get_num_threads",
    "load",
    "notebook",
    "numerical_gradient",
    "set_num_threads",
    "__version__",
]
