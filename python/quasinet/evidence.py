"""Bayesian regularisation: MacKay's evidence framework in the Gauss-Newton form of Foresee & Hagan.

The weights w get a Gaussian prior with one precision alpha_g per group g of parameters (one
group for all, as MATLAB's ``trainbr``, or ARD groups: one per input's outgoing weights, one
per layer's biases, one per later layer's weights) and, for regression, the targets Gaussian
noise of precision beta. With E_D = 0.5 sum_i w_i |y_i - yhat_i|^2 (sample weights w_i) and
E_W,g = 0.5 sum_{j in g} w_j^2, training minimises

    M(w) = beta E_D + sum_g alpha_g E_W,g

by a few Levenberg-Marquardt steps at fixed alpha, beta (on the core's Gauss-Newton matrix),
then re-estimates them from the Laplace approximation there, with A = beta G + diag(alpha)
(G the Gauss-Newton matrix of E_D, undamped):

    gamma_g = P_g - alpha_g tr_g(A^-1)      (well-determined parameters of group g)
    alpha_g = gamma_g / (2 E_W,g)           beta = (N_e - gamma) / (2 E_D)

N_e the number of target values (sum of weights times outputs), gamma = sum_g gamma_g. The two
steps alternate ("cycles"); the cycle of highest log evidence is kept:

    ln p(D | alpha, beta) = -M(w) - 0.5 ln det A + sum_g (P_g / 2) ln alpha_g
                            + (N_e / 2) ln beta - (N_e / 2) ln(2 pi) + ln(prod_l h_l! 2^h_l)

the last term counting the h_l! 2^h_l equivalent minima of each hidden layer of h_l units
(permutations and sign flips; no flips for relu and softplus, see
:func:`symmetry_log_factor`), which matters only when networks of different widths are
compared.

That is the evidence at the re-estimated alpha, beta. Architectures are compared
(:func:`quasinet.fitting.search`) by :func:`model_log_evidence`, which changes two things. First, models
with different numbers of hyperparameters (one alpha for all against one per input: ARD) need
the hyperparameters integrated out (MacKay 1992): each of ln alpha_g and ln beta gets a flat
prior over its bounds (:data:`ALPHA_BOUNDS`, :data:`BETA_BOUNDS`), of width R, and a Gaussian
posterior of variance 2 / gamma_g (for ln beta 2 / (N_e - gamma)), so each adds
ln(sqrt(2 pi) sigma / R), at most 0 (:func:`hyperparameter_log_occam`); without it the ARD
model, which contains the one-alpha model, would always win. Second, the symmetry factor
counts only the hidden units whose outgoing weights the data determine: pruned units give no
distinct minima, and counting all h_l! 2^h_l would reward width for its own sake.

Several outputs of a regression get one noise precision each (``noise="per-output"``, the
default): M(w) = sum_k beta_k E_D,k + sum_g alpha_g E_W,g, A = sum_k beta_k G_k + diag(alpha),
beta_k = (N - gamma_k) / (2 E_D,k) with gamma_k = tr(beta_k G_k A^-1) (so sum_k gamma_k =
gamma) and N the weighted rows, and the log evidence has (N / 2) ln beta_k for each output; the
predictive variance of output k then adds 1 / beta_k. ``noise="shared"`` keeps one beta.

For the cross-entropies (classification) E_D is the summed cross-entropy, beta is fixed at 1
and only the alphas are learned (MacKay's classification evidence): the N_e and ln beta terms
drop out, and G is the generalised Gauss-Newton matrix, so A is the Laplace posterior
precision in the same form.

The posterior covariance A^-1 gives the predictive variance by the delta method: for an
output y(x), var = g(x)^T A^-1 g(x) + 1/beta with g = dy/dw (:func:`predictive_variance`).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Callable, List, Optional, Tuple

import numpy as np
from scipy import linalg, optimize

from . import lm

#: Most evidence cycles (each: a few Levenberg-Marquardt steps at fixed alpha, beta, then one
#: re-estimation of them).
CYCLES = 500
#: Levenberg-Marquardt steps in the first cycle and in each later one. The later cycles take
#: few steps: the weights then follow the precisions as they move. Measured during development
#: on Friedman #1 (n=200, 10-10-1, ARD, one start): 10 steps per cycle reached a higher log
#: evidence and a lower held-out error (1.28) than 30 (1.30) or 100 steps (1.34), the last
#: close to optimising to convergence in every cycle.
INNER_MAXITER = (100, 10)
#: Stop when the log evidence has not exceeded its best for this many cycles ...
PATIENCE = 10
#: ... or when it rose by less than this over that many cycles (a Bayes factor of 1.1: no
#: model is then worth telling from the other).
EVIDENCE_GAIN = 0.1
#: Starting prior precision of every group: weights ~ N(0, 1) on standardised inputs, a
#: smooth, nearly linear network that the evidence then frees where the data ask for it.
ALPHA0 = 1.0
#: The precisions are kept within these bounds (a group whose weights all vanish would
#: otherwise send its alpha to infinity).
ALPHA_BOUNDS = (1e-8, 1e8)
BETA_BOUNDS = (1e-8, 1e12)
#: With one noise precision per output, each beta_k stays at most this (a noise standard
#: deviation of at least 1e-3 of the standardised target). A target that the network fits to
#: rounding (a column computed from the inputs) would otherwise take beta_k to 1e12, and its
#: (N / 2) ln beta_k, thousands of nats, would decide the model search for every target. Two
#: targets, sin(x0) + noise 0.1 and 2 x1, 200 rows, two draws: with the bound 1e12 the linear
#: model won (held-out RMSE 0.276 on the first target; alone it gets 0.103); with 1e8, 4 and
#: 2 tanh units (RMSE 0.107 and 0.093, alone 0.032); with 1e6, 4 and 4 units (0.107, 0.023).
PER_OUTPUT_BETA_MAX = 1e6


class NoiseNotIdentifiedWarning(UserWarning):
    """The data did not determine the noise precision beta: fewer than one residual degree of
    freedom (N_e - gamma < 1; e.g. 1 or 2 rows, where the network passes through every target).
    beta then comes from the start and the bounds :data:`BETA_BOUNDS`, often the bound 1e12
    itself, and the predictive standard deviation with it (about 1e-6 of the target scale)."""


def parameter_groups(net, ard: bool) -> Tuple[np.ndarray, List[str]]:
    """The prior groups: an index per parameter (shape ``(n_params,)``) and a name per group.

    Without ARD one group holds every parameter. With ARD: one group per input (the row of the
    first weight matrix that carries it), then, layer by layer, one for the biases and one for
    each later layer's weights.
    """
    index = np.zeros(net.n_params, dtype=np.intp)
    if not ard:
        return index, ["all parameters"]
    names: List[str] = []
    for l, (w_off, n_in, n_out, b_off) in enumerate(net.layout):
        if l == 0:
            for i in range(n_in):
                index[w_off + i * n_out : w_off + (i + 1) * n_out] = len(names)
                names.append(f"input {i}")
        else:
            index[w_off : w_off + n_in * n_out] = len(names)
            names.append(f"layer {l + 1} weights")
        if b_off is not None:
            index[b_off : b_off + n_out] = len(names)
            names.append(f"layer {l + 1} biases")
    return index, names


def symmetry_log_factor(net, param_gamma=None) -> float:
    """ln prod_l (h_l! 2^h_l) over the hidden layers: h_l! permutations of the units, times 2^h_l
    sign flips where flipping a unit's incoming and outgoing weights leaves the function
    unchanged (odd activations, tanh and identity, and sigmoid when the next layer has biases
    to absorb sigmoid(-z) = 1 - sigmoid(z)); relu and softplus have no such flip.

    With ``param_gamma`` (shape ``(n_params,)``, each parameter's well-determinedness
    1 - alpha_i (A^-1)_ii, between 0 and 1), only the units the data determine count: a unit
    whose outgoing weights the prior has pruned gives no distinct minimum when permuted with
    another such unit or flipped (its posterior is the prior, the same in every copy). Layer l
    then has u_l = sum over its units of the mean gamma of the unit's outgoing weights
    (0 <= u_l <= h_l), placed in h_l! / (h_l - u_l)! ways, times 2^u_l flips (lgamma for
    fractional u_l); u_l = h_l gives the full count.
    """
    flips = net.activation in ("tanh", "identity") or (net.activation == "sigmoid" and net.bias)
    total = 0.0
    for l, h in enumerate(net.layer_sizes[1:-1]):
        u = float(h)
        if param_gamma is not None:
            w_off, n_in, n_out, _ = net.layout[l + 1]  # the next layer's weights: row j = unit j's outgoing
            g = np.clip(np.asarray(param_gamma, dtype=float)[w_off : w_off + n_in * n_out], 0.0, 1.0)
            u = float(np.clip(g.reshape(n_in, n_out).mean(axis=1).sum(), 0.0, h))
        total += math.lgamma(h + 1) - math.lgamma(h - u + 1) + (u * math.log(2.0) if flips else 0.0)
    return total


def hyperparameter_log_occam(gamma_groups, gamma: float, n_targets: float, classification: bool,
                             gamma_outputs=None) -> float:
    """ln of the Occam factors of the learned hyperparameters (module docstring): for each alpha_g
    min(0, ln(sqrt(2 pi) sigma_g / R_alpha)) with sigma_g^2 = 2 / gamma_g and R_alpha the width of
    ln alpha's range, and for regression the same for beta with sigma^2 = 2 / (N_e - gamma).
    With one beta per output (``gamma_outputs``: gamma_k of each of the K outputs), one such
    term per beta_k with sigma_k^2 = 2 / (N_e / K - gamma_k).

    Each term is negative: every hyperparameter the data must fix costs evidence, less the
    better the data fix it. Added to the log evidence it gives ``log_model_evidence``.
    """
    tiny = 1e-300
    log_r_alpha = math.log(math.log(ALPHA_BOUNDS[1] / ALPHA_BOUNDS[0]))
    g = np.maximum(np.asarray(gamma_groups, dtype=float), tiny)
    total = float(np.sum(np.minimum(0.5 * np.log(4.0 * math.pi / g) - log_r_alpha, 0.0)))
    if not classification:
        log_r_beta = math.log(math.log(BETA_BOUNDS[1] / BETA_BOUNDS[0]))
        if gamma_outputs is None:
            dof = np.array([n_targets - gamma])
        else:
            gk = np.asarray(gamma_outputs, dtype=float)
            dof = n_targets / gk.size - gk
        total += float(np.sum(np.minimum(0.5 * np.log(4.0 * math.pi / np.maximum(dof, tiny)) - log_r_beta, 0.0)))
    return total


def model_log_evidence(net, res, ard: bool, n_targets: float) -> float:
    """ln p(D | architecture, ard) for comparing models: the log evidence of a BR result ``res``
    (:func:`evidence_fit` on ``net``), with the hyperparameters integrated out
    (:func:`hyperparameter_log_occam`) and the symmetry factor counted over the units the data
    determine (:func:`symmetry_log_factor` with each parameter's gamma) instead of all units.
    ``n_targets`` is N_e."""
    groups = parameter_groups(net, ard)[0]
    param_gamma = 1.0 - np.asarray(res.alpha)[groups] * np.diag(res.covariance)
    classification = net.loss in ("binary_crossentropy", "softmax_crossentropy")
    return float(res.log_evidence - symmetry_log_factor(net) + symmetry_log_factor(net, param_gamma)
                 + hyperparameter_log_occam(res.gamma_groups, res.gamma, n_targets, classification,
                                            res.get("gamma_outputs")))


class DataTerm:
    """E_D, its gradient and Gauss-Newton matrix at w, from a network bound to the data.

    ``fg`` is a bound objective (``Network.bind``) of a network without penalty (l2 = 0) whose
    loss is ``sse`` (E_D = 0.5 sum w_i |e_i|^2) or a cross-entropy; the cross-entropies are
    averaged by the core, so they are multiplied back by ``scale`` (the sum of the weights).
    ``output_weights`` (sse only) weigh each output's squared error: one noise precision per
    output is E_D = sum_k beta_k E_D,k, and ``o = e_k`` gives output k's own E_D,k and G_k.
    """

    def __init__(self, fg, scale: float, n_outputs: int = 1):
        self.fg, self.scale, self.n_outputs = fg, float(scale), int(n_outputs)

    def gauss_newton(self, w, output_weights=None):
        E, g, G = self.fg.gauss_newton(w, output_weights=output_weights)
        if not (np.isfinite(E) and np.all(np.isfinite(g)) and np.all(np.isfinite(G))):
            raise FloatingPointError(f"the data term or its derivatives became non-finite (E_D {E})")
        if self.scale != 1.0:  # in place: the core returned fresh arrays
            g *= self.scale
            G *= self.scale
            E *= self.scale
        return E, g, G

    def cost(self, w, output_weights=None):
        return self.fg.cost(w, output_weights=output_weights) * self.scale

    def outputs(self, w) -> Tuple[np.ndarray, List[np.ndarray]]:
        """Each output's own E_D,k and G_k (``o = e_k``; the core backpropagates only that
        output's seed, so all K together cost about one full Gauss-Newton pass and K forward
        passes). Once per evidence cycle: the steps use the weighted sum in one pass."""
        parts = [self.gauss_newton(w, np.eye(1, self.n_outputs, k)[0]) for k in range(self.n_outputs)]
        return np.array([E for E, _, _ in parts]), [G for _, _, G in parts]


def evidence_fit(
    data: DataTerm,
    x0,
    groups: np.ndarray,
    n_targets: float,
    classification: bool,
    *,
    cycles: int = CYCLES,
    inner_maxiter: Tuple[int, int] = INNER_MAXITER,
    patience: int = PATIENCE,
    min_gain: float = EVIDENCE_GAIN,
    alpha0=ALPHA0,
    beta0=None,
    noise: str = "per-output",
    log_symmetry: float = 0.0,
    callback: Optional[Callable] = None,
    on_cycle: Optional[Callable] = None,
) -> optimize.OptimizeResult:
    """Alternate the minimisation of M(w) and the re-estimation of alpha (and beta) (module docstring).

    Each cycle takes a few Levenberg-Marquardt steps on M at the current alpha, beta, then
    evaluates the log evidence there and re-estimates alpha, beta by MacKay's updates. The
    result is the cycle of highest log evidence; the cycles stop when it has not risen for
    ``patience`` cycles, when it rose by less than ``min_gain`` over the last ``patience``
    cycles, or after ``cycles``.

    Parameters
    ----------
    data : DataTerm
        E_D and its derivatives.
    x0 : array_like
        Starting weights.
    groups : ndarray of int, shape (n_params,)
        Prior group of every parameter (:func:`parameter_groups`).
    n_targets : float
        N_e, the number of target values (sum of the sample weights times the outputs).
    classification : bool
        True for the cross-entropies: beta stays 1.
    cycles : int
        Most evidence cycles.
    inner_maxiter : (int, int)
        Levenberg-Marquardt steps in the first cycle and in each later one.
    patience : int
        Cycles without a higher log evidence before stopping.
    min_gain : float
        Stop when the log evidence rose by less than this over the last ``patience`` cycles.
    alpha0 : float or array of shape (n_groups,)
        Starting precision of every group (one for all, or one per group: a warm start).
    beta0 : float, array of shape (n_outputs,) or None
        Starting noise precision (one for all outputs, or one per output); default
        N / (2 E_D(x0)) (per output with ``noise="per-output"``), the precision that the
        starting network's own errors imply (ignored for classification).
    noise : {"per-output", "shared"}
        For regression with several outputs: one noise precision beta_k per output (the
        default; E_D becomes sum_k beta_k E_D,k, A = sum_k beta_k G_k + diag(alpha), and
        beta_k = (N - gamma_k) / (2 E_D,k) with gamma_k = tr(beta_k G_k A^-1), N = N_e / K the
        weighted rows, so that sum_k gamma_k = gamma), or one beta shared by all outputs. One
        output, or a classifier, has one beta either way.
    log_symmetry : float
        ln of the number of equivalent minima, added to the log evidence.
    callback : callable or None
        ``callback(w, M)`` after every Levenberg-Marquardt step (``M`` the objective there);
        raising StopIteration ends the fit at the best cycle so far.
    on_cycle : callable or None
        ``on_cycle(record, w)`` after every cycle, with the record also stored in ``history``.

    Returns
    -------
    OptimizeResult
        Of the cycle of highest log evidence: ``x``, ``fun`` (M), ``E_D``, ``gamma``,
        ``gamma_groups``, ``alpha`` (one per group), ``beta`` (float, or an array of one per
        output with ``noise="per-output"`` and several outputs, which then also gives
        ``gamma_outputs`` and the per-output ``E_D_outputs``), ``log_evidence``,
        ``covariance`` (A^-1, P x P), ``best_cycle``; and ``nit`` (Levenberg-Marquardt steps
        in all), ``nfev``, ``cycles``, ``history`` (one dict per cycle: cycle, gamma,
        gamma_groups, alpha, beta, log_evidence, E_D, M, iterations), ``status`` (0 stopped
        by the evidence, 1 cycle limit, 2 A numerically singular (the data fitted to rounding),
        99 callback), ``success``, ``message``; ``noise_unidentified`` (bool): for regression, the
        best cycle leaves N_e - gamma < 1 residual degrees of freedom, so the data did not
        determine beta, or one output's beta_k reached :data:`PER_OUTPUT_BETA_MAX` (a
        :class:`NoiseNotIdentifiedWarning` is then issued, its text also in ``noise_message``).
    """
    x = np.array(x0, dtype=float, copy=True)
    P = x.size
    n_groups = int(groups.max()) + 1
    sizes = np.bincount(groups, minlength=n_groups).astype(float)
    alpha = np.array(np.broadcast_to(np.asarray(alpha0, dtype=float), (n_groups,)))
    if noise not in ("per-output", "shared"):
        raise ValueError(f"noise must be 'per-output' or 'shared', got {noise!r}")
    K = data.n_outputs
    per_output = not classification and noise == "per-output" and K > 1
    if classification:
        beta = 1.0
    elif per_output:
        n_rows = n_targets / K
        if beta0 is not None:
            beta = np.array(np.broadcast_to(np.asarray(beta0, dtype=float), (K,)))
        else:
            E0 = np.array([data.cost(x, np.eye(1, K, k)[0]) for k in range(K)])
            beta = np.where(E0 > 0, n_rows / (2.0 * np.maximum(E0, 1e-300)), 1.0)
        beta = np.clip(beta, BETA_BOUNDS[0], PER_OUTPUT_BETA_MAX)
    elif beta0 is not None:
        if np.size(beta0) != 1:
            raise ValueError(f"beta0 must be one number with noise 'shared' or one output, got {beta0!r}")
        beta = float(np.asarray(beta0, dtype=float).reshape(-1)[0])
    else:
        E0 = data.cost(x)
        beta = float(np.clip(n_targets / (2.0 * E0) if E0 > 0 else 1.0, *BETA_BOUNDS))
    history: List[dict] = []
    nit = nfev = 0
    status, status_message = 1, "the cycle limit was reached"
    last: dict = {}
    best: Optional[dict] = None

    def step(w):
        if callback is not None:
            callback(w, last["M"])

    for cycle in range(cycles):
        a = alpha[groups]

        def fun_gn(w):
            # beta E_D, its gradient and beta G in one pass (per output: sum_k beta_k E_D,k, ...,
            # the core weighing each output's error by its beta_k). H is A at w: LM only reads it.
            if per_output:
                BE, Bg, H = data.gauss_newton(w, beta)
            else:
                E, g, H = data.gauss_newton(w)
                BE, Bg = beta * E, beta * g
                H *= beta
                last["E"] = E
            M = BE + 0.5 * np.dot(a * w, w)
            H.flat[:: P + 1] += a
            last.update(H=H, w=w, M=M)
            return M, Bg + a * w, H

        def cost(w):
            try:
                if per_output:
                    return data.cost(w, beta) + 0.5 * np.dot(a * w, w)
                return beta * data.cost(w) + 0.5 * np.dot(a * w, w)
            except FloatingPointError:  # a trial step that overflows is rejected like an uphill one
                return np.inf

        res = lm.levenberg_marquardt(fun_gn, cost, x, inner_maxiter[0 if cycle == 0 else 1], {"min_grad": 1e-9},
                                     step)
        x, nit, nfev = res.x, nit + res.nit, nfev + res.nfev
        if last.get("w") is not x:  # LM's last Gauss-Newton evaluation was elsewhere
            fun_gn(x)
        M = last["M"]
        if per_output:  # each output's own E_D,k and G_k, for gamma_k and the beta_k updates
            Es, Gs = data.outputs(x)
            E = float(Es.sum())
        else:
            E = last["E"]
        # The Laplace approximation at x: A = beta G + diag(alpha) (sum_k beta_k G_k + diag(alpha)
        # per output), its inverse and log det.
        A = last["H"]
        try:
            chol, lower = linalg.cho_factor(A, lower=True, check_finite=False)
        except linalg.LinAlgError:
            # beta G dwarfs alpha in double precision (targets fitted to rounding, beta at its
            # bound): the Laplace approximation is no longer computable. Keep the best cycle.
            if best is None:
                raise FloatingPointError(
                    f"the posterior precision A = beta G + diag(alpha) is not numerically positive definite in "
                    f"evidence cycle {cycle + 1} (beta {np.min(beta):.3g}, alpha from {alpha.min():.3g})") from None
            status, status_message = 2, f"the posterior precision became numerically singular in cycle {cycle + 1}"
            break
        cov = linalg.cho_solve((chol, lower), np.eye(P), check_finite=False)
        EW = 0.5 * np.bincount(groups, weights=x * x, minlength=n_groups)
        gamma_g = sizes - alpha * np.bincount(groups, weights=np.diag(cov), minlength=n_groups)
        gamma = float(gamma_g.sum())
        log_ev = -M - np.sum(np.log(np.diag(chol))) + 0.5 * float(np.dot(sizes, np.log(alpha))) + log_symmetry
        extra = {}
        if per_output:
            # gamma_k = tr(beta_k G_k A^-1): the parameters output k's data determine.
            gamma_k = np.array([b * float(np.vdot(Gk, cov)) for b, Gk in zip(beta, Gs)])
            log_ev += 0.5 * n_rows * float(np.sum(np.log(beta) - math.log(2.0 * math.pi)))
            extra = dict(gamma_outputs=gamma_k, E_D_outputs=Es.copy())
        elif not classification:
            log_ev += 0.5 * n_targets * (math.log(beta) - math.log(2.0 * math.pi))
        record = dict(cycle=cycle + 1, gamma=gamma, gamma_groups=gamma_g, alpha=alpha.copy(),
                      beta=beta.copy() if per_output else beta, log_evidence=log_ev, E_D=E, M=M, iterations=res.nit,
                      **extra)
        history.append(record)
        if on_cycle is not None:
            on_cycle(record, x)
        if best is None or log_ev > best["log_evidence"]:
            best = dict(record, x=x, covariance=cov)
        if res.status == 99:
            status, status_message = 99, "`callback` raised `StopIteration`."
            break
        if cycle + 1 - best["cycle"] >= patience:
            status, status_message = 0, f"the log evidence did not rise for {patience} cycles"
            break
        if len(history) > patience and best["log_evidence"] - history[-1 - patience]["log_evidence"] < min_gain:
            status, status_message = 0, f"the log evidence rose by less than {min_gain:g} in {patience} cycles"
            break
        # MacKay's updates for the next cycle.
        alpha = np.clip(np.maximum(gamma_g, 0.0) / np.maximum(2.0 * EW, 1e-300), *ALPHA_BOUNDS)
        if per_output:
            beta = np.clip(np.maximum(n_rows - gamma_k, 1e-3) / np.maximum(2.0 * Es, 1e-300), BETA_BOUNDS[0],
                           PER_OUTPUT_BETA_MAX)
        elif not classification:
            beta = float(np.clip(max(n_targets - gamma, 1e-3) / max(2.0 * E, 1e-300), *BETA_BOUNDS))

    # The re-estimate beta = (N_e - gamma) / 2 E_D rests on N_e - gamma residual degrees of
    # freedom; below one (1 or 2 rows, a network through every target) it is an artefact of the
    # start and of the bounds (often the bound 1e12 itself), not a measurement of the noise.
    message = ""
    if per_output:
        worst = int(np.argmin(n_rows - best["gamma_outputs"]))
        capped = np.flatnonzero(best["beta"] >= PER_OUTPUT_BETA_MAX)
        if n_rows - best["gamma_outputs"][worst] < 1.0:
            message = (f"the data do not determine the noise precision of output {worst}: {n_rows:g} rows and "
                       f"{best['gamma_outputs'][worst]:.3g} effective parameters leave fewer than one residual degree "
                       f"of freedom (beta {best['beta'][worst]:.3g})")
        elif capped.size:
            message = (f"output {int(capped[0])} is fitted to within 1e-3 of its spread (a target computed from the "
                       f"inputs?): its noise precision is held at {PER_OUTPUT_BETA_MAX:g}, so that it does not decide "
                       "the model for the other outputs")
    elif not classification and n_targets - best["gamma"] < 1.0:
        message = (f"the data do not determine the noise precision: {n_targets:g} target values and "
                   f"{best['gamma']:.3g} effective parameters leave fewer than one residual degree of freedom (beta "
                   f"{best['beta']:.3g}, bounds {BETA_BOUNDS[0]:g} to {BETA_BOUNDS[1]:g})")
    if message:
        message += "; predictive standard deviations are not supported by the data"
        warnings.warn(NoiseNotIdentifiedWarning(message), stacklevel=2)
    noise_unidentified = bool(message)
    return optimize.OptimizeResult(
        x=best["x"], fun=best["M"], E_D=best["E_D"], gamma=best["gamma"], gamma_groups=best["gamma_groups"],
        alpha=best["alpha"], beta=best["beta"], log_evidence=best["log_evidence"], covariance=best["covariance"],
        best_cycle=best["cycle"], nit=nit, nfev=nfev, cycles=len(history), history=history, status=status,
        success=status in (0, 2), message=status_message, noise_unidentified=noise_unidentified, noise_message=message,
        **({"gamma_outputs": best["gamma_outputs"], "E_D_outputs": best["E_D_outputs"]} if per_output else {}),
    )


#: Trainer options of method "BR" (``Trainer(..., options={...})``) and their defaults.
OPTIONS = {"ard": False, "alpha0": ALPHA0, "beta0": None, "patience": PATIENCE, "inner_maxiter": INNER_MAXITER,
           "noise": "per-output"}


def check_options(options: Optional[dict]) -> dict:
    """The Bayesian-regularisation options: :data:`OPTIONS` updated by ``options``, each checked."""
    opts = dict(OPTIONS)
    for name, value in dict(options or {}).items():
        if name not in OPTIONS:
            raise ValueError(f"unknown Bayesian-regularisation option {name!r}: expected one of {', '.join(OPTIONS)}")
        opts[name] = value
    if not isinstance(opts["ard"], (bool, np.bool_)):
        raise TypeError(f"option ard must be a bool, got {type(opts['ard']).__name__}")
    a = opts["alpha0"]
    if isinstance(a, (np.ndarray, list, tuple)):
        a = np.asarray(a)
        if a.ndim != 1 or a.dtype.kind not in "fi" or not np.all(np.isfinite(a)) or not np.all(a > 0):
            raise ValueError(f"option alpha0 must be a finite number > 0 or a 1-D array of them, got {opts['alpha0']!r}")
    if opts["noise"] not in ("per-output", "shared"):
        raise ValueError(f"option noise must be 'per-output' or 'shared', got {opts['noise']!r}")
    b = opts["beta0"]
    if isinstance(b, (np.ndarray, list, tuple)):
        b = np.asarray(b)
        if b.ndim != 1 or b.dtype.kind not in "fi" or not np.all(np.isfinite(b)) or not np.all(b > 0):
            raise ValueError(f"option beta0 must be a finite number > 0 or a 1-D array of them (one per output), "
                             f"got {opts['beta0']!r}")
    names = [n for n, v in (("alpha0", a), ("beta0", b)) if not isinstance(v, np.ndarray)]
    for name in names:
        v = opts[name]
        if v is None and name == "beta0":
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"option {name} must be a real number, got {type(v).__name__}")
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"option {name} must be a finite number > 0, got {v}")
    steps = opts["inner_maxiter"]
    if (not isinstance(steps, (tuple, list)) or len(steps) != 2
            or not all(isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)) and k >= 1
                       for k in steps)):
        raise ValueError(f"option inner_maxiter must be two ints >= 1 (first cycle, later cycles), got {steps!r}")
    opts["inner_maxiter"] = (int(steps[0]), int(steps[1]))
    v = opts["patience"]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"option patience must be an int, got {type(v).__name__}")
    if v < 1:
        raise ValueError(f"option patience must be >= 1, got {v}")
    return opts


def bind_data(net, X, y, sample_weight=None) -> Tuple[DataTerm, float, bool]:
    """E_D of ``net``'s architecture on (X, y): ``(DataTerm, N_e, classification)``.

    ``sse`` and ``mse`` both become E_D = 0.5 sum_i w_i |y_i - yhat_i|^2 (the evidence needs the
    sum, not the mean); the cross-entropies their summed form. The network's own ``l2`` plays
    no part: the prior precisions replace it.
    """
    classification = net.loss in ("binary_crossentropy", "softmax_crossentropy")
    spec = dict(net.spec(), l2=0.0, loss=net.loss if classification else "sse")
    data_net = type(net)(**spec)
    fg = data_net.bind(X, y, sample_weight)
    n_rows = float(np.sum(sample_weight)) if sample_weight is not None else float(fg.n_samples)
    scale = n_rows if classification else 1.0
    return DataTerm(fg, scale, net.layer_sizes[-1]), n_rows * net.layer_sizes[-1], classification


def predictive_variance(jacobian: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """g^T A^-1 g for every row and output: ``jacobian`` (N, k, P), ``covariance`` (P, P) -> (N, k)."""
    return np.einsum("nkp,pq,nkq->nk", jacobian, covariance, jacobian, optimize=True)
