"""What the Laplace posterior of a Bayesian-regularised network predicts: its uncertainty.

One place for the computations that both the estimators (:mod:`quasinet.sklearn`) and model
files (:class:`quasinet.io.Model`) use, so that a saved model predicts exactly what the
estimator did:

- :func:`predictive_moments`: mean and variance of a regression output by the delta method,
  var = g^T A^-1 g + 1/beta with g = d yhat / d w, for a committee the moments of the equal
  mixture of its members' Gaussians;
- :func:`moderated_probabilities`: MacKay's moderated class probabilities, the class
  probability averaged over the Gaussian of the logits that the Laplace posterior implies
  (linearised: covariance g^T A^-1 g, g = d z / d w), by the probit approximation: for a
  sigmoid the logit z divided by sqrt(1 + pi s^2 / 8), s^2 its variance; for a softmax the
  same applied to every difference of two logits (:func:`softmax_moderated`); a committee
  averages its members' probabilities.

Both work in the network's own (scaled) units on already transformed inputs ``Xs``; the
Jacobians (N x outputs x P doubles) are formed in row chunks of about 2^20 numbers, so memory
stays bounded whatever the number of rows.

:class:`Posterior` holds what a model file stores about a network trained by Bayesian
regularisation (:mod:`quasinet.evidence`) and checks it against the network.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy import linalg
from scipy.special import expit, logsumexp

from .evidence import parameter_groups, predictive_variance
from .metrics import class_probabilities
from .network import GAUSS_NEWTON_MAX_PARAMS, Network

#: Numbers of Jacobian entries per chunk of rows.
CHUNK_ENTRIES = 1 << 20


def row_chunks(n_rows: int, n_params: int, n_outputs: int) -> List[slice]:
    """Row slices whose Jacobians hold about :data:`CHUNK_ENTRIES` numbers each (at least one row)."""
    step = max(1, CHUNK_ENTRIES // (n_params * n_outputs))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


def weight_variance(net: Network, covariance: np.ndarray, Xs: np.ndarray) -> np.ndarray:
    """g^T A^-1 g of each row and output of ``net``, shape (N, outputs), in chunks of rows."""
    out = np.empty((Xs.shape[0], net.layer_sizes[-1]))
    for chunk in row_chunks(Xs.shape[0], net.n_params, net.layer_sizes[-1]):
        out[chunk] = predictive_variance(net.jacobian(Xs[chunk]), covariance)
    return out


def member_mean(values):
    """The equal-weight mean of a committee's arrays, one per member (an iterable): added in
    member order and divided by their number, which is what ``np.mean(values, axis=0)`` computes,
    bit for bit, without stacking them, and which works on lazy dask arrays too. One member's
    array is returned as it is."""
    values = iter(values)
    total = next(values)
    count = 1
    for v in values:
        total = total + v
        count += 1
    return total if count == 1 else total / count


def predictive_moments(members: Sequence[Tuple[Network, np.ndarray, float]], Xs) -> Tuple[np.ndarray, np.ndarray]:
    """Predictive mean and variance, each of shape (N, outputs), in the network's units.

    Parameters
    ----------
    members : sequence of (Network, covariance (P, P), beta)
        One network, or a committee.
    Xs : ndarray of shape (N, inputs)
        Inputs as the networks see them (after the input scaling).

    Returns
    -------
    mean, var : ndarray
        For one network its output and g^T A^-1 g + 1/beta; for several, the mean and variance
        of the equal mixture of their Gaussians. Multiply the standard deviation by the target
        scale to get target units.
    """
    return mixture_moments(*member_moments(members, Xs))


def member_moments(members: Sequence[Tuple[Network, np.ndarray, float]], Xs) -> Tuple[list, list]:
    """Each member's predictive mean and variance (lists of (N, outputs) arrays, network units):
    its output and g^T A^-1 g + 1/beta."""
    means, variances = [], []
    for net, cov, beta in members:
        means.append(net.forward(Xs))
        variances.append(weight_variance(net, cov, Xs) + 1.0 / beta)
    return means, variances


def mixture_moments(means: list, variances: list) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the equal mixture of distributions with these means and variances
    (one member's own)."""
    if len(means) == 1:
        return means[0], variances[0]
    mean = member_mean(means)
    # The mixture's variance as the mean of each member's variance plus its squared distance from
    # the mean: non-negative terms, without the cancellation of the second moment minus the
    # squared mean (which loses the digits of a variance far below mean^2).
    return mean, member_mean(v + (m - mean) ** 2 for m, v in zip(means, variances))


def logit_twin(net: Network) -> Network:
    """A network with ``net``'s parameters and an identity output: its outputs are the logits z."""
    twin = Network(**{**net.spec(), "output_activation": "identity", "loss": "sse"})
    twin.set_params(net.params)
    return twin


def logit_covariances(net: Network, covariance: np.ndarray, Xs: np.ndarray) -> np.ndarray:
    """J A^-1 J^T of each row of ``net``, shape (N, outputs, outputs), in chunks of rows."""
    k = net.layer_sizes[-1]
    out = np.empty((Xs.shape[0], k, k))
    for chunk in row_chunks(Xs.shape[0], net.n_params, k):
        J = net.jacobian(Xs[chunk])  # (rows, k, P)
        out[chunk] = np.einsum("nkp,pq,njq->nkj", J, covariance, J, optimize=True)
    return out


def softmax_moderated(z: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """E[softmax(u)] for u ~ N(z, cov) of every row, by the probit approximation of each pair.

    softmax_k(u) = 1 / sum_j exp(-(u_k - u_j)): each difference d_kj = u_k - u_j is replaced by
    its mean over the moderating factor sqrt(1 + pi v_kj / 8), v_kj = var(d_kj) = cov_kk +
    cov_jj - 2 cov_kj, as MacKay's probit approximation does for a sigmoid (the mean-field
    approximation of the Gaussian-softmax integral), and the results are normalised to sum to 1.
    Only differences of logits enter: a variance shared by all logits alike (the direction in
    which a softmax layer's parameters are not identified: the same vector added to every
    class's weights, where the posterior is the prior) changes no probability, as it changes
    no softmax. With two classes it is MacKay's sigmoid of d_12 / sqrt(1 + pi v_12 / 8).

    Parameters
    ----------
    z : ndarray of shape (N, K)
        Mean logits.
    cov : ndarray of shape (N, K, K)
        Their covariance in each row (symmetric positive semi-definite).

    Returns
    -------
    ndarray of shape (N, K)
        Probabilities; each row sums to 1.
    """
    d = z[:, :, None] - z[:, None, :]  # (N, K, K): z_k - z_j
    var = np.einsum("nkk->nk", cov)
    v = np.maximum(var[:, :, None] + var[:, None, :] - 2.0 * cov, 0.0)
    # log of 1 / sum_j exp(-d_kj / kappa_kj), the j = k term exp(0) included; in logs, as a
    # log-sum-exp: the exponents reach far beyond exp's range where classes are well separated.
    log_p = -logsumexp(-d / np.sqrt(1.0 + np.pi * v / 8.0), axis=2)
    return np.exp(log_p - logsumexp(log_p, axis=1, keepdims=True))


def moderated_probabilities(members: Sequence[Tuple[Network, np.ndarray, float]], Xs) -> np.ndarray:
    """MacKay's moderated class probabilities, shape (N, n_classes) (module docstring).

    ``members`` as in :func:`predictive_moments` (beta is not used); each network has a
    sigmoid (one output: two classes) or softmax output. A sigmoid's logit z is divided by
    sqrt(1 + pi s^2 / 8), s^2 = g^T A^-1 g, g = d z / d w; a softmax's logits, with their
    covariance J A^-1 J^T (J = d z / d w), go through :func:`softmax_moderated`.
    """
    probs = []
    for net, cov, _ in members:
        twin = logit_twin(net)
        z = twin.forward(Xs)
        if net.output_activation == "softmax":
            probs.append(class_probabilities(softmax_moderated(z, logit_covariances(twin, cov, Xs))))
        else:
            z = z / np.sqrt(1.0 + np.pi * np.maximum(weight_variance(twin, cov, Xs), 0.0) / 8.0)
            probs.append(class_probabilities(expit(z)))
    return member_mean(probs)


def feature_relevance(alpha, n_inputs: int) -> np.ndarray:
    """Each input's share of the prior variance 1/alpha of the ARD input groups (the first
    ``n_inputs`` groups of :func:`quasinet.evidence.parameter_groups`); sums to 1."""
    prior_var = 1.0 / np.asarray(alpha, dtype=np.float64)[:n_inputs]
    return prior_var / prior_var.sum()


def input_relevance(nets, Xs, sample_weight=None) -> np.ndarray:
    """Each input's share of what the inputs do to the predictions; sums to 1.

    For input j the score is the mean over the rows of ``Xs`` of the squared derivative of the
    prediction with respect to x_j, times the variance of x_j over those rows, summed over the
    outputs::

        s_j = var(x_j) * sum_k mean_i (d f_k(x_i) / d x_ij)^2,    relevance_j = s_j / sum_l s_l

    The derivatives are the core's exact ones (:meth:`quasinet.Network.input_jacobian`). For a
    linear model f = w . x this is each input's share of the variance of the prediction,
    w_j^2 var(x_j) / sum_l w_l^2 var(x_l) (for independent inputs). Unlike the prior variance
    1/alpha of the ARD groups (:func:`feature_relevance`), it depends on the fitted function
    only: an input's weights can be small and the next layer's large (ARD's scale degeneracy)
    without changing it.

    Parameters
    ----------
    nets : Network, or sequence of Network or of (Network, covariance, beta)
        One network or a committee (e.g. an estimator's ``members_``); for a committee the
        derivative is that of the averaged prediction, the mean of the members' Jacobians.
        All must have the same inputs and outputs.
    Xs : array-like of shape (N, inputs)
        Rows as the networks see them (after the input scaling), typically the training rows;
        with standardised inputs every variance is 1.
    sample_weight : array-like of shape (N,) or None
        Non-negative row weights (e.g. the counts of merged duplicate rows): the means and
        variances are weighted, so a row of weight 2 counts as that row twice.

    Returns
    -------
    ndarray of shape (inputs,)
        Non-negative, summing to 1; all zeros when the predictions depend on no input at these
        rows (or every input is constant over them).
    """
    if isinstance(nets, Network):
        nets = [nets]
    try:
        nets = [m[0] if isinstance(m, tuple) else m for m in nets]
    except TypeError:
        raise TypeError(f"nets must be a Network or a sequence of Networks or (Network, covariance, beta), "
                        f"got {type(nets).__name__}") from None
    if not nets:
        raise ValueError("nets must hold at least one Network, got an empty sequence")
    for m in nets:
        if not isinstance(m, Network):
            raise TypeError(f"nets must hold Networks or (Network, covariance, beta) tuples, got {type(m).__name__}")
    n_in, n_out = nets[0].layer_sizes[0], nets[0].layer_sizes[-1]
    for m in nets[1:]:
        if (m.layer_sizes[0], m.layer_sizes[-1]) != (n_in, n_out):
            raise ValueError(f"all networks must have {n_in} inputs and {n_out} outputs like the first, got "
                             f"{m.layer_sizes[0]} and {m.layer_sizes[-1]}")
    Xs = np.asarray(Xs, dtype=np.float64)
    if Xs.ndim != 2 or Xs.shape[1] != n_in:
        raise ValueError(f"Xs must have shape (N, {n_in}), got {Xs.shape}")
    if Xs.shape[0] == 0:
        raise ValueError("Xs must have at least one row, got 0")
    if not np.all(np.isfinite(Xs)):
        raise ValueError("Xs must be finite, got NaN or infinity")
    if sample_weight is None:
        w = np.ones(Xs.shape[0])
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (Xs.shape[0],):
            raise ValueError(f"sample_weight must have shape ({Xs.shape[0]},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError("sample_weight must be finite and >= 0 with a positive sum")
    w = w / w.sum()
    sq = np.zeros(n_in)  # weighted sum over rows and outputs of the squared derivatives
    for chunk in row_chunks(Xs.shape[0], n_in, n_out):
        J = member_mean(m.input_jacobian(Xs[chunk]) for m in nets)  # (rows, n_out, n_in)
        sq += np.einsum("i,ikj,ikj->j", w[chunk], J, J)
    mean = w @ Xs
    score = (w @ (Xs - mean) ** 2) * sq
    total = score.sum()
    return score / total if total > 0 else score


#: Tolerance of the covariance checks, relative to its largest entry: symmetric to within it,
#: and positive semi-definite to within it (smallest eigenvalue >= -COVARIANCE_RTOL * max |entry|).
#: A^-1 computed by a Cholesky solve meets both by orders of magnitude.
COVARIANCE_RTOL = 1e-8


def check_positive_semidefinite(cov: np.ndarray) -> None:
    """ValueError unless the symmetric (P, P) ``cov`` is positive semi-definite within
    :data:`COVARIANCE_RTOL`: ``cov + COVARIANCE_RTOL * max|cov| * I`` must have a Cholesky factor,
    which holds exactly when every eigenvalue of ``cov`` exceeds ``-COVARIANCE_RTOL * max|cov|``.

    A covariance with a negative eigenvalue gives some prediction a negative variance (clipped to
    a standard deviation of exactly 0) and others an inflated one: it is refused, not repaired.
    """
    largest = float(np.max(np.abs(cov), initial=0.0))
    if largest == 0.0:
        return  # the zero matrix: no parameter uncertainty at all, positive semi-definite
    shifted = 0.5 * (cov + cov.T)
    shifted.flat[:: cov.shape[0] + 1] += COVARIANCE_RTOL * largest
    try:
        linalg.cholesky(shifted, lower=True, overwrite_a=True, check_finite=False)
    except linalg.LinAlgError:
        low = float(linalg.eigvalsh(0.5 * (cov + cov.T), subset_by_index=[0, 0], check_finite=False)[0])
        raise ValueError(f"covariance is not positive semi-definite: its smallest eigenvalue {low:.6g} is below "
                         f"-{COVARIANCE_RTOL:g} times its largest entry {largest:.6g}") from None


def check_dof(dof, n_outputs: int) -> np.ndarray:
    """``dof`` as a float64 array of shape (n_outputs,), each > 2 (``inf``: Gaussian); ValueError otherwise."""
    if isinstance(dof, (str, bytes)):
        raise TypeError(f"noise_dof must be numbers, got {type(dof).__name__}")
    d = np.array(dof, dtype=np.float64)
    if d.shape != (n_outputs,):
        raise ValueError(f"noise_dof must hold {n_outputs} numbers (one per output), got shape {d.shape}")
    if np.any(np.isnan(d)) or not np.all(d > 2):
        raise ValueError(f"noise_dof must be numbers > 2 (infinity: Gaussian), got {d!r}")
    return d


def trained_by(method) -> str:
    """The end of the message that a model has no posterior: how it was trained ("this one was
    trained by L-BFGS-B"; a BR fit interrupted before its first evidence fit finished keeps its
    network only)."""
    if method == "BR":
        return "this one's BR fit was interrupted before it had a posterior"
    return f"this one was trained by {method or 'another method'}"


def _real(value, name, low=-np.inf, low_open=False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v) or v < low or (low_open and v == low):
        raise ValueError(f"{name} must be a finite number {'>' if low_open else '>='} {low:g}, got {v!r}")
    return v


@dataclass
class Posterior:
    """The Laplace posterior of a network trained by Bayesian regularisation, as a model file stores it.

    Attributes
    ----------
    covariance : ndarray of shape (P, P)
        A^-1, the posterior covariance of the parameters (in the network's units).
    beta : float or ndarray of shape (n_outputs,)
        Noise precision: one float shared by every output, or one per output (a regression
        with several targets whose noise differs); every value finite and > 0. A classifier's
        is 1 (or all ones). :meth:`check` keeps the form given: an array (or list) stays one,
        of shape (n_outputs,) exactly, even for one output.
    alpha : ndarray of shape (n_groups,)
        Prior precision of each parameter group (:func:`quasinet.evidence.parameter_groups`).
    group_names : list of str
        The groups' names.
    gamma : float
        Effective number of parameters, in [0, P].
    log_evidence : float
    ard : bool
        Whether the groups are ARD groups (one per input, ...) or one group for all.
    feature_relevance : ndarray of shape (n_inputs,) or None
        Normalised prior variance of each input's weights (with ARD).
    moderate : bool
        For a classifier: ``predict_proba`` gives MacKay's moderated probabilities.
    noise_dof : ndarray of shape (n_outputs,) or None
        For a regressor: the Student-t degrees of freedom (each > 2; ``inf``: Gaussian) of each
        output's predictive distribution (:mod:`quasinet.predictive`); None: Gaussian. The
        predictive variance is the same whatever the shape.
    """

    covariance: np.ndarray
    beta: "float | np.ndarray"
    alpha: np.ndarray
    group_names: List[str]
    gamma: float
    log_evidence: float
    ard: bool
    feature_relevance: Optional[np.ndarray] = None
    moderate: bool = False
    noise_dof: Optional[np.ndarray] = None

    def dofs(self, n_outputs: int) -> np.ndarray:
        """The degrees of freedom of each of the ``n_outputs`` outputs (``inf`` where Gaussian)."""
        return np.full(n_outputs, np.inf) if self.noise_dof is None else np.array(self.noise_dof)

    def check(self, net: Network, classifier: bool) -> "Posterior":
        """Check every field against ``net`` (ValueError / TypeError naming the field); return self."""
        P = net.n_params
        if P > GAUSS_NEWTON_MAX_PARAMS:
            raise ValueError(f"a posterior covariance needs at most {GAUSS_NEWTON_MAX_PARAMS} parameters, "
                             f"the network has {P}")
        cov = np.asarray(self.covariance)
        if cov.dtype != np.float64 or cov.shape != (P, P):
            raise ValueError(f"covariance must be a float64 array of shape ({P}, {P}), got {cov.dtype} {cov.shape}")
        if not np.all(np.isfinite(cov)):
            raise ValueError("covariance holds NaN or infinity")
        if np.any(np.diag(cov) < 0):
            raise ValueError("covariance has negative variances on its diagonal")
        # A^-1 from a Cholesky solve is symmetric to rounding, not bitwise.
        largest = np.max(np.abs(cov), initial=0.0)
        if np.max(np.abs(cov - cov.T), initial=0.0) > COVARIANCE_RTOL * largest:
            raise ValueError("covariance is not symmetric")
        check_positive_semidefinite(cov)
        self.covariance = cov
        self.beta = self._noise_precision(self.beta, net.layer_sizes[-1])
        if not isinstance(self.ard, (bool, np.bool_)):
            raise TypeError(f"ard must be a bool, got {type(self.ard).__name__}")
        self.ard = bool(self.ard)
        names = parameter_groups(net, self.ard)[1]
        if isinstance(self.group_names, str) or list(self.group_names) != names:
            raise ValueError(f"group_names must be {names} for this network (ard {self.ard}), got {self.group_names!r}")
        self.group_names = list(names)
        alpha = np.array(self.alpha, dtype=np.float64)
        if alpha.shape != (len(names),) or not np.all(np.isfinite(alpha)) or not np.all(alpha > 0):
            raise ValueError(f"alpha must be {len(names)} finite numbers > 0 (one per group), got {alpha!r}")
        self.alpha = alpha
        self.gamma = _real(self.gamma, "gamma", 0.0)
        if self.gamma > P:
            raise ValueError(f"gamma must lie in [0, {P}] (the number of parameters), got {self.gamma!r}")
        self.log_evidence = _real(self.log_evidence, "log_evidence")
        if self.feature_relevance is not None:
            rel = np.array(self.feature_relevance, dtype=np.float64)
            n_in = net.layer_sizes[0]
            if rel.shape != (n_in,) or not np.all(np.isfinite(rel)) or np.any(rel < 0):
                raise ValueError(f"feature_relevance must be {n_in} finite numbers >= 0, got {rel!r}")
            self.feature_relevance = rel
        if not isinstance(self.moderate, (bool, np.bool_)):
            raise TypeError(f"moderate must be a bool, got {type(self.moderate).__name__}")
        self.moderate = bool(self.moderate)
        if self.moderate and not classifier:
            raise ValueError("moderate applies to classifiers only (this model has no classes)")
        if self.noise_dof is not None:
            if classifier:
                raise ValueError("noise_dof applies to regressors only (a classifier's outputs are probabilities)")
            self.noise_dof = check_dof(self.noise_dof, net.layer_sizes[-1])
        if classifier and np.any(self.beta != 1.0):
            raise ValueError(f"a classifier's beta is 1, got {self.beta!r}")
        return self

    @staticmethod
    def _noise_precision(beta, n_outputs: int):
        """``beta`` as a float (one precision for every output) or a float64 array of shape (n_outputs,)."""
        if isinstance(beta, numbers.Real) or (isinstance(beta, np.ndarray) and beta.ndim == 0):
            return _real(beta.item() if isinstance(beta, np.ndarray) else beta, "beta", 0.0, low_open=True)
        if isinstance(beta, (str, bytes)) or not isinstance(beta, (list, tuple, np.ndarray)):
            raise TypeError(f"beta must be a real number or one per output ({n_outputs}), got {type(beta).__name__}")
        kinds = {type(b).__name__ for b in np.asarray(beta, dtype=object).ravel()
                 if isinstance(b, (bool, np.bool_)) or not isinstance(b, numbers.Real)}
        if kinds:
            raise TypeError(f"beta must hold real numbers, got {', '.join(sorted(kinds))}")
        b = np.array(beta, dtype=np.float64)
        if b.shape != (n_outputs,):
            raise ValueError(f"beta must be one number, or {n_outputs} (one per output) in shape ({n_outputs},), "
                             f"got shape {b.shape}")
        if not np.all(np.isfinite(b)) or not np.all(b > 0):
            raise ValueError(f"beta must be finite numbers > 0, got {b!r}")
        return b
