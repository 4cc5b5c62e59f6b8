"""Full-batch training: the C++ cost and gradient handed to :func:`scipy.optimize.minimize`."""

from __future__ import annotations

import numbers
from typing import Callable, List, Optional

import numpy as np
from scipy import optimize

from . import evidence, lm
from .network import check_gauss_newton_size

#: The Trainer's methods: SciPy's gradient-based :func:`scipy.optimize.minimize` methods, and
#: ``LM`` (Levenberg-Marquardt, :mod:`quasinet.lm`).
METHODS = ("BFGS", "L-BFGS-B", "CG", "Newton-CG", "TNC", "SLSQP", "trust-ncg", "trust-krylov", "trust-constr", "LM",
           "BR")
#: ``BR`` is Bayesian regularisation (:mod:`quasinet.evidence`).
#: The SciPy methods that take Hessian-vector products: the Trainer gives them the core's exact ones.
HESSP_METHODS = ("Newton-CG", "trust-ncg", "trust-krylov", "trust-constr")
#: The methods that form the (P, P) Gauss-Newton matrix (at most GAUSS_NEWTON_MAX_PARAMS parameters).
GAUSS_NEWTON_METHODS = ("LM", "BR")
#: The methods whose callback may raise StopIteration to end the run (SciPy then reports status
#: 99); TNC's callback cannot stop it.
STOPPABLE_METHODS = tuple(m for m in METHODS if m != "TNC")


def check_int(name: str, value, low: int) -> int:
    """``value`` as an int >= ``low``: TypeError for a non-integer (bools included), else ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def method_name(method) -> str:
    """The spelling in :data:`METHODS` of ``method`` (matched case-insensitively); ValueError if unsupported."""
    if isinstance(method, str):
        for m in METHODS:
            if m.upper() == method.upper():
                return m
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _test_cost(test, p) -> float:
    """The test cost at p; inf when the test data overflow float64 there (training goes on)."""
    try:
        return float(test.cost(p))
    except FloatingPointError:
        return float("inf")


class _Run:
    """One optimisation from one starting point: the objective SciPy sees, and its history."""

    def __init__(self, fg, test, callback):
        self.fg, self.test, self.callback = fg, test, callback
        self.J: List[float] = []
        self.testJ: List[float] = []
        self.best_f = np.inf
        self.best_x: Optional[np.ndarray] = None
        self._recent: list = []  # (x, f) of the last few evaluations

    def _evaluate(self, call, p):
        # The core never returns a non-finite cost or gradient: it raises FloatingPointError
        # naming what overflowed, which gains here the iteration and what the network keeps.
        try:
            return call(p)
        except FloatingPointError as exc:
            raise FloatingPointError(
                f"the cost or its gradient became non-finite during iteration {len(self.J) + 1}; "
                f"the network keeps the parameters of the lowest finite cost evaluated ({exc})"
            ) from exc

    def _record(self, p, f):
        if f < self.best_f:
            self.best_f, self.best_x = f, np.array(p, dtype=float, copy=True)
        self._recent.append((np.array(p, dtype=float, copy=True), f))
        del self._recent[:-4]

    def fun(self, p):
        f, g = self._evaluate(self.fg, p)
        self._record(p, f)
        return f, g

    def fun_gn(self, p):
        # Not recorded: LM judges and reports costs from fg.cost (trial_cost), whose row blocks
        # differ from this pass's, so the best point and its cost come from one routine.
        return self._evaluate(self.fg.gauss_newton, p)

    def hessp(self, p, v):
        return self._evaluate(lambda q: self.fg.hessp(q, v), p)

    def trial_cost(self, p):
        """A trial step's cost: inf when it overflows (Levenberg-Marquardt then rejects the step)."""
        try:
            f = self.fg.cost(p)
        except FloatingPointError:
            return np.inf
        self._record(p, f)
        return f

    def iteration(self, xk, *_):
        # The optimiser has usually just evaluated xk; reuse that cost rather than recompute it.
        f = next((f for x, f in reversed(self._recent) if np.array_equal(x, xk)), None)
        if f is None:
            f = self.fg.cost(xk)
        self.J.append(float(f))
        if self.test is not None:
            self.testJ.append(_test_cost(self.test, xk))
        if self.callback is not None:
            self.callback(np.array(xk, copy=True))


class Trainer:
    """Train a :class:`~quasinet.Network` with a full-batch optimiser from SciPy.

    Parameters
    ----------
    net : Network
        Trained in place: after :meth:`train` it holds the best parameters found.
    method : str
        A gradient-based method of :func:`scipy.optimize.minimize`: ``BFGS``, ``L-BFGS-B``, ``CG``,
        ``TNC``, ``SLSQP``, or one that uses Hessian-vector products, which the Trainer gives
        exactly (the core's R-operator, :meth:`~quasinet.Network.hessp`): ``Newton-CG``,
        ``trust-ncg``, ``trust-krylov``, ``trust-constr``. Or ``LM``: Levenberg-Marquardt with
        MATLAB ``trainlm``'s semantics on the core's Gauss-Newton matrix (:mod:`quasinet.lm`;
        every loss; needs P <= :data:`~quasinet.network.GAUSS_NEWTON_MAX_PARAMS`, else
        ValueError at once). Or ``BR``: Bayesian regularisation (:mod:`quasinet.evidence`,
        MATLAB's ``trainbr`` in MacKay's nested form): the network's ``l2`` is replaced by
        prior precisions learned from the data, restarts are ranked by log evidence, and the
        result carries ``gamma``, ``alpha``, ``beta``, ``log_evidence``, ``covariance`` (the
        posterior A^-1) and ``history`` (per cycle); ``J`` holds the objective
        beta E_D + sum alpha E_W after every Levenberg-Marquardt step.
    maxiter : int
        Iteration limit per start (for TNC, which counts no iterations, the limit on cost
        evaluations; for LM, on accepted steps; for BR, on evidence cycles).
    tol : float or None
        Passed to ``minimize``; for ``LM`` the default of its ``min_grad`` option; for ``BR``
        the rise of the log evidence over ``patience`` cycles below which the cycles stop
        (default 0.1).
    callback : callable or None
        Called as ``callback(params)`` after every iteration.
    restarts : int
        Further random starts after the first (which starts from the network's current
        parameters); the best run's parameters are kept.
    target_cost : float or None
        Stop restarting as soon as a run ends with a cost at or below this.
    seed : None, int or numpy.random.Generator
        Seeds the restarts' initialisations.
    options : dict or None
        Extra options for ``minimize``; for ``LM`` its options ``mu`` (1e-3), ``mu_dec`` (0.1),
        ``mu_inc`` (10), ``mu_max`` (1e10), ``min_grad`` (1e-7), ``goal`` (0) and ``ftol`` (0,
        off); for ``BR`` ``ard`` (False: one precision for all parameters; True: one per input,
        per layer's biases and per later layer's weights), ``alpha0`` (1.0, or one per group),
        ``beta0`` (None: from the starting errors; a number, or one per output), ``noise``
        (``"per-output"``: one noise precision per output of a regression, the default;
        ``"shared"``: one for all), ``patience`` (10 cycles) and ``inner_maxiter``
        (Levenberg-Marquardt steps in the first and in each later cycle, (100, 10)); all
        checked at once.

    Attributes
    ----------
    J : list of float
        Training cost after each iteration of the best run (the notebook's name).
    testJ : list of float
        Test cost after each iteration of the best run, when test data were given.
    runs : list of OptimizeResult
        Every run's result, each with ``J`` and ``testJ`` attached, in the order made.
    result : OptimizeResult
        The best run's result.
    """

    def __init__(
        self,
        net,
        method: str = "BFGS",
        maxiter: int = 200,
        tol: Optional[float] = None,
        callback: Optional[Callable] = None,
        restarts: int = 0,
        target_cost: Optional[float] = None,
        seed=None,
        options: Optional[dict] = None,
    ):
        method = method_name(method)
        maxiter, restarts = check_int("maxiter", maxiter, 1), check_int("restarts", restarts, 0)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        self.net = net
        self.method = method
        self.maxiter = maxiter
        self.tol = tol
        self.callback = callback
        self.restarts = restarts
        self.target_cost = target_cost
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.options = dict(options or {})
        if method in GAUSS_NEWTON_METHODS:
            check_gauss_newton_size(net.n_params)
        if method == "LM":
            lm.check_options(self.options)
        if method == "BR":
            evidence.check_options(self.options)
        self.J: List[float] = []
        self.testJ: List[float] = []
        self.runs: List[optimize.OptimizeResult] = []
        self.result: Optional[optimize.OptimizeResult] = None

    def _options(self) -> dict:
        opts = {"maxfun": self.maxiter} if self.method == "TNC" else {"maxiter": self.maxiter}
        opts.update(self.options)
        return opts

    def train(self, X, y, X_test=None, y_test=None, sample_weight=None) -> optimize.OptimizeResult:
        """Minimise the network's cost on (X, y); record costs per iteration; return SciPy's result.

        The network is left with the parameters of the lowest cost seen. If the cost or gradient
        becomes non-finite (the core's :class:`FloatingPointError`), raises
        :class:`FloatingPointError` naming the iteration and what overflowed, with the network at
        the best finite point reached. A test cost that overflows is recorded as inf in ``testJ``.
        On ``KeyboardInterrupt`` the network also keeps the best point seen before the exception
        propagates.

        X, y, sample_weight (and the test data) may be dask arrays: every evaluation then runs
        on the current Dask scheduler over the row partitions (see :mod:`quasinet.dask`); an
        evaluation that fails on the cluster raises RuntimeError with the network at the best
        point reached.
        """
        if (X_test is None) != (y_test is None):
            raise ValueError("give both X_test and y_test, or neither")
        if self.method == "BR":
            strategy = _Bayes(self, *evidence.bind_data(self.net, X, y, sample_weight))
        else:
            strategy = _Minimize(self, self.net.bind(X, y, sample_weight))
        test = self.net.bind(X_test, y_test) if X_test is not None else None
        return self._restarts(strategy, test)

    def train_bound(self, fg, test=None) -> optimize.OptimizeResult:
        """:meth:`train` on an objective already bound: ``fg(p) -> (cost, grad)`` with ``fg.cost``, and
        ``fg.hessp`` / ``fg.gauss_newton`` for the methods that use them (a core Bound or a
        :class:`quasinet.dask.DaskBound`), and ``test`` an optional bound test objective. Not for BR,
        which binds its own data term."""
        if self.method == "BR":
            raise ValueError("train_bound does not take method 'BR': use train(X, y)")
        return self._restarts(_Minimize(self, fg), test)

    def _restarts(self, strategy, test) -> optimize.OptimizeResult:
        """The one restart loop: a run from each start by the method's strategy; the best run is kept.

        On any exception (FloatingPointError, KeyboardInterrupt, a callback's error) the network
        keeps the best point reached, in a finished run or in the one interrupted, and the
        exception propagates.
        """
        self.runs = []
        best = None
        for start in range(self.restarts + 1):
            if start > 0:
                self.net.initialize(self.rng)
            try:
                res = strategy.run(self.net.get_params(), test)
            except BaseException:
                x = strategy.best_point(self.runs)
                if x is not None:
                    self.net.set_params(x)
                raise
            self.runs.append(res)
            if best is None or strategy.score(res) < strategy.score(best):
                best = res
            if self.target_cost is not None and best.fun <= self.target_cost:
                break
        self.net.set_params(best.x)
        self.J, self.testJ, self.result = list(best.J), list(best.testJ), best
        return best


class _Minimize:
    """The strategy of SciPy's methods and LM: minimise the cost; the lowest cost wins."""

    def __init__(self, trainer: Trainer, fg):
        self.trainer, self.fg = trainer, fg
        self.current: Optional[_Run] = None

    def run(self, x0, test) -> optimize.OptimizeResult:
        t = self.trainer
        run = self.current = _Run(self.fg, test, t.callback)
        if t.method == "LM":
            options = dict(t.options)
            if t.tol is not None:
                options.setdefault("min_grad", t.tol)
            res = lm.levenberg_marquardt(run.fun_gn, run.trial_cost, x0, t.maxiter, options, run.iteration)
        else:
            extra = {"hessp": run.hessp} if t.method in HESSP_METHODS else {}
            res = optimize.minimize(run.fun, x0, jac=True, method=t.method, tol=t.tol, callback=run.iteration,
                                    options=t._options(), **extra)
            if t.method == "trust-constr" and res.status == 3:
                res.status = 99  # its code for a callback's StopIteration; every other method says 99
        # SciPy reports its last iterate; the best point evaluated can only be as good or better.
        if run.best_x is not None and not (res.fun <= run.best_f):
            res.x, res.fun = run.best_x, run.best_f
        res.J, res.testJ = run.J, run.testJ
        return res

    @staticmethod
    def score(res) -> float:
        return res.fun

    def best_point(self, runs):
        points = [(r.fun, r.x) for r in runs]
        if self.current is not None and self.current.best_x is not None:
            points.append((self.current.best_f, self.current.best_x))
        return min(points, key=lambda p: p[0])[1] if points else None


class _Bayes:
    """The strategy of Bayesian regularisation (:mod:`quasinet.evidence`): the highest log evidence wins."""

    def __init__(self, trainer: Trainer, data, n_targets: float, classification: bool):
        self.trainer, self.data, self.n_targets, self.classification = trainer, data, n_targets, classification
        self.opts = evidence.check_options(trainer.options)
        self.groups, self.names = evidence.parameter_groups(trainer.net, self.opts["ard"])
        if np.ndim(self.opts["alpha0"]) == 1 and np.size(self.opts["alpha0"]) != len(self.names):
            raise ValueError(f"option alpha0 must hold one precision per group ({len(self.names)}), "
                             f"got {np.size(self.opts['alpha0'])}")
        n_out = trainer.net.layer_sizes[-1]
        if np.ndim(self.opts["beta0"]) == 1 and (np.size(self.opts["beta0"]) != n_out or self.opts["noise"] != "per-output"
                                                 or classification):
            raise ValueError(f"option beta0 may hold one precision per output ({n_out}) only for regression with "
                             f"noise 'per-output', got {np.size(self.opts['beta0'])} values")
        self.progress: dict = {}

    def run(self, x0, test) -> optimize.OptimizeResult:
        t, opts = self.trainer, self.opts
        J: List[float] = []
        testJ: List[float] = []
        progress = self.progress = {}

        def step(w, M):
            J.append(float(M))
            if test is not None:
                testJ.append(_test_cost(test, w))
            if t.callback is not None:
                t.callback(np.array(w, copy=True))

        def on_cycle(record, w):
            if record["log_evidence"] > progress.get("log_evidence", -np.inf):
                progress.update(log_evidence=record["log_evidence"], x=np.array(w, copy=True))

        res = evidence.evidence_fit(
            self.data, x0, self.groups, self.n_targets, self.classification, cycles=t.maxiter,
            inner_maxiter=opts["inner_maxiter"], patience=opts["patience"], alpha0=opts["alpha0"], beta0=opts["beta0"],
            noise=opts["noise"],
            min_gain=evidence.EVIDENCE_GAIN if t.tol is None else t.tol,
            log_symmetry=evidence.symmetry_log_factor(t.net), callback=step, on_cycle=on_cycle,
        )
        res.J, res.testJ, res.group_names = J, testJ, self.names
        return res

    @staticmethod
    def score(res) -> float:
        return -res.log_evidence

    def best_point(self, runs):
        points = [(r.log_evidence, r.x) for r in runs]
        if self.progress:
            points.append((self.progress["log_evidence"], self.progress["x"]))
        return max(points, key=lambda p: p[0])[1] if points else None


class EarlyStopping:
    """A :class:`Trainer` callback that follows a validation cost and stops the run when it stalls.

    After every iteration it evaluates ``validation_cost(params)``, appends it to :attr:`curve`,
    keeps a copy of the parameters of the lowest value so far, calls ``on_iteration`` and then,
    once ``patience`` iterations in a row have not lowered the validation cost, raises
    ``StopIteration``, which ends the run for every method in :data:`STOPPABLE_METHODS`. The
    caller decides what to do with :attr:`best_params` (the Trainer keeps the lowest *training*
    cost). One instance follows one run.

    Parameters
    ----------
    validation_cost : callable or None
        ``validation_cost(params) -> float``, for example ``net.bind(X_val, y_val).cost``.
        None follows nothing: only ``on_iteration`` is called.
    patience : int or None
        Stop after this many iterations without a lower validation cost; None never stops.
        Needs ``validation_cost``.
    on_iteration : callable or None
        Called as ``on_iteration(iteration, params, val)`` after every iteration (iterations
        count from 1; ``val`` is this iteration's validation cost, or None without one).

    Attributes
    ----------
    iteration : int
        Iterations seen.
    curve : list of float
        Validation cost after each iteration.
    best_cost, best_params, best_iteration
        The lowest validation cost, a copy of its parameters and its iteration (inf, None, 0
        before the first finite value).
    stopped : bool
        Whether this callback ended the run.
    """

    def __init__(self, validation_cost: Optional[Callable] = None, patience: Optional[int] = None,
                 on_iteration: Optional[Callable] = None):
        if validation_cost is not None and not callable(validation_cost):
            raise TypeError(f"validation_cost must be callable, got {type(validation_cost).__name__}")
        if patience is not None:
            if validation_cost is None:
                raise ValueError("patience needs a validation_cost to watch")
            patience = check_int("patience", patience, 1)
        self.validation_cost, self.patience, self.on_iteration = validation_cost, patience, on_iteration
        self.iteration = 0
        self.curve: List[float] = []
        self.best_cost, self.best_params, self.best_iteration = np.inf, None, 0
        self.stopped = False

    def __call__(self, params) -> None:
        self.iteration += 1
        val = None
        if self.validation_cost is not None:
            val = float(self.validation_cost(params))
            self.curve.append(val)
            if val < self.best_cost:
                self.best_cost, self.best_params, self.best_iteration = val, np.array(params, copy=True), self.iteration
        if self.on_iteration is not None:
            self.on_iteration(self.iteration, params, val)
        if self.patience is not None and self.iteration - self.best_iteration >= self.patience:
            self.stopped = True
            raise StopIteration
