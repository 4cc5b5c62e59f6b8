"""scikit-learn estimators on quasinet: :class:`QuasiNetRegressor` and :class:`QuasiNetClassifier`.

Both build a :class:`~quasinet.Network` and train it with :class:`~quasinet.Trainer` (SciPy's
full-batch quasi-Newton methods on the C++ core's exact cost and gradient). Needs the optional
extra ``sklearn`` (``pip install 'quasinet[sklearn]'``, scikit-learn >= 1.6).

The loss
--------
With N training samples, sample weights w_i (all 1 without ``sample_weight``), targets y_i and
outputs yhat_i (vectors over the outputs k), and W all weight matrices (biases are not
penalised), the estimators minimise

- regressor, ``loss="mse"`` (default):
  J = 0.5 * sum_i w_i * sum_k (y_ik - yhat_ik)^2 / sum_i w_i + (l2 / 2) * sum W^2
- regressor, ``loss="sse"``: J = 0.5 * sum_i w_i * sum_k (y_ik - yhat_ik)^2 + (l2 / 2) * sum W^2
- classifier, 2 classes (``loss="binary_crossentropy"``, one sigmoid output p_i = P(classes_[1])):
  J = -sum_i w_i [t_i log p_i + (1 - t_i) log(1 - p_i)] / sum_i w_i + (l2 / 2) * sum W^2,
  t_i = 1 if y_i is classes_[1] else 0
- classifier, more classes (``loss="softmax_crossentropy"``, softmax outputs p_ik):
  J = -sum_i w_i log p_{i, c(i)} / sum_i w_i + (l2 / 2) * sum W^2, c(i) the index of y_i in classes_

Without weights the sums over w_i become plain sums and sum_i w_i = N. An integer weight is the
same as repeating the sample that many times, and a zero weight the same as leaving it out.
``fit`` makes that exact in floating point too: it drops zero-weight samples and merges identical
samples (same x and y) into one whose weight is the sum of theirs, in a canonical (sorted) row
order, so repeating a sample or weighting it gives bitwise the same model, and so does any
order of the rows (this costs one sort of the training rows).
With ``standardize=True`` the inputs (and, for a regressor with an identity output, the targets)
are standardised with the weighted mean and standard deviation of the training data before
J is formed, so J (``loss_``, ``loss_curve_``) is in standardised units.
"""

from __future__ import annotations

import abc
import numbers
import sys
import warnings
from typing import List

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "quasinet.sklearn needs scikit-learn >= 1.6: pip install 'quasinet[sklearn]'"
    ) from exc

from .io import class_probabilities, standardisation
from .network import ACTIVATIONS, Network, _is_dask
from .train import STOPPABLE_METHODS, EarlyStopping, Trainer, check_int, method_name

__all__ = ["QuasiNetClassifier", "QuasiNetRegressor"]


def _real_param(name, value, low, high=np.inf, *, low_open=False, high_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    ok = np.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"{name} must lie in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}, got {value}")
    return v


def _take(index, values):
    return values[index]


def _merge_duplicates(X, Y, w):
    """Drop zero-weight samples and merge identical (x, y) samples into one, summing weights.

    J is unchanged (a sample of weight w counts as w repeated samples), and the rows come out
    in one canonical (sorted) order, so that the fit does not depend on the order of the
    samples, and repeating a sample gives bitwise the same model as weighting it.
    Returns weights None when they are all 1 (the core's unweighted path).
    """
    if w is not None:
        keep = w > 0
        X, Y, w = X[keep], Y[keep], w[keep]
    rows = np.ascontiguousarray(np.hstack([X, Y]))
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if uniq.shape[0] == rows.shape[0] and w is None:
        weights = None
    else:
        weights = np.bincount(inverse, weights=w, minlength=uniq.shape[0])
        if np.all(weights == 1.0):
            weights = None
    d = X.shape[1]
    return np.ascontiguousarray(uniq[:, :d]), np.ascontiguousarray(uniq[:, d:]), weights


class _QuasiNetBase(BaseEstimator, metaclass=abc.ABCMeta):
    """Shared fitting machinery; see :class:`QuasiNetRegressor` for the parameters."""

    def _check_params(self) -> dict:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints, got {type(sizes).__name__}")
        sizes = [check_int("hidden_layer_sizes entries", n, 1) for n in sizes]
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS + ("logistic", "linear"):
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        method = method_name(self.method)
        if self.early_stopping and method not in STOPPABLE_METHODS:
            raise ValueError(
                f"early_stopping needs a method whose callback can stop the run ({', '.join(STOPPABLE_METHODS)}), "
                f"got {method}"
            )
        if self.tol is not None:
            _real_param("tol", self.tol, 0.0, low_open=True)
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable, got {type(self.callback).__name__}")
        return dict(
            sizes=sizes,
            method=method,
            l2=_real_param("l2", self.l2, 0.0),
            max_iter=check_int("max_iter", self.max_iter, 1),
            validation_fraction=_real_param("validation_fraction", self.validation_fraction, 0.0, 1.0,
                                            low_open=True, high_open=True),
            n_iter_no_change=check_int("n_iter_no_change", self.n_iter_no_change, 1),
        )

    # -- provided by each estimator ---------------------------------------------------------------
    @abc.abstractmethod
    def _validate_xy(self, X, y):
        """Return X and y checked by scikit-learn's helpers."""

    @abc.abstractmethod
    def _encode_targets(self, y, w):
        """Return (Y for the network, output activation, loss)."""

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train the network on (X, y), optionally weighting each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,) or None
            Non-negative weights, not all zero; see the module docstring for the weighted loss.

        Any of X, y and sample_weight may be dask arrays: the fit then runs on the current Dask
        scheduler and no row reaches this process (:func:`quasinet.dask.fit_estimator` lists
        the differences), and ``predict`` accepts dask arrays too.

        Returns
        -------
        self
        """
        p = self._check_params()
        if _is_dask(X, y, sample_weight):
            from . import dask

            return dask.fit_estimator(self, p, X, y, sample_weight)
        X, y = self._validate_xy(X, y)
        if sample_weight is None:
            w = None
        else:
            w = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("sample_weight must be finite and non-negative")
            if not np.any(w > 0):
                raise ValueError("sample_weight must not be all zero")
        Y, out_act, loss = self._encode_targets(y, w)
        rng = check_random_state(self.random_state)

        if self.early_stopping:
            labels = Y.argmax(axis=1) if loss == "softmax_crossentropy" else (
                Y[:, 0].astype(np.intp) if loss == "binary_crossentropy" else None)
            parts = train_test_split(
                *(a for a in (X, Y, w) if a is not None),
                test_size=p["validation_fraction"],
                random_state=rng,
                stratify=labels if labels is not None and self._can_stratify(labels, p) else None,
            )
            Xtr, Xval, Ytr, Yval = parts[:4]
            wtr, wval = (parts[4], parts[5]) if w is not None else (None, None)
            if wtr is not None and not np.any(wtr > 0):
                raise ValueError("the training part (after removing validation_fraction) has only zero sample weights")
            if wval is not None and not np.any(wval > 0):
                raise ValueError("the validation part (validation_fraction) has only zero sample weights")
            Xval, Yval, wval = _merge_duplicates(Xval, Yval, wval)
        else:
            Xtr, Ytr, wtr = X, Y, w
        Xtr, Ytr, wtr = _merge_duplicates(Xtr, Ytr, wtr)

        if self.standardize:
            self.x_mean_, self.x_scale_ = standardisation(Xtr, wtr)
        else:
            self.x_mean_, self.x_scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self._set_target_scaling(Ytr, wtr, out_act)
        Xtr, Ytr = self._scaled(Xtr, Ytr)
        if self.early_stopping:
            Xval, Yval = self._scaled(Xval, Yval)

        layer_sizes = [X.shape[1], *p["sizes"], Y.shape[1]]
        net = Network(layer_sizes, activation=self.activation, output_activation=out_act, loss=loss,
                      l2=p["l2"], seed=int(rng.randint(np.iinfo(np.int32).max)))
        # The validation loss is the data term alone: the penalty says nothing about held-out data.
        monitor = self._monitor(p, lambda: net.bind(Xtr, Ytr, wtr),
                                lambda: Network(**{**net._spec(), "l2": 0.0}).bind(Xval, Yval, wval))
        trainer = Trainer(net, method=p["method"], maxiter=p["max_iter"], tol=self.tol, callback=monitor)
        res = trainer.train(Xtr, Ytr, sample_weight=wtr)
        return self._store_fit(p, net, trainer, res, monitor, lambda: net.cost(Xtr, Ytr, wtr), Y.shape[1], loss)

    def _monitor(self, p, train, val):
        """The Trainer callback for early stopping, ``verbose`` and ``callback`` (None without them).

        ``train()`` and ``val()`` return the bound training objective and the validation one
        (the data term on the held-out part); each is called only when needed.
        """
        if not (self.early_stopping or self.verbose or self.callback is not None):
            return None
        val_fg = val() if self.early_stopping else None
        report = self._reporter(train()) if (self.verbose or self.callback is not None) else None
        return EarlyStopping(val_fg.cost if val_fg is not None else None,
                             patience=p["n_iter_no_change"] if self.early_stopping else None,
                             on_iteration=report)

    def _store_fit(self, p, net, trainer, res, monitor, train_cost, n_outputs, loss, stacklevel=3):
        """Set the fitted attributes after training; ``train_cost()`` is J on the training part at net's parameters.

        ``stacklevel`` points the ConvergenceWarning at the caller of ``fit``.
        """
        if monitor is not None and monitor.best_params is not None:
            net.set_params(monitor.best_params)
        self.network_ = net
        self.n_iter_ = max(int(res.nit), 1)
        self.loss_curve_ = list(trainer.J)
        self.validation_curve_ = list(monitor.curve) if monitor is not None else []
        self.best_validation_loss_ = monitor.best_cost if self.early_stopping else None
        self.stopped_early_ = monitor is not None and monitor.stopped
        self.loss_ = float(train_cost())
        self.n_outputs_ = n_outputs
        self.out_activation_ = net.output_activation
        self.loss_function_ = loss
        limit_hit = res.nfev >= p["max_iter"] if p["method"] == "TNC" else res.nit >= p["max_iter"]
        if not res.success and not self.stopped_early_ and limit_hit:
            warnings.warn(
                f"{type(self).__name__}: {p['method']} stopped on its iteration limit (max_iter={p['max_iter']}) "
                "before converging; raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )
        return self

    def _reporter(self, train):
        """on_iteration for the EarlyStopping callback: ``verbose`` lines and the user's callback."""

        def report(iteration, params, val):
            cost = float(train.cost(params))
            if self.verbose:
                tail = "" if val is None else f", validation loss = {val:.8g}"
                print(f"Iteration {iteration}, loss = {cost:.8g}{tail}", file=sys.stdout, flush=True)
            if self.callback is not None:
                self.callback(iteration, cost, val)

        return report

    def _can_stratify(self, labels, p) -> bool:
        counts = np.bincount(labels)
        counts = counts[counts > 0]
        n_val = int(np.ceil(p["validation_fraction"] * labels.size))
        return counts.min() >= 2 and n_val >= counts.size and labels.size - n_val >= counts.size

    def _set_target_scaling(self, Y, w, out_act):
        pass

    def _scaled(self, X, Y):
        return (X - self.x_mean_) / self.x_scale_, Y

    @property
    def coefs_(self) -> List[np.ndarray]:
        """Weight matrices, ``coefs_[l]`` of shape (n_l, n_{l+1}), acting on standardised inputs."""
        check_is_fitted(self, "network_")
        return [W.copy() for W in self.network_.weights]

    @property
    def intercepts_(self) -> List[np.ndarray]:
        """Bias vectors, one per layer."""
        check_is_fitted(self, "network_")
        return [b.copy() for b in self.network_.biases]

    def to_model(self):
        """The fitted network with its scaling as a :class:`quasinet.io.Model` (what the CLI saves).

        Input column names are ``feature_names_in_`` when X had them, else ``x0, x1, ...``.
        """
        from . import io

        check_is_fitted(self, "network_")
        names = getattr(self, "feature_names_in_", None)
        inputs = [str(c) for c in names] if names is not None else [f"x{i}" for i in range(self.n_features_in_)]
        if isinstance(self, ClassifierMixin):
            return io.Model(self.network_.copy(), self.x_mean_, self.x_scale_, inputs=inputs, targets=["y"],
                            classes=[c.item() if isinstance(c, np.generic) else c for c in self.classes_])
        targets = ["y"] if self.n_outputs_ == 1 else [f"y{k}" for k in range(self.n_outputs_)]
        return io.Model(self.network_.copy(), self.x_mean_, self.x_scale_, self.y_mean_, self.y_scale_,
                        inputs=inputs, targets=targets)

    def save(self, path) -> None:
        """Write the fitted model to a model file (:mod:`quasinet.io`): ``quasinet predict`` and
        :func:`quasinet.io.load_model` read it; predictions are identical."""
        self.to_model().save(path)

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        if _is_dask(X):  # a lazy dask array of outputs, computed block by block on the workers
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(f"X must have shape (n_samples, {self.n_features_in_}), got {X.shape}")
            return self.network_.forward((X - self.x_mean_) / self.x_scale_)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.network_.forward((X - self.x_mean_) / self.x_scale_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


_COMMON_DOC = """
    hidden_layer_sizes : int or sequence of int, default=(32,)
        Widths of the hidden layers.
    activation : {"tanh", "sigmoid", "relu", "softplus", "identity"}, default="tanh"
        Hidden activation (``logistic`` and ``linear`` are accepted aliases).
    l2 : float, default=1e-4
        Penalty strength: J gains (l2 / 2) * sum of all squared weights (not biases).
    method : str, default="L-BFGS-B"
        Optimiser (see :class:`~quasinet.Trainer`): ``BFGS``, ``L-BFGS-B``, ``CG``, ``TNC``,
        ``SLSQP``; ``Newton-CG``, ``trust-ncg``, ``trust-krylov``, ``trust-constr`` with the core's
        exact Hessian-vector products; or ``LM`` (Levenberg-Marquardt on the Gauss-Newton
        matrix, for networks of at most 8192 parameters).
    max_iter : int, default=500
        Iteration limit (for TNC the limit on cost evaluations). Reaching it before the method
        converges emits a :class:`~sklearn.exceptions.ConvergenceWarning`.
    tol : float or None, default=None
        Passed to :func:`scipy.optimize.minimize`; None keeps the method's own defaults
        (for L-BFGS-B: ftol 2.2e-9, gtol 1e-5).
    random_state : None, int or numpy.random.RandomState, default=None
        Seeds the initial weights and the validation split.
    standardize : bool, default=True
        Standardise the inputs with the (weighted) mean and standard deviation of the training
        data; the scaling is stored (``x_mean_``, ``x_scale_``) and applied in ``predict``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop the quasi-Newton run once the
        validation loss has not improved for ``n_iter_no_change`` iterations, and keep the
        parameters of the best validation loss. Needs a method other than TNC.
    validation_fraction : float, default=0.1
        Share of the samples held out when ``early_stopping``.
    n_iter_no_change : int, default=10
        Patience of early stopping, in iterations.
    verbose : bool, default=False
        Print one line per iteration (iteration, training loss, validation loss) to stdout.
    callback : callable or None, default=None
        Called after every iteration as ``callback(iteration, loss, validation_loss)``
        (``validation_loss`` is None without early stopping). With ``verbose`` or a callback,
        each iteration costs one extra forward pass over the training data.
"""

_COMMON_ATTRS = """
    network_ : quasinet.Network
        The trained network (it works on standardised inputs).
    coefs_, intercepts_ : list of ndarray
        Copies of the weight matrices and bias vectors.
    n_iter_ : int
        Iterations the optimiser ran.
    loss_ : float
        J at the returned parameters on the training part (standardised units).
    loss_curve_ : list of float
        J after each iteration.
    validation_curve_ : list of float
        Validation loss (the data term of J on the held-out part) after each iteration; empty
        without early stopping.
    best_validation_loss_ : float or None
        The lowest validation loss, whose parameters are kept (None without early stopping).
    stopped_early_ : bool
        Whether early stopping ended the run.
    x_mean_, x_scale_ : ndarray of shape (n_features_in_,)
        Input standardisation (zeros and ones when ``standardize=False``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    n_outputs_ : int
    out_activation_ : str
    loss_function_ : str
"""


class QuasiNetRegressor(RegressorMixin, _QuasiNetBase):
    __doc__ = (
        """A multi-layer perceptron regressor trained by a full-batch quasi-Newton method.

    The loss and its weighted form are defined in the :mod:`quasinet.sklearn` docstring;
    several outputs are fitted jointly with the exact gradient of the summed loss.

    Parameters
    ----------"""
        + _COMMON_DOC
        + """    output_activation : str, default="identity"
        Output activation: ``identity`` or any hidden activation. Targets are standardised
        (with ``standardize``) only for ``identity``; a bounded output activation needs targets
        in its range (sigmoid (0, 1), tanh (-1, 1), relu and softplus >= 0).
    loss : {"mse", "sse"}, default="mse"

    Attributes
    ----------"""
        + _COMMON_ATTRS
        + """    y_mean_, y_scale_ : ndarray of shape (n_outputs_,)
        Target standardisation (zeros and ones when not applied).
    """
    )

    def __init__(self, hidden_layer_sizes=(32,), activation="tanh", output_activation="identity", loss="mse",
                 l2=1e-4, method="L-BFGS-B", max_iter=500, tol=None, random_state=None, standardize=True,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, verbose=False,
                 callback=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.l2 = l2
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.standardize = standardize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.verbose = verbose
        self.callback = callback

    def _validate_xy(self, X, y):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._y_ndim = y.ndim
        return X, y

    def _encode_targets(self, y, w):
        if self.loss not in ("mse", "sse"):
            raise ValueError(f"loss must be 'mse' or 'sse' for a regressor, got {self.loss!r}")
        act = self.output_activation
        if not isinstance(act, str) or act not in ACTIVATIONS + ("logistic", "linear"):
            raise ValueError(f"output_activation must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return Y, act, self.loss

    def _set_target_scaling(self, Y, w, out_act):
        if self.standardize and out_act in ("identity", "linear"):
            self.y_mean_, self.y_scale_ = standardisation(Y, w)
        else:
            self.y_mean_, self.y_scale_ = np.zeros(Y.shape[1]), np.ones(Y.shape[1])

    def _scaled(self, X, Y):
        return (X - self.x_mean_) / self.x_scale_, (Y - self.y_mean_) / self.y_scale_

    def predict(self, X) -> np.ndarray:
        """Predictions in target units: shape (n_samples,) if y was 1-D, else (n_samples, n_outputs)."""
        out = self._forward(X) * self.y_scale_ + self.y_mean_
        return out.ravel() if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class QuasiNetClassifier(ClassifierMixin, _QuasiNetBase):
    __doc__ = (
        """A multi-layer perceptron classifier trained by a full-batch quasi-Newton method.

    Labels may be of any type; ``classes_`` holds them sorted, and the network's outputs refer
    to classes by their index in ``classes_``. Two classes: one sigmoid output, the probability
    of ``classes_[1]``, with binary cross-entropy; more: softmax outputs with softmax
    cross-entropy. The losses and their weighted forms are defined in the
    :mod:`quasinet.sklearn` docstring.

    Parameters
    ----------"""
        + _COMMON_DOC
        + """    loss : {"auto", "binary_crossentropy", "softmax_crossentropy"}, default="auto"
        ``auto``: binary cross-entropy for 2 classes, softmax cross-entropy for more.
        ``softmax_crossentropy`` with 2 classes uses 2 softmax outputs.

    Attributes
    ----------"""
        + _COMMON_ATTRS
        + """    classes_ : ndarray
        The class labels, sorted.
    """
    )

    def __init__(self, hidden_layer_sizes=(32,), activation="tanh", loss="auto", l2=1e-4, method="L-BFGS-B",
                 max_iter=500, tol=None, random_state=None, standardize=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, verbose=False, callback=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.l2 = l2
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.standardize = standardize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.verbose = verbose
        self.callback = callback

    def _validate_xy(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        return X, y

    def _encode_targets(self, y, w):
        if self.loss not in ("auto", "binary_crossentropy", "softmax_crossentropy"):
            raise ValueError(
                f"loss must be 'auto', 'binary_crossentropy' or 'softmax_crossentropy' for a classifier, got {self.loss!r}"
            )
        self.classes_, idx = np.unique(y, return_inverse=True)
        k = self.classes_.size
        present = np.unique(idx if w is None else idx[w > 0]).size
        if present < 2:
            raise ValueError(
                f"a classifier needs samples of at least 2 classes (with positive sample weight), got {present} class"
            )
        loss = self.loss
        if loss == "auto":
            loss = "binary_crossentropy" if k == 2 else "softmax_crossentropy"
        if loss == "binary_crossentropy":
            if k != 2:
                raise ValueError(f"loss 'binary_crossentropy' needs exactly 2 classes, got {k}; use 'softmax_crossentropy'")
            return idx.astype(np.float64).reshape(-1, 1), "sigmoid", loss
        onehot = np.zeros((idx.size, k))
        onehot[np.arange(idx.size), idx] = 1.0
        return onehot, "softmax", loss

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        return class_probabilities(self._forward(X))

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithms of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class for each sample."""
        proba = self.predict_proba(X)  # checks that the estimator is fitted
        if _is_dask(proba):
            return proba.argmax(axis=1).map_blocks(_take, self.classes_, dtype=self.classes_.dtype)
        return self.classes_[np.argmax(proba, axis=1)]
