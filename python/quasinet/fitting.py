"""From data to a fitted model: the one road that the estimators, the command line and Dask take.

:func:`fit` turns (X, y, sample_weight, :class:`Settings`) into a :class:`FitResult`:

1. the targets are encoded (class labels to indices or one-hot rows for a classifier, a 2-D
   float array for a regressor);
2. a held-out part is split off when asked for (early stopping, or the command line's
   ``--val-fraction``), stratified by class when every class can give rows to both parts;
3. zero-weight rows are dropped and repeated rows merged (NumPy data);
4. inputs (and the targets of a regressor with an identity output) are standardised with the
   weighted mean and standard deviation of the training part;
5. the method is chosen (``"auto"``: :func:`resolve_method`);
6. Bayesian regularisation runs the model search (:func:`search`: widths, ARD, the linear
   model, restarts, ranked by the evidence with the hyperparameters integrated out; its fits
   stop early, and the kept networks' fits then continue), any other method one
   :class:`~quasinet.Trainer` with early stopping and reporting;
7. the result carries the network(s), the posterior, the scaling and the curves.

The data are seen only through a small interface (:class:`quasinet.rows.ArrayRows` for NumPy
arrays, :class:`quasinet.dask.DaskRows` for dask arrays): reductions for labels, weights and
standardisation, the held-out split, and the arrays that :meth:`quasinet.Network.bind` turns
into the bound objective. So the same code fits on NumPy and on Dask, Bayesian regularisation
and its model search included; the two differ only in floating-point summation order (and on
Dask, repeated rows are not merged, which changes nothing but that order either).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
from threadpoolctl import threadpool_limits

from . import evidence, io, posterior, predictive
from .metrics import class_probabilities
from .network import ACTIVATIONS, Network, check_dtype, count_params, is_dask
from .rows import ArrayRows
from .train import STOPPABLE_METHODS, EarlyStopping, Trainer, check_int, method_name

#: ``method="auto"`` trains by Bayesian regularisation (``BR``) when the network (with
#: ``hidden="auto"``, the widest candidate) has at most this many parameters, and by L-BFGS-B
#: otherwise: BR forms and factorises a P x P matrix at every step.
BR_MAX_PARAMS = 2000
#: Hidden layers of ``hidden="auto"`` for methods other than BR.
DEFAULT_HIDDEN = (32,)
#: Hidden widths tried, in this order, by the model search when ``hidden="auto"``; the search
#: stops at the first width whose best log model evidence falls below the previous width's.
#: Widths whose network would have more parameters than there are target values are skipped
#: (the smallest is always tried): on a few rows the evidence cannot tell them apart, and the symmetry term ln(h! 2^h) would favour the widest. 32 was
#: tried and left out: on Ecdat Computers (6,259 rows, the one development table whose search
#: ended at 16) a fixed 32-unit BR fit had held-out RMSE 161 against 178 for 16 units (2
#: splits, ``python bench/realdata.py --variants --models "(32,) BR" "(16,) BR" --tables
#: computers --splits 2``), but with 32 among the candidates the evidence chose it on one split
#: of two, the default's RMSE was 175.5 against 174.5 without, and its fit took 9.2 CPU seconds
#: against 4.0 (``--models quasinet HistGradient --tables computers``).
AUTO_WIDTHS = (1, 2, 4, 8, 16)

#: Further random starts per candidate width of the BR model search when ``restarts`` is None.
#: One start each: on six development tables (bench/results/realdata.variants.txt) the search
#: with one start per width was as accurate as with three (lower RMSE on four of six, within a
#: standard error on the others) at a third to a tenth of the CPU time; the widths and the
#: linear models already act as restarts of one another.
BR_RESTARTS = 0
#: Above this many training rows the BR model search (widths, ARD, the linear models, restarts)
#: runs on a random subset of this many rows, and the chosen model (each committee member) is
#: refitted on every row by one evidence fit that starts from the subset's weights and
#: precisions: the search's cost then stops growing with the number of rows, and only the
#: last fit (a few Gauss-Newton passes over all rows) does.
SEARCH_ROWS = 2000
#: After a search on a subset, the chosen model and its strongest wider rival both take
#: :data:`DUEL_CYCLES` evidence cycles (warm started) on this many rows (all of them when there
#: are fewer); the higher log model evidence there wins and is refitted on every row
#: (:func:`_refit_all_rows`). Three cycles, not a full refit of the rival: on Ecdat Computers
#: (6,259 rows) a full refit of the 32-unit rival took the fit from 4 to 14 CPU seconds.
DUEL_ROWS = 8000
DUEL_CYCLES = 3
#: The model search only ranks its candidates: the networks it keeps (the committee's members;
#: above :data:`SEARCH_ROWS` rows, on every row) are then refitted from where it left them
#: (:func:`_refit`, until :data:`REFIT_PATIENCE` and :data:`REFIT_GAIN` stop it). So the search's
#: evidence fits stop early:
#: after at most this many evidence cycles ...
SEARCH_CYCLES = 20
#: ... or when the log evidence rose by less than :data:`SEARCH_GAIN` nats over this many
#: cycles (a fit to the end: 0.1 nats over 10 cycles; :data:`quasinet.evidence.PATIENCE`).
#: A wide candidate's log evidence creeps up by a nat every few cycles for dozens of cycles
#: while its gamma settles, which changes its rank by far less than the committee window; the
#: cap stops such a candidate, often one the evidence then rejects, at 20 cycles. Measured
#: by ``python bench/fit_speed.py --friedman 300x10 1000x10 1000x20 300x20 --draws 0 1 2`` on
#: this code and on 7945e5c (before), one after the other (bench/results/fit_speed.txt): 1,000
#: rows x 10 inputs 9.8/7.9/9.4 s -> 5.6/4.9/3.6 s, 1,000 x 20 25.0/19.5/22.2 s -> 11.9/10.1/
#: 10.4 s, 300 rows 1.1-1.4x faster; held-out MSE within 0.006 on every draw (most equal to
#: 3 digits). On the 500-row Friedman table of bench/realdata.py (20 splits) the RMSE was 1.093
#: before and 1.094 after, on the development tables within 0.2% (diabetes 54.29 -> 54.19, cpus
#: 0.1802 -> 0.1797, the others equal to 4 digits). A cap of 12 cycles changed the ranking on
#: Friedman #1 300 x 20 (MSE 1.27 against 1.21; an inline trial).
SEARCH_PATIENCE = 5
SEARCH_GAIN = 2.0

#: The refit (on every row after a search on a subset, on the same rows otherwise) starts where
#: the search left the network, where the precisions need only settle: it stops after this many
#: evidence cycles without a higher log evidence (a fit from a random start: 10) ...
REFIT_PATIENCE = 3
#: ... or when the log evidence rose by less than this many nats per :data:`SEARCH_ROWS` rows
#: over those cycles (a fit from a random start: 0.1 nats). The log evidence grows with the rows, and so
#: does its creep while the precisions settle: with 10^5 targets it rises by more than a nat per
#: cycle for dozens of cycles that change no prediction. Measured on Friedman #1 with 100,000
#: rows (held-out MSE on 5,000 rows, noise floor 1.0; one run, the machine half busy): a fixed
#: 1 nat took 25 cycles and 37.8 s in all, 1 nat per 2,000 rows 4 cycles and 15.2 s, MSE 1.0016
#: (6 and 3 cycles: 1.0012 and 1.0019), 68% coverage 0.677 each.
REFIT_GAIN = 1.0

#: The committee that ``committee=None`` (the default) asks of Bayesian regularisation for a
#: regression: the best networks of the model search by log model evidence, at most this many
#: (a classifier's default is one network: on the three development classification tables, 20
#: splits each, the committee raised the held-out log-loss on two, iris 0.076 -> 0.084 and
#: breast cancer 0.061 -> 0.065, and lowered it on Pima by 0.0015) ...
DEFAULT_COMMITTEE = 3
#: ... and of those, only the ones whose log model evidence is within this many nats of the
#: best (for any committee size): a rival a few nats behind is as plausible as the best, since
#: the Laplace evidence is itself an approximation; one hundreds of nats behind is not, and an
#: equal share for it spoils the average. Measured on six development tables (10 splits; an
#: inline script that refitted nothing and recombined the search's networks): averaging the top
#: three within 20 nats lowered the held-out RMSE on every table against the best network
#: alone (Friedman #1 at 500 rows 1.091 -> 1.087, ISLR Hitters 0.477 -> 0.459, Auto 2.823 ->
#: 2.788, MASS cpus 0.188 -> 0.182, Carseats and diabetes by less than 0.3%), where the top three
#: without a window made Friedman #1 worse (1.214: its third network, 4 units, was 200 nats
#: behind), and weights by evidence (Bayesian model averaging) gave almost nothing (each best
#: network took nearly all the weight).
COMMITTEE_WINDOW = 20.0

#: The shapes of a BR regressor's predictive distribution that ``noise`` names: ``"auto"``, a
#: Student-t where the training residuals show heavier tails than a Gaussian's
#: (:func:`quasinet.predictive.fit_noise_dof`), else a Gaussian; ``"gaussian"``, always a Gaussian.
NOISE_SHAPES = ("auto", "gaussian")

REGRESSION_LOSSES = ("mse", "sse")
CLASSIFICATION_LOSSES = ("auto", "binary_crossentropy", "softmax_crossentropy")


# -- settings -------------------------------------------------------------------------------------
def real_param(name, value, low, high=np.inf, *, low_open=False, high_open=False) -> float:
    """``value`` as a float in the given interval: TypeError for a non-number, ValueError outside."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    ok = np.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"{name} must lie in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}, "
                         f"got {value}")
    return v


@dataclasses.dataclass(frozen=True)
class Settings:
    """What to fit, checked: the estimators' parameters and the command line's flags both become one.

    The fields and their defaults are the estimators' (see :class:`quasinet.sklearn.QuasiNetRegressor`);
    ``hidden`` None means ``"auto"``; ``holdout`` is the share of rows held out (0: none; with
    ``early_stopping`` at least one row); ``report(iteration, loss, validation_loss)`` is called
    after every iteration of the model being fitted (None: no extra forward pass is spent on it;
    with ``report_in_search`` False, not during the BR model search);
    ``progress(line)`` receives one line of text per model fitted by the BR model search (its
    architecture, ARD, start, log evidence and time, the running total and an estimate of the
    time left).
    """

    classifier: bool = False
    hidden: Optional[Tuple[int, ...]] = None
    activation: str = "tanh"
    output_activation: str = "identity"
    loss: str = "mse"
    l2: float = 1e-4
    method: str = "auto"
    ard: Union[bool, str] = "auto"
    committee: Optional[int] = None
    restarts: Optional[int] = None
    max_iter: int = 500
    tol: Optional[float] = None
    standardize: bool = True
    early_stopping: bool = False
    holdout: float = 0.0
    n_iter_no_change: int = 10
    dtype: str = "float64"
    moderate: bool = False
    noise: str = "auto"
    report: Optional[Callable] = None
    report_in_search: bool = True
    progress: Optional[Callable] = None

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen: set once, here)
        sizes = self.hidden
        if isinstance(sizes, str):
            if sizes != "auto":
                raise TypeError(f"hidden_layer_sizes must be 'auto', an int or a sequence of ints, got {sizes!r}")
            sizes = None
        elif sizes is not None:
            if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
                sizes = (sizes,)
            if isinstance(sizes, bytes) or not hasattr(sizes, "__iter__"):
                raise TypeError(
                    f"hidden_layer_sizes must be 'auto', an int or a sequence of ints, got {type(sizes).__name__}")
            sizes = tuple(check_int("hidden_layer_sizes entries", n, 1) for n in sizes)
        put("hidden", sizes)
        acts = ACTIVATIONS + ("logistic", "linear")
        if not isinstance(self.activation, str) or self.activation not in acts:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.classifier:
            if self.loss not in CLASSIFICATION_LOSSES:
                raise ValueError("loss must be 'auto', 'binary_crossentropy' or 'softmax_crossentropy' for a "
                                 f"classifier, got {self.loss!r}")
        else:
            if self.loss not in REGRESSION_LOSSES:
                raise ValueError(f"loss must be 'mse' or 'sse' for a regressor, got {self.loss!r}")
            act = self.output_activation
            if not isinstance(act, str) or act not in acts:
                raise ValueError(f"output_activation must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
        method = "auto" if isinstance(self.method, str) and self.method.lower() == "auto" else method_name(self.method)
        put("method", method)
        if not (isinstance(self.ard, (bool, np.bool_)) or (isinstance(self.ard, str) and self.ard == "auto")):
            raise TypeError(f"ard must be a bool or 'auto', got {self.ard!r}")
        if self.committee is not None:
            put("committee", check_int("committee", self.committee, 1))
        if not isinstance(self.noise, str) or self.noise not in NOISE_SHAPES:
            raise ValueError(f"noise must be one of {', '.join(map(repr, NOISE_SHAPES))}, got {self.noise!r}")
        if self.restarts is not None:
            put("restarts", check_int("restarts", self.restarts, 0))
        if method == "BR" and self.early_stopping:
            raise ValueError("early_stopping cannot be used with method 'BR': the evidence decides when to stop")
        if (self.committee or 1) > 1 and method not in ("BR", "auto"):
            raise ValueError(f"committee > 1 needs method 'BR' (networks ranked by evidence), got {method}")
        if self.early_stopping and method != "auto" and method not in STOPPABLE_METHODS:
            raise ValueError(f"early_stopping needs a method whose callback can stop the run "
                             f"({', '.join(STOPPABLE_METHODS)}), got {method}")
        if self.tol is not None:
            put("tol", real_param("tol", self.tol, 0.0, low_open=True))
        put("l2", real_param("l2", self.l2, 0.0))
        put("max_iter", check_int("max_iter", self.max_iter, 1))
        put("holdout", real_param("validation_fraction", self.holdout, 0.0, 1.0, high_open=True))
        if self.early_stopping and self.holdout == 0.0:
            raise ValueError("early_stopping needs a validation part: validation_fraction must be > 0")
        put("n_iter_no_change", check_int("n_iter_no_change", self.n_iter_no_change, 1))
        put("dtype", check_dtype(self.dtype))
        if self.report is not None and not callable(self.report):
            raise TypeError(f"callback must be callable, got {type(self.report).__name__}")
        if self.progress is not None and not callable(self.progress):
            raise TypeError(f"progress must be callable, got {type(self.progress).__name__}")


# -- the result -----------------------------------------------------------------------------------
@dataclasses.dataclass
class FitResult:
    """A fitted model: what the estimators copy into their ``*_`` attributes and the CLI saves.

    Scaling arrays are zeros and ones where no scaling was applied. ``members`` holds
    (network, posterior covariance, beta) of each network a BR model averages (empty for other
    methods; beta is a float, or one noise precision per output of a regression with several),
    and ``member_evidence`` the (alpha, gamma, log evidence, ard) of each, in the same order
    (the first's are also ``alpha``, ``n_effective_params``, ``log_evidence`` and ``ard``); the
    ``evidence_*``, ``alpha`` ... fields are None unless BR fitted the model.
    ``classes`` is None for a regressor. ``warnings`` lists (category, message) for the caller
    to emit with its own stack level. ``interrupted``: the fit was stopped by KeyboardInterrupt
    (Ctrl-C) and the result holds the best model reached until then (see :func:`fit`).
    """

    network: Network
    method: str
    hidden: Tuple[int, ...]
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: Optional[np.ndarray]
    y_scale: Optional[np.ndarray]
    classes: Optional[np.ndarray]
    loss: str
    n_outputs: int
    n_iter: int
    loss_value: float
    loss_curve: List[float]
    members: List[Tuple[Network, np.ndarray, Union[float, np.ndarray]]] = dataclasses.field(default_factory=list)
    validation_curve: List[float] = dataclasses.field(default_factory=list)
    best_validation_loss: Optional[float] = None
    best_iteration: Optional[int] = None
    validation_loss: Optional[float] = None
    stopped_early: bool = False
    n_train: int = 0
    n_validation: int = 0
    validation_mask: Optional[np.ndarray] = None
    n_effective_params: Optional[float] = None
    alpha: Optional[np.ndarray] = None
    beta: Union[None, float, np.ndarray] = None
    log_evidence: Optional[float] = None
    log_model_evidence: Optional[float] = None
    ard: Optional[bool] = None
    feature_relevance: Optional[np.ndarray] = None
    noise_dof: Optional[np.ndarray] = None
    member_evidence: List[Tuple[np.ndarray, float, float, bool]] = dataclasses.field(default_factory=list)
    evidence_history: List[dict] = dataclasses.field(default_factory=list)
    evidence_candidates: List[tuple] = dataclasses.field(default_factory=list)
    evidence_cycles: Optional[int] = None
    best_cycle: Optional[int] = None
    message: str = ""
    interrupted: bool = False
    seconds: float = 0.0
    warnings: List[Tuple[type, str]] = dataclasses.field(default_factory=list)

    def networks(self) -> List[Network]:
        """The networks whose outputs the model averages: a committee's members, or the one."""
        return [m for m, _, _ in self.members] if len(self.members) > 1 else [self.network]

    def to_model(self, *, inputs=None, targets=None, moderate: bool = False, info=None):
        """The fitted model as a :class:`quasinet.io.Model` (what a model file holds): :func:`model_of`."""
        return model_of(self.network, self.members, x_mean=self.x_mean, x_scale=self.x_scale, y_mean=self.y_mean,
                        y_scale=self.y_scale, classes=self.classes, alpha=self.alpha, gamma=self.n_effective_params,
                        log_evidence=self.log_evidence, feature_relevance=self.feature_relevance,
                        moderate=moderate, inputs=inputs, targets=targets, method=self.method, info=info,
                        member_evidence=self.member_evidence, noise_dof=self.noise_dof)


def model_of(network: Network, members, *, x_mean, x_scale, y_mean=None, y_scale=None, classes=None, alpha=None,
             gamma=None, log_evidence=None, feature_relevance=None, moderate=False, inputs=None, targets=None,
             method=None, info=None, member_evidence=None, noise_dof=None) -> io.Model:
    """A fitted network with its scaling and (for BR) each member's posterior as a :class:`quasinet.io.Model`.

    The one place that turns a fit (a :class:`FitResult`, or an estimator's fitted attributes)
    into a model file's content. ``members`` as :attr:`FitResult.members`; a committee (several)
    needs ``member_evidence``, (alpha, gamma, log evidence, ard) of each member, and becomes the
    model's committee (``network`` is its first member). The relevance is the whole model's,
    stored with the first member; ``noise_dof`` (a regressor's, one per output) is stored with
    every member.
    """
    if len(members) > 1 and (member_evidence is None or len(member_evidence) != len(members)):
        raise ValueError(f"a committee of {len(members)} networks needs the evidence of each "
                         f"(member_evidence), got {None if member_evidence is None else len(member_evidence)}")
    if members and not member_evidence:
        member_evidence = [(alpha, gamma, log_evidence, np.size(alpha) > 1)]
    posteriors = []
    for k, ((net, cov, beta), (a, g, ev, ard)) in enumerate(zip(members, member_evidence or [])):
        posteriors.append(posterior.Posterior(
            covariance=np.array(cov, dtype=np.float64), beta=beta, alpha=np.array(a),
            group_names=evidence.parameter_groups(net, bool(ard))[1], gamma=float(g),
            log_evidence=float(ev), ard=bool(ard),
            feature_relevance=None if feature_relevance is None or k else np.array(feature_relevance),
            moderate=classes is not None and bool(moderate),
            noise_dof=None if noise_dof is None else np.array(noise_dof, dtype=np.float64)))
    labels = None if classes is None else [c.item() if isinstance(c, np.generic) else c for c in classes]
    # The first member is ``network`` itself; the others are copied like it.
    return io.Model(network.copy(), x_mean, x_scale, y_mean, y_scale, inputs=inputs, targets=targets,
                    classes=labels, posterior=posteriors[0] if posteriors else None, method=method, info=info,
                    committee=[(net.copy(), p) for (net, _, _), p in zip(members[1:], posteriors[1:])])


def result_from_model(model: io.Model) -> FitResult:
    """The :class:`FitResult` that :func:`model_of` would turn into ``model`` (a model file's content):
    the inverse, for giving an estimator back its fitted state. What a file does not hold is
    left empty (curves, history, candidates) or None (the training loss), ``n_iter`` is 0."""
    if not isinstance(model, io.Model):
        raise TypeError(f"model must be a quasinet.io.Model, got {type(model).__name__}")
    net = model.net.copy()
    n_in, n_out = net.layer_sizes[0], net.layer_sizes[-1]
    post = model.posterior
    regressor = model.classes is None
    return FitResult(
        network=net, method=model.method or "unknown", hidden=tuple(net.layer_sizes[1:-1]),
        x_mean=np.zeros(n_in) if model.x_offset is None else np.array(model.x_offset, dtype=np.float64),
        x_scale=np.ones(n_in) if model.x_scale is None else np.array(model.x_scale, dtype=np.float64),
        y_mean=None if not regressor else (np.zeros(n_out) if model.y_offset is None
                                           else np.array(model.y_offset, dtype=np.float64)),
        y_scale=None if not regressor else (np.ones(n_out) if model.y_scale is None
                                            else np.array(model.y_scale, dtype=np.float64)),
        classes=None if regressor else np.asarray(model.classes), loss=net.loss, n_outputs=n_out, n_iter=0,
        loss_value=None, loss_curve=[],
        members=[] if post is None else [(m.copy() if k else net, np.array(p.covariance, dtype=np.float64), p.beta)
                                         for k, (m, p) in enumerate(model.members)],
        member_evidence=[] if post is None else [(np.array(p.alpha, dtype=np.float64), float(p.gamma),
                                                  float(p.log_evidence), bool(p.ard)) for _, p in model.members],
        n_effective_params=None if post is None else float(post.gamma),
        alpha=None if post is None else np.array(post.alpha, dtype=np.float64),
        beta=None if post is None else post.beta,
        log_evidence=None if post is None else float(post.log_evidence),
        ard=None if post is None else bool(post.ard),
        feature_relevance=None if post is None or post.feature_relevance is None
        else np.array(post.feature_relevance),
        noise_dof=None if post is None or not regressor else post.dofs(n_out))


# -- the data -------------------------------------------------------------------------------------
def rows_of(X, y, sample_weight=None):
    """The data interface for these arrays: :class:`quasinet.dask.DaskRows` for dask arrays (the
    one point where fitting looks at the kind of data), :class:`quasinet.rows.ArrayRows` otherwise."""
    if is_dask(X, y, sample_weight):
        from . import dask  # an optional extra: imported only for dask data

        return dask.DaskRows(X, y, sample_weight)
    return ArrayRows(X, y, sample_weight)


def as_generator(random_state) -> np.random.Generator:
    """None, an int, a numpy RandomState or Generator as a Generator (an int: ``default_rng(int)``)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(int(random_state.randint(np.iinfo(np.int32).max)))
    if random_state is None or (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be None, an int, a numpy RandomState or Generator, got {random_state!r}")


def holdout_mask(n_rows: int, fraction: float, rng: np.random.Generator, labels=None) -> np.ndarray:
    """A boolean mask of about ``ceil(fraction * n_rows)`` held-out rows (at least one, and at least
    one row left), drawn at random; with ``labels`` (class indices) stratified when every class
    has at least 2 rows and both parts can hold one row of each class."""
    n_val = int(math.ceil(fraction * n_rows))
    if n_val < 1 or n_rows - n_val < 1:
        raise ValueError(f"validation_fraction {fraction} leaves no validation or no training rows out of {n_rows}")
    mask = np.zeros(n_rows, dtype=bool)
    order = rng.permutation(n_rows)
    if labels is not None:
        labels = np.asarray(labels)
        counts = np.bincount(labels)
        present = counts[counts > 0]
        if present.min() >= 2 and n_val >= present.size and n_rows - n_val >= present.size:
            # Each class gives its share of n_val rows (largest remainders first), at least one.
            share = n_val * counts / n_rows
            take = np.where(counts > 0, np.maximum(np.floor(share), 1), 0).astype(int)
            rest = n_val - take.sum()
            for c in np.argsort(-(share - np.floor(share)), kind="stable"):
                if rest <= 0:
                    break
                if counts[c] > take[c] + 1:
                    take[c] += 1
                    rest -= 1
            shuffled = labels[order]
            for c in np.flatnonzero(counts):
                mask[order[shuffled == c][: take[c]]] = True
            return mask
    mask[order[:n_val]] = True
    return mask


def _encode_targets(rows, settings: Settings):
    """(rows with encoded targets, classes or None, class index per row or None, output activation, loss)."""
    if not settings.classifier:
        return rows.with_targets(rows.Y.reshape(-1, 1) if rows.Y.ndim == 1 else rows.Y), None, None, \
            settings.output_activation, settings.loss
    classes, index = rows.classes()
    k = len(classes)
    present = rows.present_classes(index, k)
    if present < 2:
        raise ValueError(f"a classifier needs samples of at least 2 classes (with positive sample weight), "
                         f"got {present} class")
    loss = settings.loss
    if loss == "auto":
        loss = "binary_crossentropy" if k == 2 else "softmax_crossentropy"
    if loss == "binary_crossentropy":
        if k != 2:
            raise ValueError(f"loss 'binary_crossentropy' needs exactly 2 classes, got {k}; use 'softmax_crossentropy'")
        return rows.with_targets(index.astype(np.float64).reshape(-1, 1)), classes, index, "sigmoid", loss
    return rows.with_targets(rows.one_hot(index, k)), classes, index, "softmax", loss


def resolve_method(settings: Settings, n_in: int, n_out: int) -> str:
    """``method="auto"``: BR when the (widest candidate) network has at most :data:`BR_MAX_PARAMS`
    parameters and early stopping is off, else L-BFGS-B."""
    if settings.method != "auto":
        return settings.method
    if settings.early_stopping:
        return "L-BFGS-B"
    hidden = (max(AUTO_WIDTHS),) if settings.hidden is None else settings.hidden
    return "BR" if count_params([n_in, *hidden, n_out]) <= BR_MAX_PARAMS else "L-BFGS-B"


def auto_widths(n_in: int, n_out: int, n_targets: float) -> List[int]:
    """The widths of :data:`AUTO_WIDTHS` that fit the data (see there), smallest first."""
    out = []
    for h in AUTO_WIDTHS:
        if not out or count_params([n_in, h, n_out]) <= n_targets:
            out.append(h)
    return out


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(np.iinfo(np.int32).max))


# -- fitting --------------------------------------------------------------------------------------
def fit(X, y, sample_weight=None, *, settings: Settings, random_state=None) -> FitResult:
    """Fit a model to (X, y) with ``settings``: see the module docstring for the steps.

    X (N, d) and y ((N,) labels for a classifier; (N,) or (N, k) for a regressor) are NumPy
    arrays already checked by the caller (finite floats), or dask arrays (checked here, on the
    workers). ``random_state`` seeds the held-out split, the initial weights and the restarts.

    KeyboardInterrupt (Ctrl-C) during training does not lose the work done: the result holds
    the best model reached (for BR the best model of the search that finished its evidence
    fit, or its continuation where that finished, with its posterior; if none had, the network
    being fitted at its best point, without one), with ``interrupted`` True and a warning in
    ``warnings``. An interrupt before training
    starts propagates.
    """
    t0 = time.perf_counter()
    rng = as_generator(random_state)
    rows = rows_of(X, y, sample_weight)
    try:
        rows.check_weights()
        rows, classes, index, out_act, loss = _encode_targets(rows, settings)
        n_in = rows.n_features
        n_out = rows.n_outputs if classes is None or len(classes) == 2 else len(classes)
        val = None
        mask = None
        if settings.holdout > 0:
            labels = None if index is None else rows.label_vector(index)
            mask = holdout_mask(rows.n_rows, settings.holdout, rng, labels)
            train, val = rows.split(mask)
            if train.total_weight() <= 0:
                raise ValueError("the training part (after removing validation_fraction) has only zero sample weights")
            if val.total_weight() <= 0:
                raise ValueError("the validation part (validation_fraction) has only zero sample weights")
            val = val.merged()
        else:
            train = rows
        train = train.merged()

        if settings.standardize:
            x_mean, x_scale = train.standardisation("X")
        else:
            x_mean, x_scale = np.zeros(n_in), np.ones(n_in)
        y_mean = y_scale = None
        if not settings.classifier:
            if settings.standardize and out_act in ("identity", "linear"):
                y_mean, y_scale = train.standardisation("Y")
            else:
                y_mean, y_scale = np.zeros(n_out), np.ones(n_out)
        train = train.scaled(x_mean, x_scale, y_mean, y_scale)
        if val is not None:
            val = val.scaled(x_mean, x_scale, y_mean, y_scale)

        method = resolve_method(settings, n_in, n_out)
        if (settings.committee or 1) > 1 and method != "BR":
            raise ValueError(f"committee={settings.committee} needs Bayesian regularisation, but method 'auto' chose "
                             f"{method} here (early_stopping, or more than {BR_MAX_PARAMS} parameters)")
        common = dict(method=method, x_mean=x_mean, x_scale=x_scale, y_mean=y_mean, y_scale=y_scale,
                      classes=classes, loss=loss, n_outputs=n_out, n_train=train.n_rows,
                      n_validation=0 if val is None else val.n_rows, validation_mask=mask)
        # The core runs its own threads over the rows (and its BLAS on one thread each); what
        # NumPy's BLAS does here is factorise P x P matrices (P at most a few thousand), where a
        # second BLAS thread gains little on a quiet machine and loses 10x and more on a busy one
        # (measured on 2 cores at load 9: dpotrf of 200 x 200 took 2.0 ms on one thread, 27 ms on
        # two), so the whole fit runs NumPy's BLAS on one thread.
        with _one_blas_thread():
            if method == "BR":
                result = _fit_bayes(settings, train, out_act, loss, rng, common)
            else:
                result = _fit_trainer(settings, method, train, val, out_act, loss, rng, common)
        result.feature_relevance = _relevance(result, train, rng)
        if result.members and not settings.classifier:
            result.noise_dof = _noise_dof(result, train, rng, settings)
        if val is not None:
            result.validation_loss = _validation_cost(result, val)
    finally:
        rows.close()
    result.seconds = time.perf_counter() - t0
    return result


def _validation_cost(result: FitResult, val) -> float:
    """The data term alone (the penalty says nothing about held-out data) of the model's prediction
    on the held-out part: the network's cost, or for a committee that of its mean prediction (a
    classifier's: of its averaged probabilities), with the loss's own scaling."""
    nets = result.networks()
    if len(nets) == 1:
        twin = Network(**{**nets[0].spec(), "l2": 0.0})  # the cost without the penalty
        twin.set_params(nets[0].params)
        return float(twin.cost(val.X, val.Y, val.w))
    X, Y, w = (np.asarray(a) if a is not None else None for a in (val.X, val.Y, val.w))
    out = posterior.member_mean(m.forward(X) for m in nets)
    loss = nets[0].loss
    if loss in REGRESSION_LOSSES:
        per = 0.5 * np.sum((Y - out) ** 2, axis=1)
    else:
        p = class_probabilities(out)
        y = class_probabilities(Y)
        per = -np.sum(y * np.log(np.maximum(p, np.finfo(np.float64).tiny)), axis=1)
    weights = np.ones(per.shape[0]) if w is None else w
    scale = 1.0 if loss == "sse" else 1.0 / weights.sum()
    return float(scale * np.sum(weights * per))


_INTERRUPTED = ("interrupted", "the fit was interrupted (KeyboardInterrupt); the model is the best one reached")


class FitInterrupted(KeyboardInterrupt):
    """KeyboardInterrupt during :func:`search`, carrying the fits finished until then (best first)
    and the network being fitted, at its best point (or None)."""

    def __init__(self, fits, current):
        super().__init__("interrupted")
        self.fits, self.current = fits, current


def _relevance(result: FitResult, train, rng) -> Optional[np.ndarray]:
    """Each input's share of what the inputs do to the predictions
    (:func:`quasinet.posterior.input_relevance`: the mean squared input derivative times the
    input's variance, from the core's input Jacobian) over the training rows, or a random
    subset of :data:`SEARCH_ROWS` of them; for a committee, of its averaged prediction."""
    X, _, w = _sample(train, rng, SEARCH_ROWS)
    return posterior.input_relevance(result.networks(), X, w)


def _sample(train, rng, limit: int):
    """(X, Y, w) of the training rows, or of a random subset of ``limit`` of them, as NumPy arrays
    (Dask rows computed: at most ``limit`` of them)."""
    if train.n_rows > limit:
        train = train.subset(np.sort(rng.choice(train.n_rows, limit, replace=False)))
    arrays = (train.X, train.Y, train.w)
    if is_dask(train.X):
        arrays = tuple(np.asarray(a.compute()) if a is not None else None for a in arrays)
    return arrays


def _noise_dof(result: FitResult, train, rng, settings: Settings) -> np.ndarray:
    """Each output's Student-t degrees of freedom (``inf``: Gaussian) of a BR regressor's
    predictive distribution (:func:`quasinet.predictive.fit_noise_dof`), from the training rows
    or a random subset of :data:`quasinet.predictive.DOF_ROWS` of them; all ``inf`` when
    ``settings.noise`` is ``"gaussian"`` or the fit was interrupted."""
    if settings.noise == "gaussian" or result.interrupted:
        # An interrupted fit's members may have been fitted on a subset of the rows, whose
        # leverage correction does not hold for the others: a Gaussian, the safe shape.
        return np.full(result.n_outputs, np.inf)
    return predictive.fit_noise_dof(result.members, *_sample(train, rng, predictive.DOF_ROWS))


def _reporter(settings: Settings, train_fg):
    """EarlyStopping's on_iteration: the training loss (one extra forward pass) to ``settings.report``."""
    if settings.report is None:
        return None

    def report(iteration, params, val):
        settings.report(iteration, float(train_fg.cost(params)), val)

    return report


def _fit_trainer(settings, method, train, val, out_act, loss, rng, common) -> FitResult:
    hidden = DEFAULT_HIDDEN if settings.hidden is None else settings.hidden
    net = Network([train.n_features, *hidden, common["n_outputs"]], activation=settings.activation,
                  output_activation=out_act, loss=loss, l2=settings.l2, seed=_seed(rng), dtype=settings.dtype)
    monitor = None
    val_fg = None
    if settings.early_stopping or settings.report is not None or val is not None:
        # The validation loss is the data term alone: the penalty says nothing about held-out data.
        if val is not None:
            val_fg = Network(**{**net.spec(), "l2": 0.0}).bind(val.X, val.Y, val.w)
        report = _reporter(settings, net.bind(train.X, train.Y, train.w)) if settings.report is not None else None
        monitor = EarlyStopping(val_fg.cost if val_fg is not None else None,
                                patience=settings.n_iter_no_change if settings.early_stopping else None,
                                on_iteration=report)
    try:
        trainer = Trainer(net, method=method, maxiter=settings.max_iter, tol=settings.tol, callback=monitor,
                          restarts=settings.restarts or 0, seed=_seed(rng))
        x0 = net.get_params()
        try:
            res = trainer.train(train.X, train.Y, sample_weight=train.w)
        except KeyboardInterrupt:
            if np.array_equal(net.params, x0):
                raise  # nothing learned yet: no model to keep
            # The Trainer left the network at the lowest cost reached (with early stopping the
            # best validation point is restored below).
            if settings.early_stopping and monitor.best_params is not None:
                net.set_params(monitor.best_params)
            return FitResult(
                network=net, hidden=tuple(hidden), n_iter=max(len(monitor.curve) if monitor else 0, 1),
                loss_value=float(net.cost(train.X, train.Y, train.w)), loss_curve=[],
                validation_curve=list(monitor.curve) if monitor is not None and val_fg is not None else [],
                best_validation_loss=monitor.best_cost if settings.early_stopping else None,
                interrupted=True, message="interrupted", warnings=[_INTERRUPTED], **common)
        stopped = monitor is not None and monitor.stopped
        if settings.early_stopping and monitor.best_params is not None:
            net.set_params(monitor.best_params)
        warnings = []
        limit_hit = res.nfev >= settings.max_iter if method == "TNC" else res.nit >= settings.max_iter
        if not res.success and not stopped and limit_hit:
            warnings.append(("convergence", f"{method} stopped on its iteration limit (max_iter={settings.max_iter}) "
                                            "before converging; raise max_iter or tol"))
        return FitResult(
            network=net, hidden=tuple(hidden), n_iter=max(int(res.nit), 1),
            loss_value=float(net.cost(train.X, train.Y, train.w)), loss_curve=list(trainer.J),
            validation_curve=list(monitor.curve) if monitor is not None and val_fg is not None else [],
            best_validation_loss=monitor.best_cost if settings.early_stopping else None,
            best_iteration=monitor.best_iteration if settings.early_stopping else None, stopped_early=stopped, message=str(res.message), warnings=warnings, **common)
    finally:
        if val_fg is not None and hasattr(val_fg, "close"):
            val_fg.close()


def _fit_bayes(settings, train, out_act, loss, rng, common) -> FitResult:
    """Bayesian regularisation: candidates and restarts ranked by log model evidence."""
    n_in, n_out = train.n_features, common["n_outputs"]
    full = train
    if train.n_rows > SEARCH_ROWS:
        train = train.subset(np.sort(rng.choice(train.n_rows, SEARCH_ROWS, replace=False)))
    n_targets = train.total_weight() * n_out
    candidates = ([(h,) for h in auto_widths(n_in, n_out, n_targets)] if settings.hidden is None
                  else [settings.hidden])
    # ard="auto": ARD for the networks with hidden layers, and the linear model both with one
    # precision for all (Bayesian ridge regression) and with ARD.
    ard = True if isinstance(settings.ard, str) else bool(settings.ard)
    linear = () if settings.hidden is not None else ((False, True) if isinstance(settings.ard, str) else (ard,))

    def make_net(hidden):
        return Network([n_in, *hidden, n_out], activation=settings.activation, output_activation=out_act, loss=loss,
                       seed=_seed(rng), dtype=settings.dtype)

    def callback_for(net):
        # report() follows the training loss (the data term) of the candidate being fitted.
        if settings.report is None or not settings.report_in_search:
            return None
        fg = Network(**{**net.spec(), "l2": 0.0}).bind(train.X, train.Y, train.w)
        return EarlyStopping(on_iteration=_reporter(settings, fg))

    warnings = []
    try:
        # Each candidate's evidence fit may find the noise unidentified; only the chosen model's
        # verdict matters, and it is reported once below.
        with _quiet(evidence.NoiseNotIdentifiedWarning):
            fits = search(make_net, candidates, train.X, train.Y, train.w, restarts=BR_RESTARTS if settings.restarts is None
                      else settings.restarts, ard=ard, rng=rng,
                          maxiter=min(settings.max_iter, SEARCH_CYCLES) if settings.tol is None else settings.max_iter,
                          tol=SEARCH_GAIN if settings.tol is None else settings.tol,
                          patience=SEARCH_PATIENCE if settings.tol is None else None,
                          callback_for=callback_for, linear=linear, threads=1 if is_dask(train.X) else None,
                          progress=settings.progress)
    except FitInterrupted as stop:
        if not stop.fits:
            if stop.current is None:
                raise KeyboardInterrupt from None
            net = stop.current
            return FitResult(network=net, hidden=tuple(net.layer_sizes[1:-1]), n_iter=1,
                             loss_value=float(net.cost(train.X, train.Y, train.w)), loss_curve=[],
                             interrupted=True, message="interrupted", warnings=[_INTERRUPTED], **common)
        fits = stop.fits
        warnings.append(_INTERRUPTED)
    searched = fits
    scale = 1.0  # the factor on the gaps of evidence that fits holds (computed on a subset: its rows' share)
    if full is not train:
        scale = max(full.total_weight() / train.total_weight(), 1.0)
        if _INTERRUPTED not in warnings:
            try:
                with _quiet(evidence.NoiseNotIdentifiedWarning):
                    fits = _refit_all_rows(fits, full, settings, rng, train.total_weight())
                scale = 1.0
            except KeyboardInterrupt:
                warnings.append(_INTERRUPTED)  # the subset's models stand, and their committee is the scaled window's
        train = full
    elif settings.tol is None and _INTERRUPTED not in warnings:
        # The search stopped its fits early (SEARCH_CYCLES): the members' fits continue here. The
        # log evidence is not monotone in the cycles (a lower M can come with a larger log det A),
        # so a member keeps the better of its search fit and its continuation.
        members, kept = committee_of(fits, settings), []
        try:
            with _quiet(evidence.NoiseNotIdentifiedWarning):
                for f in members:
                    kept.append(max(f, _refit([f], train, settings)[0], key=lambda g: g[0]))
        except KeyboardInterrupt:
            warnings.append(_INTERRUPTED)  # the continuations that finished stand, the others' search fits
        fits = sorted(kept + members[len(kept):], key=lambda g: -g[0])
    ev, net, res = fits[0]
    committee = committee_of(fits, settings, scale=scale)
    if getattr(res, "noise_unidentified", False):
        warnings.append(("noise", res.noise_message))
    # Status 1 is any cycle limit, SEARCH_CYCLES's too: a search fit kept over its continuation (or
    # standing after an interrupt) stopped there on purpose, not on max_iter.
    if res.status == 1 and res.cycles >= settings.max_iter:
        warnings.append(("convergence", f"BR stopped on its cycle limit (max_iter={settings.max_iter}) before the "
                                        "evidence settled; raise max_iter"))
    message = str(res.message)
    if res.status == 1 and res.cycles < settings.max_iter:
        message = f"the model search's limit of {res.cycles} evidence cycles was reached (not max_iter)"
    alpha = np.array(res.alpha)
    return FitResult(
        network=net, hidden=tuple(net.layer_sizes[1:-1]), n_iter=max(int(res.nit), 1),
        loss_value=float(net.cost(train.X, train.Y, train.w)), loss_curve=list(res.J),
        # C order, as a model file reads it back: the same products, bitwise the same predictions.
        members=[(m, np.ascontiguousarray(r.covariance), r.beta) for _, m, r in committee],
        member_evidence=[(np.array(r.alpha), float(r.gamma), float(r.log_evidence), bool(r.ard))
                         for _, _, r in committee],
        n_effective_params=float(res.gamma), alpha=alpha, beta=res.beta,
        log_evidence=float(res.log_evidence), log_model_evidence=float(ev), ard=bool(res.ard),
        evidence_history=list(res.history),
        # The search's candidates (on the subset, when it ran on one), as it ranked them.
        evidence_candidates=[(tuple(m.layer_sizes[1:-1]), bool(r.ard), e) for e, m, r in searched],
        evidence_cycles=int(res.cycles), best_cycle=int(res.best_cycle), message=message,
        interrupted=_INTERRUPTED in warnings, warnings=warnings, **common)


@contextlib.contextmanager
def _quiet(category):
    """Ignore warnings of ``category`` for the duration (the filter is process-wide, so it holds on
    the threads that run the starts too)."""
    import warnings as warning_filters  # fitting's own "warnings" are the result's list

    with warning_filters.catch_warnings():
        warning_filters.filterwarnings("ignore", category=category)
        yield


def _refit_all_rows(fits, rows, settings: Settings, rng, searched_weight: float):
    """The subset search's models refitted on every row (:func:`_refit`), best first.

    A committee refits its members: those of :func:`committee_of` whose gap to the best, scaled
    from the subset's rows to all of them (a log evidence is a sum over the rows), is within
    :data:`COMMITTEE_WINDOW` nats, so that a rival the refit would drop is not refitted. One
    model: the subset's best, and its strongest wider rival (the best fit of more hidden units,
    when the search tried one), since 2,000 rows' evidence undervalues width that more rows
    support; both take :data:`DUEL_CYCLES` evidence cycles on up to :data:`DUEL_ROWS` of the
    rows, and the higher log model evidence there wins and is refitted on every row."""
    members = committee_of(fits, settings, scale=max(rows.total_weight() / searched_weight, 1.0))
    if len(members) > 1:
        return _refit(members, rows, settings)
    best = fits[0]
    width = sum(best[1].layer_sizes[1:-1])
    wider = [f for f in fits if sum(f[1].layer_sizes[1:-1]) > width]
    if not wider:
        return _refit(fits[:1], rows, settings)
    duel = rows if rows.n_rows <= DUEL_ROWS else rows.subset(np.sort(rng.choice(rows.n_rows, DUEL_ROWS,
                                                                                  replace=False)))
    pair = _refit([best, wider[0]], duel, settings, cycles=DUEL_CYCLES)
    return _refit(pair[:1], rows, settings)


def committee_of(fits, settings: Settings, scale: float = 1.0):
    """The fits (log model evidence, network, result), best first, that a committee averages:
    at most ``settings.committee`` (None: :data:`DEFAULT_COMMITTEE`, a classifier 1), each within
    :data:`COMMITTEE_WINDOW` nats of the best after multiplying the gaps by ``scale``."""
    if settings.committee is not None:
        size = settings.committee
    else:
        size = 1 if settings.classifier else DEFAULT_COMMITTEE
    best = fits[0][0]
    return [f for f in fits[:size] if (best - f[0]) * scale <= COMMITTEE_WINDOW]


def _refit(fits, rows, settings: Settings, cycles: Optional[int] = None):
    """Each (log evidence, network, result) of the search refitted by BR on ``rows`` (every row
    after a search on a subset, else the search's own), starting from its weights and
    precisions; the same kind of list, best first."""
    n_targets = rows.total_weight() * (fits[0][1].layer_sizes[-1])
    out = []
    for _, net, res in fits:
        member = net.copy()
        # A warm start from the subset's optimum: the first cycle needs no more steps than the later ones.
        options = {"ard": bool(res.ard), "alpha0": np.array(res.alpha, dtype=float),
                   "inner_maxiter": (evidence.INNER_MAXITER[1], evidence.INNER_MAXITER[1]), "patience": REFIT_PATIENCE}
        if net.loss not in ("binary_crossentropy", "softmax_crossentropy"):
            options["beta0"] = res.beta
        tol = REFIT_GAIN * max(1.0, rows.n_rows / SEARCH_ROWS) if settings.tol is None else settings.tol
        new = Trainer(member, method="BR", maxiter=cycles or settings.max_iter, tol=tol, options=options).train(
            rows.X, rows.Y, sample_weight=rows.w)
        new.log_model_evidence = evidence.model_log_evidence(member, new, bool(res.ard), n_targets)
        new.ard = bool(res.ard)
        out.append((new.log_model_evidence, member, new))
    out.sort(key=lambda f: -f[0])
    return out


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = [0, None]  # fits inside _one_blas_thread, and the threadpoolctl limit they share


@contextlib.contextmanager
def _one_blas_thread():
    """A context in which every BLAS library of the process runs one thread (threadpoolctl).

    The limit is process-wide, so fits that overlap in several threads share one: the first in
    sets it, the last out restores the libraries' own thread counts (nested contexts, such as
    :func:`search` inside :func:`fit`, count as users too)."""
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            _BLAS_USERS[1] = threadpool_limits(1, user_api="blas")
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0:
                _BLAS_USERS[1].restore_original_limits()
                _BLAS_USERS[1] = None


def search(make_net: Callable, candidates: Sequence, X, Y, sample_weight=None, *, restarts: int = 2, ard=True,
           maxiter: int = evidence.CYCLES, tol: Optional[float] = None, patience: Optional[int] = None, rng=None,
           callback_for: Optional[Callable] = None, stop_early: bool = True, threads: Optional[int] = None,
           linear=False, progress: Optional[Callable] = None) -> List[Tuple[float, Network, object]]:
    """Bayesian regularisation of several architectures, each from ``restarts + 1`` starts.

    ``make_net(hidden) -> Network`` builds an initialised network for one candidate hidden
    layout; the candidates are tried in order and, with ``stop_early``, the search stops at the
    first candidate whose best log model evidence is below the previous one's. ``ard`` is True,
    False or ``"auto"``: both, the whole search once for each (one alpha for all first). With
    ``linear`` the network without hidden layer (``make_net(())``) is fitted too, with the
    ``ard`` setting(s) (``linear=True``) or with each setting of a sequence of bools, from one
    start each (at fixed alpha, beta its objective has one minimum) and outside the search: it
    competes with every candidate but does not stop the search (a linear model can beat one or
    two hidden units on data that need many). The starts of one candidate are independent and
    run on up to ``threads`` threads (default: quasinet's thread count; the core and LAPACK
    release the GIL); without callbacks only, so that a callback is never called from two
    threads. Their results do not depend on the thread count. ``callback_for(net)``, if given,
    returns the Trainer callback for that candidate (or None). ``maxiter``, ``tol`` and
    ``patience`` are each evidence fit's cycle limit, least rise of the log evidence and the
    cycles it is measured over (None: :data:`quasinet.evidence.PATIENCE`). Returns every fitted
    ``(log_model_evidence, network, result)``, highest first
    (:func:`quasinet.evidence.model_log_evidence`; also set on each result as
    ``log_model_evidence``, with ``ard`` the setting it was fitted with). ``progress(line)``, if
    given, receives a line of text after each candidate's starts: the model, its best log
    evidence, its time, the time so far and at most how long the rest can take (the search may
    stop earlier). A KeyboardInterrupt is raised again as :class:`FitInterrupted` carrying the
    finished fits and the network being fitted.
    """
    from . import get_num_threads

    if isinstance(ard, str) and ard == "auto":
        settings = (False, True)
    elif isinstance(ard, (bool, np.bool_)):
        settings = (bool(ard),)
    else:
        raise TypeError(f"ard must be a bool or 'auto', got {ard!r}")
    if isinstance(linear, (bool, np.bool_)):
        linear_settings = settings if linear else ()
    else:
        linear_settings = tuple(linear)
        if not all(isinstance(a, (bool, np.bool_)) for a in linear_settings):
            raise TypeError(f"linear must be a bool or a sequence of bools, got {linear!r}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n_rows = float(np.sum(sample_weight)) if sample_weight is not None else float(np.shape(X)[0])
    n_targets = n_rows * (np.shape(Y)[1] if np.ndim(Y) > 1 else 1)
    fits: List[Tuple[float, Network, object]] = []
    planned = [((), bool(a), 0) for a in linear_settings] + [
        (tuple(h), a, restarts) for a in settings for h in candidates]
    done = {"starts": 0, "models": 0}
    t0 = time.perf_counter()
    current: List[Network] = []

    def tell(hidden, setting, runs, seconds):
        done["models"] += 1
        done["starts"] += len(runs)
        if progress is None:
            return
        elapsed = time.perf_counter() - t0
        left = sum(r + 1 for _, _, r in planned[done["models"]:])
        per_start = elapsed / max(done["starts"], 1)
        name = "-".join(str(n) for n in (np.shape(X)[1], *hidden, np.shape(Y)[1] if np.ndim(Y) > 1 else 1))
        best = max(e for e, _, _ in runs)
        progress(f"model {done['models']}/{len(planned)}: {name}{' ARD' if setting else ''}, "
                 f"{len(runs)} start{'s' if len(runs) > 1 else ''}, log evidence {best:.4g}, {seconds:.1f} s; "
                 f"total {elapsed:.1f} s" + (f", about {left * per_start:.0f} s left at most" if left else ""))

    def fit_one(hidden, setting, n_restarts):
        """Every start of one candidate: [(log model evidence, network, result)]."""
        net = make_net(hidden)
        callback = callback_for(net) if callback_for is not None else None
        starts = [net.get_params()]
        for _ in range(n_restarts):  # drawn in order, before any run: the same starts on any thread count
            net.initialize(rng)
            starts.append(net.get_params())

        t_start = time.perf_counter()

        def run(x0):
            member = net.copy()
            member.set_params(x0)
            current.append((member, x0))
            options = {"ard": setting} if patience is None else {"ard": setting, "patience": patience}
            trainer = Trainer(member, method="BR", maxiter=maxiter, tol=tol, callback=callback, options=options)
            return member, trainer.train(X, Y, sample_weight=sample_weight)

        n_threads = 1 if callback is not None else min(len(starts), threads or get_num_threads())
        if n_threads > 1:
            # The starts are the parallelism: LAPACK's own BLAS threads inside each would
            # oversubscribe the cores, and a busy-waiting BLAS pool then stalls the fit (measured
            # on 2 cores: a 300-row default fit took 79 s instead of 2.5 s when scikit-learn had
            # been imported before quasinet).
            with _one_blas_thread(), ThreadPoolExecutor(n_threads) as pool:
                runs = list(pool.map(run, starts))
        else:
            runs = [run(x0) for x0 in starts]
        out = []
        for member, res in runs:
            res.log_model_evidence = evidence.model_log_evidence(member, res, setting, n_targets)
            res.ard = setting
            out.append((res.log_model_evidence, member, res))
        return out, time.perf_counter() - t_start

    try:
        for setting in linear_settings:
            runs, seconds = fit_one((), bool(setting), 0)
            fits.extend(runs)
            tell((), setting, runs, seconds)  # after the fits are kept: an interrupt now loses nothing
        for setting in settings:
            previous = -np.inf
            for hidden in candidates:
                runs, seconds = fit_one(tuple(hidden), setting, restarts)
                fits.extend(runs)
                tell(tuple(hidden), setting, runs, seconds)
                best_here = max(e for e, _, _ in runs)
                if stop_early and best_here < previous:
                    done["models"] += len([c for c in candidates[candidates.index(hidden) + 1:]])
                    break
                previous = max(previous, best_here)
    except KeyboardInterrupt:
        fits.sort(key=lambda f: -f[0])
        # The network being fitted counts only if the interrupt came after it moved from its start.
        moved = [m for m, x0 in current if not np.array_equal(m.params, x0)]
        raise FitInterrupted(fits, moved[-1] if moved else None) from None
    fits.sort(key=lambda f: -f[0])
    return fits
