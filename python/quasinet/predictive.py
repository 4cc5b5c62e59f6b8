"""The predictive distribution of a regression model: its shape, densities and intervals.

A Bayesian-regularised network's predictive distribution at a row x has the mean f(x) and the
variance g^T A^-1 g + 1/beta of :func:`quasinet.posterior.predictive_moments`. Its *shape* is
Gaussian unless the training residuals say that the noise has heavier tails: then each output's
predictive is a Student-t with ``nu`` degrees of freedom and the same variance (its scale is
sqrt(var (nu - 2) / nu)), which narrows the central intervals and widens the far ones. A
committee's predictive is the equal mixture of its members' distributions.

- :func:`fit_noise_dof` chooses ``nu`` per output from the training rows;
- :class:`Predictive` holds the distribution at a set of rows: mean, standard deviation,
  log density, CDF, quantiles and central intervals;
- :func:`predictive_distribution` builds it from a model's members.

Why a Student-t with the variance kept: BR's noise precision beta is the evidence's estimate of
the noise variance, corrected for the effective number of parameters; the residuals' tails are
the one thing it does not see. Keeping the variance makes ``return_std`` the same whatever the
shape, so only densities and intervals change, and a Gaussian (``nu`` infinite) is the limit.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
from scipy import optimize, special

from .network import Network
from .posterior import check_dof, member_mean, member_moments, mixture_moments, weight_variance
from .scaling import check_scaled

__all__ = ["DOF_ROWS", "MAX_LEVERAGE", "MIN_DOF", "Predictive", "fit_noise_dof", "predictive_distribution",
           "standardised_residuals", "unit_log_density"]

#: The smallest degrees of freedom :func:`fit_noise_dof` chooses (the variance is finite for nu > 2).
MIN_DOF = 2.5
#: :func:`fit_noise_dof` looks at the training rows, or a random subset of this many of them.
DOF_ROWS = 5000
#: Rows whose residual the fit nearly determines (leverage above this) say nothing of the noise's shape.
MAX_LEVERAGE = 0.95


def unit_log_density(z: np.ndarray, nu: float) -> np.ndarray:
    """Log density at ``z`` of the zero-mean, unit-variance Student-t with ``nu`` > 2 degrees of
    freedom (the standard normal for ``nu`` infinite)."""
    if np.isinf(nu):
        return -0.5 * (np.log(2.0 * np.pi) + z * z)
    # The scale s with variance 1 has nu s^2 = nu - 2. log Gamma((nu + 1) / 2) - log Gamma(nu / 2)
    # is log Gamma(1/2) - log B(1/2, nu / 2): the difference of the two huge log Gammas loses all
    # its digits beyond nu ~ 1e12, betaln keeps them (a model file may hold any finite nu).
    return -special.betaln(0.5, 0.5 * nu) - 0.5 * np.log(nu - 2.0) - 0.5 * (nu + 1.0) * np.log1p(z * z / (nu - 2.0))


def _unit_cdf(z: np.ndarray, nu: float) -> np.ndarray:
    if np.isinf(nu):
        return special.ndtr(z)
    return special.stdtr(nu, z / np.sqrt((nu - 2.0) / nu))


def _unit_ppf(q: float, nu: float) -> float:
    if np.isinf(nu):
        return float(special.ndtri(q))
    return float(special.stdtrit(nu, q) * np.sqrt((nu - 2.0) / nu))


def _probability(value, name: str) -> float:
    """``value`` as a float strictly between 0 and 1: TypeError for a non-number, ValueError outside."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return value


def _rows(members, Xs, Ys) -> Tuple[np.ndarray, np.ndarray]:
    """``Xs`` and ``Ys`` as float64 arrays of shape (N, inputs) and (N, outputs) of the members' networks."""
    if not members:
        raise ValueError("members must hold at least one (network, covariance, beta)")
    sizes = members[0][0].layer_sizes
    Xs, Ys = np.asarray(Xs, dtype=np.float64), np.asarray(Ys, dtype=np.float64)
    if Xs.ndim != 2 or Xs.shape[1] != sizes[0] or Ys.shape != (Xs.shape[0], sizes[-1]):
        raise ValueError(f"Xs and Ys must have shapes (N, {sizes[0]}) and (N, {sizes[-1]}) (the networks' inputs "
                         f"and outputs), got {Xs.shape} and {Ys.shape}")
    return Xs, Ys


def standardised_residuals(members, Xs: np.ndarray, Ys: np.ndarray) -> list:
    """Each member's training residuals divided by their standard deviation under its posterior.

    For member (network f, covariance A^-1, beta) and output k the residual r = y - f(x) of a
    training row has variance about 1/beta - g^T A^-1 g (the leverage correction: the fit
    pulls f(x) towards y, and the more the better determined f(x) is), so z = r / sqrt(1/beta -
    g^T A^-1 g). A row of weight w counts as w copies of it (the weights of merged duplicate
    rows). Returns, per member, an array (N, outputs) with NaN where the leverage
    g^T A^-1 g beta exceeds :data:`MAX_LEVERAGE`.
    """
    Xs, Ys = _rows(members, Xs, Ys)
    out = []
    for net, cov, beta in members:
        noise = 1.0 / np.broadcast_to(np.asarray(beta, dtype=np.float64), (Ys.shape[1],))
        v = weight_variance(net, cov, Xs)
        left = noise - v
        z = (Ys - net.forward(Xs)) / np.sqrt(np.maximum(left, 1e-300))
        z[left < (1.0 - MAX_LEVERAGE) * noise] = np.nan
        out.append(z)
    return out


def fit_noise_dof(members, Xs, Ys, sample_weight=None) -> np.ndarray:
    """The Student-t degrees of freedom of each output's noise, ``inf`` where it is Gaussian.

    For each output, the training residuals standardised by :func:`standardised_residuals`
    (pooled over a committee's members, each member's log likelihood counting 1/members) are
    fitted by maximum likelihood with the unit-variance Student-t of :func:`unit_log_density`,
    over nu in [:data:`MIN_DOF`, 1e6] (searched in 1/nu); nu is kept only when it raises the log likelihood
    over the Gaussian's by more than half the log of the number of rows (the BIC's price of one
    parameter), so that Gaussian noise stays Gaussian on all but a few data sets.

    Parameters
    ----------
    members : sequence of (Network, covariance, beta)
        As :func:`quasinet.posterior.predictive_moments` takes them.
    Xs, Ys : ndarray of shape (N, inputs), (N, outputs)
        The training rows in the networks' units.
    sample_weight : ndarray of shape (N,) or None
        Row counts (a row of weight 2 is that row twice).

    Returns
    -------
    ndarray of shape (outputs,)
    """
    Xs, Ys = _rows(members, Xs, Ys)
    w = np.ones(Ys.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (Ys.shape[0],) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"sample_weight must be {Ys.shape[0]} finite numbers >= 0 (one per row), got shape {w.shape}"
                         + ("" if w.shape != (Ys.shape[0],) else " with a negative or non-finite one"))
    zs = standardised_residuals(members, Xs, Ys)
    dof = np.full(Ys.shape[1], np.inf)
    for k in range(Ys.shape[1]):
        cols = [(z[:, k][np.isfinite(z[:, k])], w[np.isfinite(z[:, k])]) for z in zs]
        n = np.mean([c[1].sum() for c in cols])
        if not n > 1:
            continue

        def loglik(nu):
            return np.mean([wk @ unit_log_density(zk, nu) for zk, wk in cols])

        gaussian = loglik(np.inf)
        # Searched in eta = 1/nu in [0, 1/MIN_DOF]: the log likelihood is smooth there and eta = 0 is the Gaussian.
        best = optimize.minimize_scalar(lambda eta: -loglik(1.0 / eta), bounds=(1e-6, 1.0 / MIN_DOF),
                                        method="bounded", options={"xatol": 1e-4})
        if -best.fun - gaussian > 0.5 * np.log(n):
            dof[k] = 1.0 / best.x
    return dof


class Predictive:
    """The predictive distribution of a regression model at N rows, in target units.

    Per output, the equal mixture of its members' distributions: member m's is a Student-t
    with ``dof[k]`` degrees of freedom (a Gaussian where ``dof[k]`` is infinite), location
    ``means[m]`` and standard deviation ``stds[m]`` (each (N, outputs)); ``mean`` and ``std``,
    when given, are the mixture's (else computed from the members').  Built by :func:`predictive_distribution`
    (``predict_distribution`` of the estimators and of :class:`quasinet.io.Model`).

    Arrays are of shape (N, outputs), or (N,) when ``squeeze`` (a 1-D target).

    Attributes
    ----------
    mean : ndarray
        The predictive mean (what ``predict`` returns).
    std : ndarray
        The predictive standard deviation (what ``predict(X, return_std=True)`` returns).
    dof : ndarray of shape (outputs,)
        Each output's degrees of freedom, ``inf`` for a Gaussian.
    """

    def __init__(self, means: Sequence[np.ndarray], stds: Sequence[np.ndarray], dof: np.ndarray,
                 squeeze: bool = False, mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None):
        # Standard deviations, not variances: a variance in target units overflows or loses its
        # digits to underflow where the standard deviation does not (scales 1e160, 1e-160).
        means = [np.asarray(m, dtype=np.float64) for m in means]
        stds = [np.asarray(v, dtype=np.float64) for v in stds]
        if not means or len(means) != len(stds):
            raise ValueError(f"a predictive needs at least one member and one standard deviation per mean, got "
                             f"{len(means)} means and {len(stds)} standard deviations")
        shape = means[0].shape
        if len(shape) != 2:
            raise ValueError(f"each member's means must have shape (rows, outputs), got {shape}")
        for a in means + stds:
            if a.shape != shape:
                raise ValueError(f"each member's means and standard deviations must have shape {shape}, got {a.shape}")
        if not all(np.all(np.isfinite(a)) for a in means + stds):
            raise ValueError("the members' means and standard deviations must be finite, got NaN or infinity")
        if not all(np.all(a >= 0) for a in stds):
            raise ValueError("the members' standard deviations must be >= 0")
        if squeeze and shape[1] != 1:
            raise ValueError(f"squeeze needs one output, got {shape[1]}")
        # A dof of the wrong length would broadcast one output's shape over all; one <= 2 gives NaN.
        self.dof = check_dof(dof, shape[1])
        self._means, self._stds, self._squeeze = means, stds, squeeze
        if mean is None or std is None:  # the mixture's own moments (the caller may give them, computed as predict does)
            mean, var = mixture_moments(self._means, [s ** 2 for s in self._stds])
            std = np.sqrt(np.maximum(var, 0.0))
        self.mean, self.std = self._out(np.asarray(mean)), self._out(np.asarray(std))

    def _out(self, a: np.ndarray) -> np.ndarray:
        return a.ravel() if self._squeeze else a

    def _targets(self, y) -> np.ndarray:
        shape = self._means[0].shape
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"y must be an array of numbers, got {type(y).__name__}") from None
        if self._squeeze and y.ndim == 1:
            y = y[:, None]
        if y.shape != shape:
            want = f"({shape[0]},)" if self._squeeze else str(shape)
            raise ValueError(f"y must have shape {want} (the rows and outputs predicted), got {np.shape(y)}")
        if not np.all(np.isfinite(y)):
            raise ValueError("y must be finite, got NaN or infinity")
        return y

    def logpdf(self, y) -> np.ndarray:
        """Log predictive density of the targets ``y`` (target units), per row and output."""
        y = self._targets(y)
        terms = []
        for m, s in zip(self._means, self._stds):
            with np.errstate(divide="ignore"):
                z, log_s = (y - m) / s, np.log(s)
            terms.append(np.column_stack([unit_log_density(z[:, k], nu) for k, nu in enumerate(self.dof)]) - log_s)
        out = terms[0] if len(terms) == 1 else special.logsumexp(np.stack(terms), axis=0) - np.log(len(terms))
        return self._out(out)

    def cdf(self, y) -> np.ndarray:
        """The predictive probability of a target at or below ``y``, per row and output."""
        return self._out(self._cdf(self._targets(y)))

    def _cdf(self, y: np.ndarray) -> np.ndarray:
        return member_mean(np.column_stack([_unit_cdf((y[:, k] - m[:, k]) / s[:, k], nu)
                                            for k, nu in enumerate(self.dof)])
                           for m, s in zip(self._means, self._stds))

    def ppf(self, q: float) -> np.ndarray:
        """The predictive ``q``-quantile (0 < q < 1) of each row and output.

        One member's is closed-form; a mixture's lies between its members' quantiles and is
        found there by bisection on the mixture's CDF, to 1e-12 of the members' spread.
        """
        q = _probability(q, "q")
        ends = [m + s * np.array([_unit_ppf(q, nu) for nu in self.dof]) for m, s in zip(self._means, self._stds)]
        lo, hi = np.minimum.reduce(ends), np.maximum.reduce(ends)
        if len(ends) > 1:
            # 1e-12 of the members' spread, or a few units in the last place of the quantile where
            # that is finer than the doubles there (a large offset: 1e6 +- 1e-3 ran all 200 steps).
            tol = np.maximum(1e-12 * (hi - lo), 4.0 * np.spacing(np.maximum(np.abs(lo), np.abs(hi))))
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                below = self._cdf(mid) < q
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
                if np.all(hi - lo <= tol):
                    break
            lo = 0.5 * (lo + hi)
        return self._out(lo)

    def interval(self, coverage: float = 0.95) -> Tuple[np.ndarray, np.ndarray]:
        """The central interval holding ``coverage`` (0 < coverage < 1) of the predictive
        probability: the (1 - coverage)/2 and (1 + coverage)/2 quantiles, as (lower, upper)."""
        coverage = _probability(coverage, "coverage")
        return self.ppf(0.5 * (1.0 - coverage)), self.ppf(0.5 * (1.0 + coverage))

    def __repr__(self) -> str:
        shape = "Gaussian" if np.all(np.isinf(self.dof)) else f"Student-t, dof {np.round(self.dof, 2).tolist()}"
        return f"Predictive({self.mean.shape[0]} rows, {len(self._means)} member(s), {shape})"


def predictive_distribution(members: Sequence[Tuple[Network, np.ndarray, object]], Xs, dof: Optional[np.ndarray],
                            y_offset=None, y_scale=None, squeeze: bool = False) -> Predictive:
    """The :class:`Predictive` of a regression model's members at the rows ``Xs``.

    ``members`` as :func:`quasinet.posterior.predictive_moments` takes them, ``Xs`` in the
    networks' units; ``dof`` one per output (None: Gaussian); ``y_offset`` and ``y_scale``
    map the networks' outputs to target units (y = offset + scale * output).
    """
    n_out = members[0][0].layer_sizes[-1]
    dof = np.full(n_out, np.inf) if dof is None else np.asarray(dof, dtype=np.float64)
    offset = np.zeros(n_out) if y_offset is None else np.asarray(y_offset, dtype=np.float64)
    scale = np.ones(n_out) if y_scale is None else np.asarray(y_scale, dtype=np.float64)
    net_means, net_variances = member_moments(members, Xs)
    net_mean, var = mixture_moments(net_means, net_variances)
    net_stds = [np.sqrt(np.maximum(v, 0.0)) for v in net_variances]  # rounding's negatives clipped, as predict does
    net_std = np.sqrt(np.maximum(var, 0.0))

    def units(values, what, sd):
        # Target units, as predict(X, return_std=True) computes them (a standard deviation times
        # the scale, not a variance times its square: 1e160 ** 2 overflows); FloatingPointError
        # naming the first entry that overflows.
        with np.errstate(over="ignore", invalid="ignore"):
            out = values * scale if sd else values * scale + offset
        check_scaled(out, values, what, (lambda c: f"std * {scale[c]:.6g}") if sd
                     else (lambda c: f"out * {scale[c]:.6g} + {offset[c]:.6g}"))
        return out

    mean = units(net_mean, "the prediction", False)
    std = units(net_std, "the predictive standard deviation", True)
    if len(members) == 1:
        means, stds = [mean], [std]
    else:
        means = [units(m, f"committee member {k}'s prediction", False) for k, m in enumerate(net_means)]
        stds = [units(s, f"committee member {k}'s standard deviation", True) for k, s in enumerate(net_stds)]
    return Predictive(means, stds, dof, squeeze=squeeze, mean=mean, std=std)
