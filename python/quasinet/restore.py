"""A fitted scikit-learn estimator back from a model file (``quasinet train``'s output, ``estimator.save``).

:func:`load_estimator` reads a model file with :func:`quasinet.io.load_model` and returns a
fitted :class:`~quasinet.sklearn.QuasiNetRegressor` (or, for a model with classes,
:class:`~quasinet.sklearn.QuasiNetClassifier`) whose ``predict``, ``predict(X,
return_std=True)``, ``predict_proba`` and ``input_jacobian`` equal the model's. The estimator
can be scored, cross-validated against others, exported or saved again; calling ``fit``
trains afresh with the hyperparameters read from the file.

What a file does not hold is not invented: ``loss_curve_``, ``validation_curve_`` and
``evidence_history_`` and ``evidence_candidates_`` are empty, ``n_iter_`` is 0 and ``loss_`` is None.
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from . import io
from .train import METHODS

__all__ = ["estimator_from_model", "load_estimator"]


def load_estimator(path: Union[str, "os.PathLike[str]"]):
    """The fitted estimator stored in the model file ``path``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    QuasiNetRegressor or QuasiNetClassifier

    Raises
    ------
    ValueError
        If the file is not a valid model file (from :func:`quasinet.io.load_model`).
    ImportError
        Without scikit-learn (``pip install 'quasinet[sklearn]'``).
    """
    return estimator_from_model(io.load_model(path))


def estimator_from_model(model: io.Model):
    """The fitted estimator equivalent to a :class:`quasinet.io.Model` (see :func:`load_estimator`).

    Input names other than the default ``x0, x1, ...`` become ``feature_names_in_`` (so a
    DataFrame's columns are checked as when the estimator was fitted); the network and its
    posterior are copied, not shared.
    """
    from .sklearn import QuasiNetClassifier, QuasiNetRegressor

    if not isinstance(model, io.Model):
        raise TypeError(f"model must be a quasinet.io.Model, got {type(model).__name__}")
    net = model.net.copy()
    sizes = list(net.layer_sizes)
    n_in, n_out = sizes[0], sizes[-1]
    post = model.posterior
    params = dict(hidden_layer_sizes=tuple(sizes[1:-1]), activation=net.activation, l2=float(net.l2),
                  dtype=net.dtype, standardize=model.x_offset is not None)
    if model.method in METHODS:
        params["method"] = model.method
    if post is not None:
        params["ard"] = bool(post.ard)
    if model.classes is not None:
        est = QuasiNetClassifier(loss=net.loss, moderate=bool(post.moderate) if post is not None else True, **params)
        est.classes_ = np.asarray(model.classes)
    else:
        est = QuasiNetRegressor(output_activation=net.output_activation, loss=net.loss, **params)
        est.y_mean_ = np.zeros(n_out) if model.y_offset is None else np.array(model.y_offset, dtype=np.float64)
        est.y_scale_ = np.ones(n_out) if model.y_scale is None else np.array(model.y_scale, dtype=np.float64)
        # The estimators return 1-D predictions for one output, as a fit on a 1-D y does. There is
        # no public way to say so (the fitting code keeps it private); see the report of issue 18.
        est._y_ndim = 1 if n_out == 1 else 2
    est.network_ = net
    est.x_mean_ = np.zeros(n_in) if model.x_offset is None else np.array(model.x_offset, dtype=np.float64)
    est.x_scale_ = np.ones(n_in) if model.x_scale is None else np.array(model.x_scale, dtype=np.float64)
    est.n_features_in_ = n_in
    if model.inputs is not None and model.inputs != [f"x{i}" for i in range(n_in)]:
        est.feature_names_in_ = np.asarray(model.inputs, dtype=object)
    est.method_ = model.method or "unknown"
    est.hidden_layer_sizes_ = tuple(sizes[1:-1])
    est.n_iter_ = 0
    est.loss_curve_, est.validation_curve_, est.evidence_history_, est.evidence_candidates_ = [], [], [], []
    est.loss_ = est.best_validation_loss_ = None
    est.stopped_early_ = False
    est.n_outputs_ = n_out
    est.out_activation_ = net.output_activation
    est.loss_function_ = net.loss
    est.log_model_evidence_ = None
    if post is None:
        est.members_ = []
        est.n_effective_params_ = est.alpha_ = est.beta_ = est.log_evidence_ = None
        est.ard_ = est.feature_relevance_ = None
    else:
        est.members_ = [(net, np.array(post.covariance, dtype=np.float64), float(post.beta))]
        est.n_effective_params_ = float(post.gamma)
        est.alpha_ = np.array(post.alpha, dtype=np.float64)
        est.beta_ = float(post.beta)
        est.log_evidence_ = float(post.log_evidence)
        est.ard_ = bool(post.ard)
        est.feature_relevance_ = None if post.feature_relevance is None else np.array(post.feature_relevance)
    return est
