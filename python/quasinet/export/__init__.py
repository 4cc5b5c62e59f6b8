"""Exports of a fitted model for deployment: ONNX (:func:`to_onnx`) and standalone C (:func:`to_c`).

Each takes a :class:`~quasinet.io.Model` (a model file's model: the network with its
input/target scaling, classes and posterior), a fitted
:class:`~quasinet.sklearn.QuasiNetRegressor` / :class:`~quasinet.sklearn.QuasiNetClassifier`
(its :meth:`to_model`) or a bare :class:`~quasinet.Network` (a model without scaling), and
exports what the model predicts: for a model trained by Bayesian regularisation the
predictive standard deviation of a regressor and, for a classifier fitted with
``moderate=True``, the moderated probabilities, from a stored factor of the posterior
covariance (networks of at most :data:`MAX_POSTERIOR_PARAMS` parameters). A committee (the
default regressor's) is exported whole: every member, and the average the model computes.
Every text that comes from data or a model file is written through :func:`escape_text`.
:func:`to_onnx` needs the extra ``export`` (``pip install 'quasinet[export]'``, the ``onnx``
package); :func:`to_c` needs nothing beyond NumPy.
"""

from ._common import MAX_POSTERIOR_PARAMS, as_model, covariance_factor, escape_text, unescape_text
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


__all__ = ["MAX_POSTERIOR_PARAMS", "as_model", "covariance_factor", "escape_text", "to_c", "to_onnx",
           "unescape_text"]
