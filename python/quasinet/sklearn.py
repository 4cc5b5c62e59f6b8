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
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "quasinet.sklearn needs scikit-learn >= 1.6: pip install 'quasinet[sklearn]'"
    ) from exc

from . import evidence, posterior
from .metrics import class_probabilities
from .network import ACTIVATIONS, Network, _is_dask, check_dtype, count_params
from .scaling import standardisation
from .train import STOPPABLE_METHODS, EarlyStopping, Trainer, check_int, method_name
from .tabular import make_tabular

#: ``method="auto"`` trains by Bayesian regularisation (``BR``) when the network (with
#: ``hidden_layer_sizes="auto"``, the widest candidate) has at most this many parameters, and
#: by L-BFGS-B otherwise: BR forms and factorises a P x P matrix at every step.
BR_MAX_PARAMS = 2000
#: Hidden layers of ``hidden_layer_sizes="auto"`` for methods other than BR.
DEFAULT_HIDDEN = (32,)

__all__ = ["QuasiNetClassifier", "QuasiNetRegressor", "from_sklearn", "make_tabular"]


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


_HASH_CHUNK = 1 << 14  # rows hashed at a time: the temporaries stay in cache (128 KiB each)
_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _row_hashes(X, Y):
    """A 64-bit hash of every row of [X, Y], shape (N,), read in place (any memory layout).

    Equal rows (as floats: -0.0 equals 0.0) get equal hashes; each column is folded in with a
    multiply and an xor-shift, and the result finished with splitmix64's mixer. Distinct rows
    may collide, which _merge_duplicates detects.
    """
    N = X.shape[0]
    h = np.empty(N, dtype=np.uint64)
    cols = [X[:, j] for j in range(X.shape[1])] + [Y[:, j] for j in range(Y.shape[1])]
    t = np.empty(min(_HASH_CHUNK, N), dtype=np.uint64)
    for r0 in range(0, N, _HASH_CHUNK):
        r1 = min(N, r0 + _HASH_CHUNK)
        acc, tmp = h[r0:r1], t[: r1 - r0]
        acc[...] = _GOLDEN
        for c in cols:
            np.add(c[r0:r1], 0.0, out=tmp.view(np.float64))  # -0.0 + 0.0 is +0.0
            acc ^= tmp
            acc *= _MIX1
            np.right_shift(acc, np.uint64(32), out=tmp)
            acc ^= tmp
        np.right_shift(acc, np.uint64(29), out=tmp)
        acc ^= tmp
        acc *= _MIX2
        np.right_shift(acc, np.uint64(32), out=tmp)
        acc ^= tmp
    return h


def _has_ties(sorted_hashes):
    return bool(np.any(sorted_hashes[1:] == sorted_hashes[:-1]))


def _merge_sorted(X, Y, w):
    """The exact merge in lexicographic row order (np.unique on the rows); the fallback when two
    distinct rows share a hash."""
    rows = np.ascontiguousarray(np.hstack([X, Y])) + 0.0
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=w, minlength=uniq.shape[0])
    d = X.shape[1]
    return np.ascontiguousarray(uniq[:, :d]), np.ascontiguousarray(uniq[:, d:]), weights


def _merge_duplicates(X, Y, w):
    """Drop zero-weight samples and merge identical (x, y) samples into one, summing weights.

    J is unchanged (a sample of weight w counts as w repeated samples). Without repeated rows
    and with no weight other than 0 and 1 (the common case) X and Y come back as given, in
    place and in their order (minus zero-weight rows): no copy, no reordering. Otherwise the
    merged rows come in a canonical order (by row hash, each group checked row by row; the
    lexicographic order if two distinct rows share a hash), so such fits do not depend on the
    order of the samples, and repeating a sample gives bitwise the same model as weighting it.
    Detecting repeats costs one hashing pass over the rows and one sort of N 64-bit hashes.
    Returns weights None when they are all 1 (the core's unweighted path).
    """
    if w is not None:
        keep = w > 0
        if not np.all(keep):
            X, Y, w = X[keep], Y[keep], w[keep]
        if np.all(w == 1.0):
            w = None
    h = _row_hashes(X, Y)
    if w is None and not _has_ties(np.sort(h)):
        return X, Y, None
    # Canonical order: by hash (equal rows are adjacent, distinct rows rarely tie).
    order = np.argsort(h, kind="stable")
    hs = h[order]
    tie = hs[1:] == hs[:-1]
    if not tie.any():  # weights, no repeats: only the order changes
        return X[order] + 0.0, Y[order] + 0.0, w[order]  # + 0.0: one sign for zeros, as merged rows have
    if w is not None:  # equal rows ordered by weight: their sum no longer depends on the input order
        order = np.lexsort((w, h))
        hs = h[order]
    start = np.flatnonzero(np.concatenate([[True], ~tie]))
    sizes = np.diff(np.append(start, hs.size))
    first = np.repeat(order[start], sizes)  # for each sorted row, the first row of its group
    later = first != order
    a, b = order[later], first[later]
    if not (np.array_equal(X[a], X[b]) and np.array_equal(Y[a], Y[b])):
        return _merge_sorted(X, Y, w)  # two distinct rows share a hash
    weights = np.add.reduceat(w[order], start) if w is not None else sizes.astype(float)
    if np.all(weights == 1.0):
        weights = None
    return X[order[start]] + 0.0, Y[order[start]] + 0.0, weights  # + 0.0: one sign for the zeros of a group


class _QuasiNetBase(BaseEstimator, metaclass=abc.ABCMeta):
    """Shared fitting machinery; see :class:`QuasiNetRegressor` for the parameters."""

    def _check_params(self) -> dict:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, str) and sizes == "auto":
            sizes = None
        else:
            if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
                sizes = (sizes,)
            if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
                raise TypeError(
                    f"hidden_layer_sizes must be 'auto', an int or a sequence of ints, got {type(sizes).__name__}")
            sizes = [check_int("hidden_layer_sizes entries", n, 1) for n in sizes]
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS + ("logistic", "linear"):
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        method = "auto" if isinstance(self.method, str) and self.method.lower() == "auto" else method_name(self.method)
        if not (isinstance(self.ard, (bool, np.bool_)) or (isinstance(self.ard, str) and self.ard == "auto")):
            raise TypeError(f"ard must be a bool or 'auto', got {self.ard!r}")
        committee = check_int("committee", self.committee, 1)
        restarts = None if self.restarts is None else check_int("restarts", self.restarts, 0)
        if method == "BR" and self.early_stopping:
            raise ValueError("early_stopping cannot be used with method 'BR': the evidence decides when to stop")
        if committee > 1 and method not in ("BR", "auto"):
            raise ValueError(f"committee > 1 needs method 'BR' (networks ranked by evidence), got {method}")
        if self.early_stopping and method != "auto" and method not in STOPPABLE_METHODS:
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
            dtype=check_dtype(self.dtype),
            method=method,
            committee=committee,
            restarts=restarts,
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

        method = self._resolve_method(p, X.shape[1], Y.shape[1])
        if p["committee"] > 1 and method != "BR":
            raise ValueError(f"committee={p['committee']} needs Bayesian regularisation, but method 'auto' chose "
                             f"{method} here (early_stopping, or more than {BR_MAX_PARAMS} parameters)")
        if method == "BR":
            return self._fit_bayes(p, Xtr, Ytr, wtr, out_act, loss, rng)
        self.members_ = []
        self.hidden_layer_sizes_ = tuple(DEFAULT_HIDDEN if p["sizes"] is None else p["sizes"])
        self.method_ = method
        layer_sizes = [X.shape[1], *self.hidden_layer_sizes_, Y.shape[1]]
        net = Network(layer_sizes, activation=self.activation, output_activation=out_act, loss=loss,
                      l2=p["l2"], seed=int(rng.randint(np.iinfo(np.int32).max)), dtype=p["dtype"])
        # The validation loss is the data term alone: the penalty says nothing about held-out data.
        monitor = self._monitor(p, lambda: net.bind(Xtr, Ytr, wtr),
                                lambda: Network(**{**net._spec(), "l2": 0.0}).bind(Xval, Yval, wval))
        trainer = Trainer(net, method=method, maxiter=p["max_iter"], tol=self.tol, callback=monitor,
                          restarts=p["restarts"] or 0, seed=rng.randint(np.iinfo(np.int32).max))
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
        self.n_effective_params_ = self.alpha_ = self.beta_ = self.log_evidence_ = None
        self.log_model_evidence_ = self.ard_ = self.feature_relevance_ = None
        method = self.method_
        limit_hit = res.nfev >= p["max_iter"] if method == "TNC" else res.nit >= p["max_iter"]
        if not res.success and not self.stopped_early_ and limit_hit:
            warnings.warn(
                f"{type(self).__name__}: {method} stopped on its iteration limit (max_iter={p['max_iter']}) "
                "before converging; raise max_iter or tol",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )
        return self

    def _resolve_method(self, p, n_in, n_out) -> str:
        """``method="auto"``: BR when the (widest candidate) network has at most BR_MAX_PARAMS
        parameters and early stopping is off, else L-BFGS-B."""
        if p["method"] != "auto":
            return p["method"]
        if self.early_stopping:
            return "L-BFGS-B"
        hidden = (max(evidence.AUTO_WIDTHS),) if p["sizes"] is None else tuple(p["sizes"])
        return "BR" if count_params([n_in, *hidden, n_out]) <= BR_MAX_PARAMS else "L-BFGS-B"

    def _fit_bayes(self, p, Xtr, Ytr, wtr, out_act, loss, rng):
        """Bayesian regularisation: candidates and restarts ranked by log evidence (quasinet.evidence)."""
        n_in, n_out = Xtr.shape[1], Ytr.shape[1]
        n_targets = (Xtr.shape[0] if wtr is None else float(np.sum(wtr))) * n_out
        candidates = ([(h,) for h in evidence.auto_widths(n_in, n_out, n_targets)] if p["sizes"] is None
                      else [tuple(p["sizes"])])
        # ard="auto": ARD for the networks with hidden layers, and the linear model both with one
        # precision for all (Bayesian ridge regression) and with ARD.
        ard = True if isinstance(self.ard, str) else bool(self.ard)
        linear = p["sizes"] is None and ((False, True) if isinstance(self.ard, str) else True)

        def make_net(hidden):
            return Network([n_in, *hidden, n_out], activation=self.activation, output_activation=out_act, loss=loss,
                           seed=int(rng.randint(np.iinfo(np.int32).max)), dtype=p["dtype"])

        def monitor(net):
            # verbose and callback report the training loss (the data term) of the candidate being fitted.
            if not (self.verbose or self.callback is not None):
                return None
            return EarlyStopping(on_iteration=self._reporter(Network(**{**net._spec(), "l2": 0.0}).bind(Xtr, Ytr, wtr)))

        fits = evidence.fit_candidates(
            make_net, candidates, Xtr, Ytr, wtr, restarts=2 if p["restarts"] is None else p["restarts"],
            ard=ard, maxiter=p["max_iter"],
            rng=np.random.default_rng(rng.randint(np.iinfo(np.int32).max)),
            callback_for=monitor, linear=linear,
        )
        ev, net, res = fits[0]
        self.network_ = net
        self.members_ = [(m, r.covariance, r.beta) for _, m, r in fits[: p["committee"]]]
        self.method_ = "BR"
        self.hidden_layer_sizes_ = tuple(net.layer_sizes[1:-1])
        self.n_iter_ = max(int(res.nit), 1)
        self.loss_curve_ = list(res.J)
        self.validation_curve_ = []
        self.best_validation_loss_ = None
        self.stopped_early_ = False
        self.loss_ = float(net.cost(Xtr, Ytr, wtr))
        self.n_outputs_ = n_out
        self.out_activation_ = net.output_activation
        self.loss_function_ = loss
        self.n_effective_params_ = float(res.gamma)
        self.alpha_ = np.array(res.alpha)
        self.beta_ = float(res.beta)
        self.log_evidence_ = float(res.log_evidence)
        self.log_model_evidence_ = float(ev)
        self.ard_ = bool(res.ard)
        self.evidence_history_ = list(res.history)
        self.evidence_candidates_ = [(tuple(m.layer_sizes[1:-1]), bool(r.ard), e) for e, m, r in fits]
        self.feature_relevance_ = None
        if self.ard_:
            self.feature_relevance_ = posterior.feature_relevance(self.alpha_, n_in)
        if res.status == 1:
            warnings.warn(f"{type(self).__name__}: BR stopped on its cycle limit (max_iter={p['max_iter']}) before "
                          "the evidence settled; raise max_iter", ConvergenceWarning, stacklevel=3)
        return self

    def _standardised_X(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return (X - self.x_mean_) / self.x_scale_

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
        A model trained by Bayesian regularisation carries its posterior (covariance, alpha,
        beta, gamma, log evidence, relevance and, for a classifier, ``moderate``), so that the
        model's ``predict(X, return_std=True)`` and ``predict_proba`` equal the estimator's.
        A committee (``committee > 1``) cannot be saved: ValueError.
        """
        from . import io

        check_is_fitted(self, "network_")
        members = getattr(self, "members_", None) or []
        if len(members) > 1:
            raise ValueError(f"model files hold one network; fit with committee=1 (this model is a committee of "
                             f"{len(members)})")
        post = None
        if members:
            net, cov, beta = members[0]
            ard = self.alpha_.size > 1  # one group for all without ARD (evidence.parameter_groups)
            post = posterior.Posterior(
                covariance=np.array(cov, dtype=np.float64), beta=float(beta), alpha=np.array(self.alpha_),
                group_names=evidence.parameter_groups(net, ard)[1], gamma=float(self.n_effective_params_),
                log_evidence=float(self.log_evidence_), ard=ard,
                feature_relevance=None if self.feature_relevance_ is None else np.array(self.feature_relevance_),
                moderate=isinstance(self, ClassifierMixin) and bool(self.moderate))
        names = getattr(self, "feature_names_in_", None)
        inputs = [str(c) for c in names] if names is not None else [f"x{i}" for i in range(self.n_features_in_)]
        method = getattr(self, "method_", None)
        if isinstance(self, ClassifierMixin):
            return io.Model(self.network_.copy(), self.x_mean_, self.x_scale_, inputs=inputs, targets=["y"],
                            classes=[c.item() if isinstance(c, np.generic) else c for c in self.classes_],
                            posterior=post, method=method)
        targets = ["y"] if self.n_outputs_ == 1 else [f"y{k}" for k in range(self.n_outputs_)]
        return io.Model(self.network_.copy(), self.x_mean_, self.x_scale_, self.y_mean_, self.y_scale_,
                        inputs=inputs, targets=targets, posterior=post, method=method)

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
        Xs = self._standardised_X(X)  # checks that the estimator is fitted
        return self.network_.forward(Xs)

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
        nets = [m for m, _, _ in self.members_] if len(getattr(self, "members_", [])) > 1 else [self.network_]
        J = np.mean([net.input_jacobian(Xs) for net in nets], axis=0) / self.x_scale_
        return self._output_jacobian(J)

    def _moderated(self) -> bool:
        return bool(getattr(self, "members_", None)) and bool(getattr(self, "moderate", False))

    def _check_single_map(self, what, committee_ok=True):
        """ValueError when ``what`` cannot reproduce the predictions: moderated probabilities, or
        (unless ``committee_ok``) a committee of several networks."""
        if self._moderated():
            raise ValueError(f"{what} needs the network's own probabilities, but this classifier moderates them "
                             "with the posterior (moderate=True); set_params(moderate=False) first")
        if not committee_ok and len(getattr(self, "members_", [])) > 1:
            raise ValueError(f"{what} holds one network, but this estimator averages a committee of "
                             f"{len(self.members_)}; fit with committee=1")

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
        cycles). Reaching it before the method
        converges emits a :class:`~sklearn.exceptions.ConvergenceWarning`.
    tol : float or None, default=None
        Passed to :func:`scipy.optimize.minimize` (not used by BR, which stops by the
        evidence); None keeps the method's own defaults
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
    committee : int, default=1
        Bayesian regularisation: average the predictions of the best ``committee`` networks
        by log model evidence (over the models and starts tried; at most as many as were fitted).
        Model files and exports hold one network and refuse a committee.
    restarts : int or None, default=None
        Further random starts (per candidate width for BR, ranked by log evidence; for the
        other methods the lowest training cost wins). None: 2 for BR, 0 otherwise.
    dtype : {"float64", "float32"}, default="float64"
        The precision of the network's forward and backward passes (:class:`quasinet.Network`'s
        ``dtype``): ``"float32"`` runs the products in float32, about twice as fast on large
        networks, with gradients within about 1e-5 of the float64 ones. Inputs, parameters and
        predictions stay float64; the curvature passes of LM and BR always run in float64.
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
        J after each iteration (for BR: the objective beta E_D + sum alpha E_W after each
        Levenberg-Marquardt step of the kept run).
    validation_curve_ : list of float
        Validation loss (the data term of J on the held-out part) after each iteration; empty
        without early stopping.
    best_validation_loss_ : float or None
        The lowest validation loss, whose parameters are kept (None without early stopping).
    stopped_early_ : bool
        Whether early stopping ended the run.
    x_mean_, x_scale_ : ndarray of shape (n_features_in_,)
        Input standardisation (zeros and ones when ``standardize=False``).
    method_ : str
        The method that trained the model (``method="auto"`` resolved).
    hidden_layer_sizes_ : tuple of int
        The hidden layers used (``"auto"`` resolved).
    n_effective_params_, alpha_, beta_, log_evidence_ : float, ndarray, float, float or None
        After BR: gamma (the effective number of parameters), the prior precision of each
        group (:func:`quasinet.evidence.parameter_groups`), the noise precision (standardised
        target units; 1 for a classifier) and the log evidence at these alpha, beta; None
        otherwise.
    log_model_evidence_, ard_ : float, bool or None
        After BR: the log evidence that chose the model
        (:func:`quasinet.evidence.model_log_evidence`) and whether the chosen model has ARD
        groups; None otherwise.
    feature_relevance_ : ndarray of shape (n_features_in_,) or None
        After BR, when the chosen model has ARD groups: each input's share of the prior
        variance 1/alpha of the input groups (sums to 1). An input used almost linearly can get
        a small share.
    evidence_history_, evidence_candidates_ : list
        After BR: the kept run's per-cycle record (gamma, alpha, beta, log_evidence, E_D, M)
        and every (hidden layers, ard, log model evidence) fitted, best first.
    members_ : list of (Network, ndarray, float)
        After BR: the networks averaged (``committee``), each with its posterior covariance
        A^-1 and beta; empty otherwise.
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

    Attributes
    ----------"""
        + _COMMON_ATTRS
        + """    y_mean_, y_scale_ : ndarray of shape (n_outputs_,)
        Target standardisation (zeros and ones when not applied).
    """
    )

    def __init__(self, hidden_layer_sizes="auto", activation="tanh", output_activation="identity", loss="mse",
                 l2=1e-4, method="auto", max_iter=500, tol=None, random_state=None, standardize=True,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, verbose=False,
                 callback=None, ard="auto", committee=1, restarts=None, dtype="float64"):
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
            committee, the standard deviation of the mixture of its members' Gaussians. Needs
            a model trained by Bayesian regularisation (``method="BR"``, or ``"auto"`` when it
            chose BR).
        """
        if not isinstance(return_std, (bool, np.bool_)):
            raise TypeError(f"return_std must be a bool, got {type(return_std).__name__}")
        if not return_std:
            if len(getattr(self, "members_", [])) > 1:
                Xs = self._standardised_X(X)
                out = np.mean([m.forward(Xs) for m, _, _ in self.members_], axis=0)
            else:
                out = self._forward(X)
            out = out * self.y_scale_ + self.y_mean_
            return out.ravel() if self._y_ndim == 1 else out
        if not getattr(self, "members_", None):
            check_is_fitted(self, "network_")
            raise ValueError(f"return_std needs a model trained by Bayesian regularisation (method 'BR'), "
                             f"this one was trained by {getattr(self, 'method_', 'another method')}")
        # A committee's predictive distribution is the equal mixture of its members' Gaussians.
        mean, var = posterior.predictive_moments(self.members_, self._standardised_X(X))
        out, std = mean * self.y_scale_ + self.y_mean_, np.sqrt(np.maximum(var, 0.0)) * self.y_scale_
        if self._y_ndim == 1:
            return out.ravel(), std.ravel()
        return out, std

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
    moderate : bool, default=True
        After BR, ``predict_proba`` gives MacKay's moderated probabilities (the output
        averaged over the Laplace posterior of the weights); False: the network's own.

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
                 committee=1, restarts=None, moderate=True, dtype="float64"):
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
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``.

        For a model trained by Bayesian regularisation with ``moderate=True``: MacKay's
        moderated probabilities, which average the output over the Laplace posterior of the
        weights: each output logit z_k is divided by sqrt(1 + pi s_k^2 / 8), with
        s_k^2 = g_k^T A^-1 g_k and g_k = d z_k / d w, before the sigmoid or softmax (for softmax
        this is the usual per-logit probit approximation). Probabilities move towards 1/2 where
        the weights are poorly determined. A committee averages its members' probabilities.
        """
        members = getattr(self, "members_", None)
        if not members or (len(members) == 1 and not self.moderate):
            return class_probabilities(self._forward(X))
        Xs = self._standardised_X(X)
        if not self.moderate:
            return np.mean([class_probabilities(net.forward(Xs)) for net, _, _ in members], axis=0)
        return posterior.moderated_probabilities(members, Xs)

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
        if _is_dask(proba):
            return proba.argmax(axis=1).map_blocks(_take, self.classes_, dtype=self.classes_.dtype)
        return self.classes_[np.argmax(proba, axis=1)]


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
    l2 = _real_param("l2", l2, 0.0)
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
    est.members_ = []
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
