"""Exports of a fitted network for deployment: ONNX (:func:`to_onnx`) and standalone C (:func:`to_c`).

Each accepts a :class:`~quasinet.Network`, a model file's :class:`~quasinet.io.Model` (the
network with its input/target scaling and classes) or a fitted
:class:`~quasinet.sklearn.QuasiNetRegressor` / :class:`~quasinet.sklearn.QuasiNetClassifier`.
:func:`to_onnx` needs the extra ``export`` (``pip install 'quasinet[export]'``, the ``onnx``
package); :func:`to_c` needs nothing beyond NumPy.
"""

from ._common import Deployable, deployable
from .c import to_c


def __getattr__(name):
    # onnx is an optional extra: import it on first use.
    if name == "to_onnx":
        from .onnx import to_onnx

        return to_onnx
    if name == "onnx":
        import importlib

        return importlib.import_module(".onnx", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Deployable", "deployable", "to_c", "to_onnx"]
