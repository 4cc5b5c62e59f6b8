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
- classifier, 2 classes (``loss="binary_crossentropy"``, one sigmoid output p_i = P(``classes_[1]``)):
  J = -sum_i w_i [t_i log p_i + (1 - t_i) log(1 - p_i)] / sum_i w_i + (l2 / 2) * sum W^2,
  t_i = 1 if y_i is ``classes_[1]`` else 0
- classifier, more classes (``loss="softmax_crossentropy"``, softmax outputs p_ik):
  J = -sum_i w_i log p_{i, c(i)} / sum_i w_i + (l2 / 2) * sum W^2, c(i) the index of y_i in ``classes_``

Without weights the sums over w_i become plain sums and sum_i w_i = N. An integer weight is the
same as repeating the sample that many times, and a zero weight the same as leaving it out.
``fit`` makes that exact in floating point too: it drops zero-weight samples and merges identical
samples (same x and y) into one whose weight is the sum of theirs, in a canonical row order, so
repeating a sample or weighting it gives bitwise the same model, and so does any order of the
rows when some rows repeat or some weight differs from 0 and 1. In the common case (no repeated
rows, no weights, or weights of only 0 and 1) the rows are used as given, in place and in their
order: the fit then depends on the row order only through the floating-point summation order
of the cost and gradient (rounding-sized differences, which an optimisation can amplify).
Finding repeats costs one hashing pass over the rows and one sort of N 64-bit row hashes, not
of the rows (a few percent of one L-BFGS-B fit; see README "Fit overhead").
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
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "quasinet.sklearn needs scikit-learn >= 1.6: pip install 'quasinet[sklearn]'"
    ) from exc

from . import evidence, fitting, posterior, predictive
from .fitting import BR_MAX_PARAMS, DEFAULT_HIDDEN, real_param  # noqa: F401  (documented here too)
from .metrics import class_probabilities
from .network import Network, is_dask
from .tabular import IMPUTE, ColumnKinds

__all__ = ["QuasiNetClassifier", "QuasiNetRegressor", "estimator_from_model", "from_sklearn", "load_estimator",
           "make_tabular"]


def _refuse_text_columns(X) -> None:
    """ValueError naming the DataFrame columns that hold text (or categories, dates), with the
    remedy, instead of scikit-learn's "could not convert string to float: 'Mazda RX4'"."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "columns"):
        return
    bad = [str(name) for name, dt in zip(X.columns, dtypes)
           if getattr(dt, "kind", "O") not in "biuf" and str(dt) != "boolean"]
    if bad:
        shown = ", ".join(repr(b) for b in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(f"X has columns that are not numbers: {shown}. Encode them first: "
                         "quasinet.sklearn.make_tabular(estimator) one-hot encodes text columns and "
                         "imputes gaps in a Pipeline")


def _take(index, values):
    return values[index]


class _QuasiNetBase(BaseEstimator, metaclass=abc.ABCMeta):
    """Shared fitting machinery; see :class:`QuasiNetRegressor` for the parameters."""

    def _settings(self) -> fitting.Settings:
        """The estimator's parameters as the fitting module's settings (checked there)."""
        real_param("validation_fraction", self.validation_fraction, 0.0, 1.0, low_open=True, high_open=True)
        verbose = self.verbose
        if isinstance(verbose, (bool, np.bool_)):
            verbose = int(verbose)
        if not isinstance(verbose, numbers.Integral) or verbose < 0:
            raise ValueError(f"verbose must be a bool or an int >= 0, got {self.verbose!r}")
        report = self._report if (verbose or self.callback is not None) else None
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable, got {type(self.callback).__name__}")
        return fitting.Settings(
            classifier=isinstance(self, ClassifierMixin), hidden=self.hidden_layer_sizes, activation=self.activation,
            output_activation=getattr(self, "output_activation", "identity"), loss=self.loss, l2=self.l2,
            method=self.method, ard=self.ard, committee=self.committee, restarts=self.restarts,
            max_iter=self.max_iter, tol=self.tol, standardize=self.standardize, early_stopping=self.early_stopping,
            holdout=self.validation_fraction if self.early_stopping else 0.0, n_iter_no_change=self.n_iter_no_change,
            dtype=self.dtype, moderate=bool(getattr(self, "moderate", False)),
            noise=getattr(self, "noise", "auto"), report=report,
            report_in_search=self.callback is not None or verbose >= 2,
            progress=self._progress if verbose else None)

    def _progress(self, line: str) -> None:
        print(f"{type(self).__name__}: {line}", file=sys.stdout, flush=True)

    def _report(self, iteration, loss, validation_loss):
        """``verbose`` lines and the user's callback, after every iteration."""
        if self.verbose:
            tail = "" if validation_loss is None else f", validation loss = {validation_loss:.8g}"
            print(f"Iteration {iteration}, loss = {loss:.8g}{tail}", file=sys.stdout, flush=True)
        if self.callback is not None:
            self.callback(iteration, loss, validation_loss)

    # -- provided by each estimator ---------------------------------------------------------------
    @abc.abstractmethod
    def _validate_xy(self, X, y):
        """Return X and y checked by scikit-learn's helpers."""

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
        scheduler by the same code (:mod:`quasinet.fitting`) and no row reaches this process
        (:class:`quasinet.dask.DaskRows` lists what does), and ``predict`` accepts dask arrays too.

        Returns
        -------
        self
        """
        settings = self._settings()
        if is_dask(X, y, sample_weight):
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            w = sample_weight
            if not isinstance(self, ClassifierMixin):
                self._y_ndim = len(y.shape)
        else:
            _refuse_text_columns(X)
            X, y = self._validate_xy(X, y)
            w = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        result = fitting.fit(X, y, w, settings=settings, random_state=self.random_state)
        self._store(result)
        for kind, message in result.warnings:
            category = {"convergence": ConvergenceWarning, "noise": evidence.NoiseNotIdentifiedWarning}.get(kind, UserWarning)
            warnings.warn(f"{type(self).__name__}: {message}", category, stacklevel=2)
        return self

    @classmethod
    def load(cls, path):
        """The fitted estimator stored in a model file (``save``, ``quasinet train``): :func:`load_estimator`.

        ``QuasiNetRegressor.load`` refuses a classifier's file and ``QuasiNetClassifier.load``
        a regressor's (TypeError).
        """
        from . import io

        est = estimator_from_model(io.load_model(path))
        if not isinstance(est, cls):
            raise TypeError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}")
        return est

    def _store(self, r: fitting.FitResult) -> None:
        """Copy one fit result into the fitted attributes: the only place that sets them."""
        self.n_features_in_ = int(r.x_mean.size)
        self.network_ = r.network
        self.members_ = list(r.members)
        self.member_evidence_ = list(r.member_evidence)
        self.method_ = r.method
        self.hidden_layer_sizes_ = tuple(r.hidden)
        self.x_mean_, self.x_scale_ = r.x_mean, r.x_scale
        if r.classes is not None:
            self.classes_ = r.classes
        else:
            self.y_mean_, self.y_scale_ = r.y_mean, r.y_scale
        self.n_iter_ = r.n_iter
        self.loss_ = r.loss_value
        self.loss_curve_ = list(r.loss_curve)
        self.validation_curve_ = list(r.validation_curve)
        self.best_validation_loss_ = r.best_validation_loss
        self.stopped_early_ = r.stopped_early
        self.n_outputs_ = r.n_outputs
        self.out_activation_ = r.network.output_activation
        self.loss_function_ = r.loss
        self.n_effective_params_ = r.n_effective_params
        self.alpha_ = r.alpha
        self.beta_ = r.beta
        self.log_evidence_ = r.log_evidence
        self.log_model_evidence_ = r.log_model_evidence
        self.ard_ = r.ard
        self.feature_relevance_ = r.feature_relevance
        if r.classes is None:
            self.noise_dof_ = r.noise_dof
        if r.method == "BR" or r.members:
            self.evidence_history_ = list(r.evidence_history)
            self.evidence_candidates_ = list(r.evidence_candidates)

    def _standardised_X(self, X):
        check_is_fitted(self, "network_")
        _refuse_text_columns(X)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return (X - self.x_mean_) / self.x_scale_

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
        A model trained by Bayesian regularisation carries its posterior (covariance, alpha,
        beta, gamma, log evidence, relevance, a regressor's ``noise_dof_`` and, for a classifier,
        ``moderate``), so that the
        model's ``predict(X, return_std=True)`` and ``predict_proba`` equal the estimator's.
        A committee (``committee > 1``) is saved whole: every member with its posterior.
        """
        check_is_fitted(self, "network_")
        names = getattr(self, "feature_names_in_", None)
        inputs = [str(c) for c in names] if names is not None else [f"x{i}" for i in range(self.n_features_in_)]
        classifier = isinstance(self, ClassifierMixin)
        targets = ["y"] if classifier or self.n_outputs_ == 1 else [f"y{k}" for k in range(self.n_outputs_)]
        return fitting.model_of(
            self.network_, getattr(self, "members_", None) or [], x_mean=self.x_mean_, x_scale=self.x_scale_,
            y_mean=None if classifier else self.y_mean_, y_scale=None if classifier else self.y_scale_,
            classes=self.classes_ if classifier else None, alpha=self.alpha_, gamma=self.n_effective_params_,
            log_evidence=self.log_evidence_, feature_relevance=self.feature_relevance_,
            moderate=classifier and bool(self.moderate), inputs=inputs, targets=targets,
            method=getattr(self, "method_", None), member_evidence=getattr(self, "member_evidence_", None),
            noise_dof=None if classifier else getattr(self, "noise_dof_", None))

    def save(self, path) -> None:
        """Write the fitted model to a model file (:mod:`quasinet.io`): ``quasinet predict`` and
        :func:`quasinet.io.load_model` read it; predictions are identical."""
        self.to_model().save(path)

    def _forward(self, X, each=None) -> np.ndarray:
        """The network's outputs for X, or a committee's mean of its members' ``each(outputs)``
        (``each`` None: the outputs themselves); a lazy dask array for a dask X."""
        check_is_fitted(self, "network_")
        each = each or (lambda out: out)
        if is_dask(X):  # a lazy dask array of outputs, computed block by block on the workers
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(f"X must have shape (n_samples, {self.n_features_in_}), got {X.shape}")
            Xs = (X - self.x_mean_) / self.x_scale_
        else:
            Xs = self._standardised_X(X)
        return posterior.member_mean(each(net.forward(Xs)) for net in self._networks())

    def _networks(self) -> List[Network]:
        """The networks whose outputs the predictions average: a committee's members, or the one."""
        members = getattr(self, "members_", [])
        return [m for m, _, _ in members] if len(members) > 1 else [self.network_]

    def input_jacobian(self, X) -> np.ndarray:
        """Derivatives of the predictions with respect to the features, in original units.

        Returns an array of shape (n_samples, n_outputs, n_features): for a regressor
        ``d predict(X)[i, k] / d X[i, j]`` (also when y was 1-D, then n_outputs is 1), for a
        classifier ``d predict_proba(X)[i, k] / d X[i, j]``. Exact (the core's backward pass
        to the inputs, :meth:`quasinet.Network.input_jacobian`), through the stored scaling; for
        a committee, the mean of its networks' Jacobians. Not available for moderated
        probabilities (a classifier trained by BR with ``moderate=True``): ValueError.
        """
        Xs = self._standardised_X(X)  # checks that the estimator is fitted
        self._check_single_map("input_jacobian")
        J = posterior.member_mean(net.input_jacobian(Xs) for net in self._networks()) / self.x_scale_
        return self._output_jacobian(J)

    def _moderated(self) -> bool:
        return bool(getattr(self, "members_", None)) and bool(getattr(self, "moderate", False))

    def _check_single_map(self, what):
        """ValueError when ``what`` cannot reproduce moderated probabilities."""
        if self._moderated():
            raise ValueError(f"{what} needs the network's own probabilities, but this classifier moderates them "
                             "with the posterior (moderate=True); set_params(moderate=False) first")

    def _output_jacobian(self, J):
        return J

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


_COMMON_DOC = """
    hidden_layer_sizes : "auto", int or sequence of int, default="auto"
        Widths of the hidden layers. ``"auto"``: with Bayesian regularisation, one hidden layer
        whose width the log evidence chooses among 1, 2, 4, 8, 16 (searched upwards, widths
        with more parameters than training targets skipped), or none (a linear model, fitted
        too and compared by evidence); otherwise ``(32,)``.
    activation : {"tanh", "sigmoid", "relu", "softplus", "identity"}, default="tanh"
        Hidden activation (``logistic`` and ``linear`` are accepted aliases).
    l2 : float, default=1e-4
        Penalty strength: J gains (l2 / 2) * sum of all squared weights (not biases). Not used
        by Bayesian regularisation, which learns its prior precisions from the data.
    method : str, default="auto"
        ``"auto"``: ``BR`` when the network (with ``hidden_layer_sizes="auto"``, the widest
        candidate) has at most ``BR_MAX_PARAMS`` (2,000) parameters and ``early_stopping`` is
        off, else ``L-BFGS-B``. ``BR``: Bayesian regularisation (:mod:`quasinet.evidence`:
        MacKay's evidence framework; restarts and widths ranked by log evidence; the posterior
        gives ``predict(X, return_std=True)`` and moderated probabilities). Or an optimiser
        of :class:`~quasinet.Trainer`: ``BFGS``, ``L-BFGS-B``, ``CG``, ``TNC``, ``SLSQP``;
        ``Newton-CG``, ``trust-ncg``, ``trust-krylov``, ``trust-constr`` with the core's exact
        Hessian-vector products; or ``LM`` (Levenberg-Marquardt on the Gauss-Newton matrix,
        for networks of at most 8192 parameters).
    max_iter : int, default=500
        Iteration limit (for TNC the limit on cost evaluations; for BR the limit on evidence
        cycles of each evidence fit: the model search's, which also stop after
        ``quasinet.fitting.SEARCH_CYCLES`` (20) unless ``tol`` is given, and then each kept
        network's continuation). Reaching it before the method
        converges emits a :class:`~sklearn.exceptions.ConvergenceWarning`.
    tol : float or None, default=None
        Passed to :func:`scipy.optimize.minimize`; for BR the least rise of the log evidence
        over its last cycles (10 in the model search) that keeps an evidence fit going (given,
        the search's fits run to it and are not continued on the same rows); None keeps the
        method's own defaults
        (for L-BFGS-B: ftol 2.2e-9, gtol 1e-5; for BR the search's fits stop early and the
        kept networks' fits continue).
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
    verbose : bool or int, default=False
        ``1`` (or True): print one line per model that the Bayesian-regularisation search fits
        (architecture, ARD, starts, log evidence, time, total and time left) and, for the
        other methods, one line per iteration (iteration, training loss, validation loss) to
        stdout; ``2``: also one line per iteration of each BR model.
    callback : callable or None, default=None
        Called after every iteration as ``callback(iteration, loss, validation_loss)``
        (``validation_loss`` is None without early stopping). With ``verbose`` or a callback,
        each iteration costs one extra forward pass over the training data.
    ard : bool or "auto", default="auto"
        Bayesian regularisation with one prior precision per input's outgoing weights, per
        layer's biases and per later layer's weights (automatic relevance determination);
        False: one precision for all parameters; ``"auto"``: ARD for the networks with hidden
        layers (one precision for all their weights and biases is a poor prior: it ignores
        how differently inputs, biases and output weights scale) and, for the linear model
        that ``hidden_layer_sizes="auto"`` also fits, both one precision (Bayesian ridge
        regression) and ARD, chosen by the evidence with the hyperparameters integrated out
        (:func:`quasinet.evidence.model_log_evidence`), which charges ARD for its extra
        precisions.
    committee : int or None, default=None
        Bayesian regularisation: average the predictions of the best ``committee`` networks
        by log model evidence (over the models and starts tried; at most as many as were
        fitted), keeping only those within ``quasinet.fitting.COMMITTEE_WINDOW`` (20) nats of
        the best. None: up to ``quasinet.fitting.DEFAULT_COMMITTEE`` (3) for a regressor under
        BR, and one network for a classifier and for the other methods; an int above 1 needs
        BR. Model files and exports hold the whole committee.
    restarts : int or None, default=None
        Further random starts (per candidate width for BR, ranked by log evidence; for the
        other methods the lowest training cost wins). None: 0 (``quasinet.fitting.BR_RESTARTS`` for BR).
    dtype : {"float64", "float32"}, default="float64"
        The precision of the network's forward and backward passes (:class:`quasinet.Network`'s
        ``dtype``): ``"float32"`` runs the products in float32, about twice as fast on large
        networks, with gradients within about 1e-5 of the float64 ones. Inputs, parameters and
        predictions stay float64; the curvature passes of LM and BR always run in float64.
"""

_COMMON_ATTRS = """
    network_ : quasinet.Network
        The trained network (it works on standardised inputs); for a committee, its first
        member, the best by log model evidence (``members_`` holds them all, and the
        predictions average them). ``coefs_``, ``intercepts_``, ``n_iter_``, ``loss_`` and the
        evidence attributes below describe this network.
    coefs_, intercepts_ : list of ndarray
        Copies of the weight matrices and bias vectors.
    n_iter_ : int
        Iterations the optimiser ran.
    loss_ : float
        J at the returned parameters on the training part (standardised units).
    loss_curve_ : list of float
        J after each iteration (for BR: the objective beta E_D + sum alpha E_W after each
        Levenberg-Marquardt step of the kept run).
    validation_curve_ : list of float
        Validation loss (the data term of J on the held-out part) after each iteration; empty
        without early stopping.
    best_validation_loss_ : float or None
        The lowest validation loss, whose parameters are kept (None without early stopping).
    stopped_early_ : bool
        Whether early stopping ended the run.
    x_mean_, x_scale_ : ndarray of shape (``n_features_in_``,)
        Input standardisation (zeros and ones when ``standardize=False``).
    method_ : str
        The method that trained the model (``method="auto"`` resolved).
    hidden_layer_sizes_ : tuple of int
        The hidden layers used (``"auto"`` resolved).
    n_effective_params_, alpha_, beta_, log_evidence_ : float, ndarray, float or ndarray, float or None
        After BR: gamma (the effective number of parameters), the prior precision of each
        group (:func:`quasinet.evidence.parameter_groups`), the noise precision (standardised
        target units; 1 for a classifier; for a regression with several targets an array with
        one precision per target, each learned from its own residuals) and the log evidence at
        these alpha, beta; None otherwise.
    log_model_evidence_, ard_ : float, bool or None
        After BR: the log evidence that chose the model
        (:func:`quasinet.evidence.model_log_evidence`) and whether the chosen model has ARD
        groups; None otherwise.
    feature_relevance_ : ndarray of shape (``n_features_in_``,)
        Each input's share of what the inputs do to the predictions (sums to 1): the mean over
        the training rows of the squared derivative of the prediction with respect to the
        (standardised) input, summed over outputs (:func:`quasinet.posterior.input_relevance`,
        exact derivatives from the core). It depends on the fitted function only, so it is
        immune to ARD's scale degeneracy; the ARD precisions themselves are ``alpha_``.
    evidence_history_, evidence_candidates_ : list
        After BR: the kept run's per-cycle record (gamma, alpha, beta, log_evidence, E_D, M)
        and every (hidden layers, ard, log model evidence) the model search fitted, best first,
        as its early-stopped fits left them (on more than 2,000 rows on a subset of 2,000).
        The kept networks' fits then continue (on 2,000 rows or fewer on the same rows, each
        member keeping the better of its search fit and its continuation; above, the
        committee's members within the window scaled to all rows, or else the chosen model and
        its best wider rival on more rows, refitted on every row), so ``log_model_evidence_``
        can differ from the first candidate's.
    members_ : list of (Network, ndarray, float or ndarray)
        After BR: the networks averaged (``committee``), each with its posterior covariance
        A^-1 and beta; empty otherwise.
    member_evidence_ : list of (ndarray, float, float, bool)
        After BR: each member's alpha, gamma, log evidence and ard, in the order of
        ``members_`` (the first's are ``alpha_``, ``n_effective_params_``, ``log_evidence_``,
        ``ard_``); empty otherwise.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    n_outputs_ : int
    out_activation_ : str
    loss_function_ : str
"""


class QuasiNetRegressor(RegressorMixin, _QuasiNetBase):
    __doc__ = (
        """A multi-layer perceptron regressor: Bayesian regularisation by default, or a full-batch quasi-Newton method.

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
    noise : {"auto", "gaussian"}, default="auto"
        The shape of the predictive distribution under Bayesian regularisation
        (:meth:`predict_distribution`): ``"auto"``, for each output a Student-t where the
        training residuals (leverage-corrected) have heavier tails than a Gaussian's by more
        than the BIC's price of one parameter, else a Gaussian
        (:func:`quasinet.predictive.fit_noise_dof`); ``"gaussian"``, always a Gaussian. The
        shape changes densities and intervals, not the predictions nor their standard
        deviation. As in the evidence, a ``sample_weight`` counts as that many copies of its
        row, so the weights' scale matters: weights summing to far fewer than the rows leave
        too little evidence for a Student-t.

    Attributes
    ----------"""
        + _COMMON_ATTRS
        + """    y_mean_, y_scale_ : ndarray of shape (``n_outputs_``,)
        Target standardisation (zeros and ones when not applied).
    noise_dof_ : ndarray of shape (``n_outputs_``,) or None
        After BR: each output's Student-t degrees of freedom of the predictive distribution
        (``inf``: Gaussian; all ``inf`` after an interrupted fit); None otherwise.
    """
    )

    def __init__(self, hidden_layer_sizes="auto", activation="tanh", output_activation="identity", loss="mse",
                 l2=1e-4, method="auto", max_iter=500, tol=None, random_state=None, standardize=True,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, verbose=False,
                 callback=None, ard="auto", committee=None, restarts=None, dtype="float64", noise="auto"):
        self.noise = noise
        self.dtype = dtype
        self.ard = ard
        self.committee = committee
        self.restarts = restarts
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

    def predict(self, X, return_std=False):
        """Predictions in target units: shape (n_samples,) if y was 1-D, else (n_samples, n_outputs).

        With a committee (``committee > 1``) the mean of its networks' predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the predictive standard deviation (same shape), in target units: the
            delta method with the Laplace posterior covariance A^-1 of the weights plus the
            noise variance 1/beta, sqrt(g^T A^-1 g + 1/beta) with g = d yhat / d w; for a
            committee, the standard deviation of the mixture of its members' distributions
            (Gaussian or Student-t, :meth:`predict_distribution`; the shape leaves it unchanged). Needs
            a model trained by Bayesian regularisation (``method="BR"``, or ``"auto"`` when it
            chose BR).
        """
        if not isinstance(return_std, (bool, np.bool_)):
            raise TypeError(f"return_std must be a bool, got {type(return_std).__name__}")
        if not return_std:
            out = self._forward(X) * self.y_scale_ + self.y_mean_
            return out.ravel() if self._y_ndim == 1 else out
        dist = self._distribution(X, "return_std")
        return dist.mean, dist.std

    def predict_distribution(self, X) -> predictive.Predictive:
        """The predictive distribution at the rows of ``X``, in target units.

        A :class:`quasinet.predictive.Predictive`: its ``mean`` and ``std`` are what
        ``predict(X, return_std=True)`` returns; ``logpdf(y)``, ``cdf(y)``, ``ppf(q)`` and
        ``interval(coverage)`` use each output's shape, a Student-t with ``noise_dof_`` degrees
        of freedom or a Gaussian (``noise``), for a committee the equal mixture of its
        members'. Arrays are of shape (n_samples,) if y was 1-D, else (n_samples, n_outputs).
        Needs a model trained by Bayesian regularisation.
        """
        return self._distribution(X, "predict_distribution")

    def _distribution(self, X, what: str) -> predictive.Predictive:
        """:func:`quasinet.predictive.predictive_distribution` of the members at X (target units,
        1-D for a 1-D y); ValueError naming ``what`` (the caller's name) without BR."""
        if not getattr(self, "members_", None):
            check_is_fitted(self, "network_")
            raise ValueError(f"{what} needs a model trained by Bayesian regularisation (method 'BR'), "
                             f"{posterior.trained_by(getattr(self, 'method_', None))}")
        # An estimator pickled before noise_dof_ existed has a Gaussian predictive.
        dof = getattr(self, "noise_dof_", None)
        return predictive.predictive_distribution(self.members_, self._standardised_X(X), dof, self.y_mean_,
                                                  self.y_scale_, squeeze=self._y_ndim == 1)

    def _output_jacobian(self, J):
        return J * self.y_scale_[:, None]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class QuasiNetClassifier(ClassifierMixin, _QuasiNetBase):
    __doc__ = (
        """A multi-layer perceptron classifier: Bayesian regularisation by default, or a full-batch quasi-Newton method.

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
    moderate : bool, default=False
        After BR, ``predict_proba`` gives MacKay's moderated probabilities (the output
        averaged over the Laplace posterior of the weights); False: the network's own (by
        default: on the development tables the moderated probabilities had the higher
        held-out log-loss, on iris 0.133 against 0.076, on breast cancer 0.070 against 0.061;
        the Laplace posterior is too wide where the classes are nearly separable).

    Attributes
    ----------"""
        + _COMMON_ATTRS
        + """    classes_ : ndarray
        The class labels, sorted.
    """
    )

    def __init__(self, hidden_layer_sizes="auto", activation="tanh", loss="auto", l2=1e-4, method="auto",
                 max_iter=500, tol=None, random_state=None, standardize=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, verbose=False, callback=None, ard="auto",
                 committee=None, restarts=None, moderate=False, dtype="float64"):
        self.dtype = dtype
        self.ard = ard
        self.committee = committee
        self.restarts = restarts
        self.moderate = moderate
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

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``.

        For a model trained by Bayesian regularisation with ``moderate=True``: MacKay's
        moderated probabilities, which average the output over the Laplace posterior of the
        weights by the probit approximation: two classes, the logit z divided by
        sqrt(1 + pi s^2 / 8), s^2 = g^T A^-1 g, g = d z / d w; a softmax, the same applied to
        each difference of two logits (:func:`quasinet.posterior.softmax_moderated`).
        Probabilities move towards uniform where the weights are poorly determined. A
        committee averages its members' probabilities.
        """
        members = getattr(self, "members_", None)
        if not members or not self.moderate:
            return self._forward(X, class_probabilities)
        return posterior.moderated_probabilities(members, self._standardised_X(X))

    def _output_jacobian(self, J):
        # One sigmoid output p: predict_proba is [1 - p, p].
        return np.concatenate([-J, J], axis=1) if J.shape[1] == 1 else J

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithms of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class for each sample."""
        proba = self.predict_proba(X)  # checks that the estimator is fitted
        if is_dask(proba):
            return proba.argmax(axis=1).map_blocks(_take, self.classes_, dtype=self.classes_.dtype)
        return self.classes_[np.argmax(proba, axis=1)]


# -- tables -------------------------------------------------------------------------------------------
def make_tabular(estimator=None, *, categorical: Union[str, Sequence] = "auto", impute: str = "median"):
    """A scikit-learn pipeline for tables with text columns and gaps: encoding, then ``estimator``.

    ``Pipeline([("encode", ColumnTransformer(...)), ("model", estimator)])``: categorical
    columns one-hot encoded (``OneHotEncoder(handle_unknown="ignore")``: a category not seen in
    training encodes as all zeros; a gap is a category of its own), number columns imputed
    (``SimpleImputer(strategy=impute, add_indicator=True)``: a gap takes the training median
    and, for columns that had gaps in training, a 0/1 indicator feature is added). Works with
    pandas DataFrames and NumPy arrays in ``cross_validate``, ``GridSearchCV``
    (``model__l2``, ...) and pickles.

    Parameters
    ----------
    estimator : scikit-learn estimator, optional
        Default: ``QuasiNetRegressor()``. Use ``QuasiNetClassifier()`` for class labels.
    categorical : "auto" or list
        ``"auto"``: columns of a non-numeric dtype (object, string, category); else the
        categorical columns' names (for a DataFrame) or positions (for an array).
    impute : {"median", "mean"}

    Returns
    -------
    sklearn.pipeline.Pipeline

    Examples
    --------
    >>> from quasinet.sklearn import QuasiNetClassifier, make_tabular
    >>> model = make_tabular(QuasiNetClassifier())       # doctest: +SKIP
    >>> model.fit(df.drop(columns="label"), df["label"])   # doctest: +SKIP
    >>> model[:-1].get_feature_names_out()                 # the encoded features  # doctest: +SKIP
    """
    try:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("make_tabular needs scikit-learn >= 1.6: pip install 'quasinet[sklearn]'") from exc
    if impute not in IMPUTE:
        raise ValueError(f"impute must be one of {IMPUTE}, got {impute!r}")
    if not isinstance(categorical, str):
        categorical = list(categorical)
    elif categorical != "auto":
        raise ValueError(f"categorical must be 'auto' or a list of columns, got {categorical!r}")
    if estimator is None:
        estimator = QuasiNetRegressor()
    encode = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
          ColumnKinds("categorical", categorical)),
         ("number", SimpleImputer(strategy=impute, add_indicator=True), ColumnKinds("number", categorical))],
        verbose_feature_names_out=False)
    return Pipeline([("encode", encode), ("model", estimator)])


# -- model files ------------------------------------------------------------------------------------
def load_estimator(path):
    """The fitted estimator stored in the model file ``path`` (``estimator.save``, ``quasinet train``).

    A :class:`QuasiNetRegressor`, or for a model with classes a :class:`QuasiNetClassifier`,
    whose ``predict``, ``predict(X, return_std=True)``, ``predict_proba`` and
    ``input_jacobian`` equal the model file's (:func:`quasinet.io.load_model`). It can be
    scored, exported or saved again; ``fit`` trains afresh with the hyperparameters read from
    the file. What a file does not hold is not invented: the curves and the evidence history
    are empty, ``n_iter_`` is 0 and ``loss_`` is None. ValueError for a file that is not a
    valid model file.
    """
    from . import io

    return estimator_from_model(io.load_model(path))


def estimator_from_model(model):
    """The fitted estimator equivalent to a :class:`quasinet.io.Model` (see :func:`load_estimator`).

    Input names other than the default ``x0, x1, ...`` become ``feature_names_in_`` (a
    DataFrame's columns are then checked as when the estimator was fitted); the network and
    its posterior are copied, not shared.
    """
    from .train import METHODS

    r = fitting.result_from_model(model)
    net = r.network
    params = dict(hidden_layer_sizes=r.hidden, activation=net.activation, l2=float(net.l2), dtype=net.dtype,
                  standardize=model.x_offset is not None)
    if model.method in METHODS:
        params["method"] = model.method
    if model.posterior is not None:
        params["ard"] = bool(model.posterior.ard)
    if len(model.members) > 1:
        params["committee"] = len(model.members)
    if r.classes is not None:
        moderate = bool(model.posterior.moderate) if model.posterior is not None else False
        est = QuasiNetClassifier(loss=net.loss, moderate=moderate, **params)
    else:
        est = QuasiNetRegressor(output_activation=net.output_activation, loss=net.loss, **params)
        est._y_ndim = 1 if r.n_outputs == 1 else 2  # one output: 1-D predictions, as after a fit on a 1-D y
    est._store(r)
    n_in = net.layer_sizes[0]
    if model.inputs is not None and model.inputs != [f"x{i}" for i in range(n_in)]:
        est.feature_names_in_ = np.asarray(model.inputs, dtype=object)
    return est


# -- scikit-learn's own MLPs ------------------------------------------------------------------------
_SKLEARN_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def from_sklearn(estimator, *, l2=0.0):
    """A fitted :class:`QuasiNetRegressor` or :class:`QuasiNetClassifier` computing the same function
    as a fitted scikit-learn ``MLPRegressor`` or ``MLPClassifier``.

    The weights are copied (scikit-learn's ``coefs_[l]`` (n_l, n_{l+1}) and ``intercepts_`` are
    quasinet's layout), with no input or target scaling (``standardize=False``), so ``predict``
    and ``predict_proba`` agree with scikit-learn's to rounding (about 1e-15), and the result
    can be checked, fine-tuned (``fit`` starts afresh, though) and exported like any fitted
    estimator. Supported: any hidden activation; regressors with one or several outputs;
    classifiers with two classes (one sigmoid output, the probability of ``classes_[1]``) or
    more (softmax). Only the fitted function is taken over: the solver's state (momentum,
    Adam moments, ``partial_fit`` bookkeeping) is not.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPRegressor or MLPClassifier, fitted
    l2 : float, default=0.0
        The ``l2`` of the returned estimator (its penalty if trained further). scikit-learn's
        ``alpha`` is a penalty on the *mean* loss, alpha / (2 n_samples) * sum W^2 (and its
        squared error is also averaged over outputs), so it has no fixed equivalent here.

    Returns
    -------
    QuasiNetRegressor or QuasiNetClassifier

    Raises
    ------
    TypeError
        If ``estimator`` is not a scikit-learn MLP.
    ValueError
        If it is not fitted, is a multilabel classifier (several independent sigmoid outputs,
        which :class:`QuasiNetClassifier` does not model), or holds inconsistent or non-finite
        weights.
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if not isinstance(estimator, (MLPRegressor, MLPClassifier)):
        raise TypeError(
            f"from_sklearn expects a fitted sklearn.neural_network.MLPRegressor or MLPClassifier, "
            f"got {type(estimator).__name__}"
        )
    name = type(estimator).__name__
    if not hasattr(estimator, "coefs_") or not hasattr(estimator, "out_activation_"):
        raise ValueError(f"the {name} is not fitted: call its fit before from_sklearn")
    l2 = real_param("l2", l2, 0.0)
    if estimator.activation not in _SKLEARN_ACTIVATIONS:
        raise ValueError(f"{name} activation must be one of {sorted(_SKLEARN_ACTIVATIONS)}, got {estimator.activation!r}")
    coefs = [np.asarray(W, dtype=np.float64) for W in estimator.coefs_]
    intercepts = [np.asarray(b, dtype=np.float64) for b in estimator.intercepts_]
    if len(coefs) < 1 or len(coefs) != len(intercepts):
        raise ValueError(f"{name} has {len(coefs)} weight matrices and {len(intercepts)} bias vectors")
    sizes = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
    for l, (W, b) in enumerate(zip(coefs, intercepts)):
        if W.ndim != 2 or W.shape[0] != sizes[l] or b.shape != (W.shape[1],):
            raise ValueError(f"{name} layer {l}: weights {W.shape} and biases {b.shape} do not chain")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise ValueError(f"{name} layer {l} holds NaN or infinite weights")
    n_out = sizes[-1]
    out_act = estimator.out_activation_
    if isinstance(estimator, MLPClassifier):
        classes = np.asarray(estimator.classes_)
        if out_act == "logistic" and n_out == 1 and classes.size == 2:
            net_out, loss = "sigmoid", "binary_crossentropy"
        elif out_act == "softmax" and n_out == classes.size >= 3:
            net_out, loss = "softmax", "softmax_crossentropy"
        elif out_act == "logistic":
            raise ValueError(
                f"MLPClassifier with {n_out} sigmoid outputs is a multilabel classifier; "
                "QuasiNetClassifier supports binary and multiclass (one label per sample) only"
            )
        else:
            raise ValueError(f"MLPClassifier with output activation {out_act!r}, {n_out} outputs and "
                             f"{classes.size} classes is not supported")
        est = QuasiNetClassifier(loss=loss)
        est.classes_ = classes.copy()
    else:
        if out_act != "identity":
            raise ValueError(f"MLPRegressor with output activation {out_act!r} is not supported (expected 'identity')")
        net_out, loss = "identity", "mse"
        est = QuasiNetRegressor(output_activation="identity", loss=loss)
        est.y_mean_, est.y_scale_ = np.zeros(n_out), np.ones(n_out)
        est._y_ndim = 1 if n_out == 1 else 2  # scikit-learn's predict returns 1-D for one output
    # method L-BFGS-B: a refit minimises the same penalised loss as scikit-learn's lbfgs solver.
    est.set_params(hidden_layer_sizes=tuple(sizes[1:-1]), activation=_SKLEARN_ACTIVATIONS[estimator.activation],
                   l2=l2, method="L-BFGS-B", standardize=False, max_iter=int(estimator.max_iter),
                   random_state=estimator.random_state)
    net = Network(sizes, activation=est.activation, output_activation=net_out, loss=loss, l2=l2)
    for W_dst, b_dst, W, b in zip(net.weights, net.biases, coefs, intercepts):
        W_dst[...] = W
        b_dst[...] = b
    est.network_ = net
    est.members_, est.member_evidence_ = [], []
    est.method_ = "from_sklearn"
    est.hidden_layer_sizes_ = tuple(sizes[1:-1])
    est.n_effective_params_ = est.alpha_ = est.beta_ = est.log_evidence_ = est.feature_relevance_ = None
    est.log_model_evidence_ = est.ard_ = None
    est.n_features_in_ = sizes[0]
    if hasattr(estimator, "feature_names_in_"):
        est.feature_names_in_ = np.asarray(estimator.feature_names_in_).copy()
    est.x_mean_, est.x_scale_ = np.zeros(sizes[0]), np.ones(sizes[0])
    est.n_iter_ = int(getattr(estimator, "n_iter_", 0))
    # Training history in scikit-learn's units is not J: left empty rather than mislabelled.
    est.loss_curve_, est.validation_curve_ = [], []
    est.loss_ = None
    est.best_validation_loss_ = None
    est.stopped_early_ = False
    est.n_outputs_ = n_out
    est.out_activation_ = net.output_activation
    est.loss_function_ = loss
    return est
