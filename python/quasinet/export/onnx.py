"""Export to ONNX: one graph computing what the model predicts, with its scaling, its classes and
(for a model trained by Bayesian regularisation) its posterior.

The graph, for input ``X`` (N, n_inputs):

- ``(X - x_offset) / x_scale`` when the model stores input scaling;
- per layer ``MatMul`` by W, ``Add`` of b, then the activation;
- ``out * y_scale + y_offset`` when the model stores target scaling;
- outputs: ``predictions`` (N, n_outputs) for a network or a regressor; for a classifier
  ``probabilities`` (N, n_classes, one sigmoid output p gives the columns [1 - p, p]) and
  ``labels`` (N,), the most probable class decoded to the original labels (first one on a tie,
  as NumPy's argmax).

With the posterior (a model whose ``posterior`` is set) the graph also runs, per output k, a
backward pass through the network for the gradient g_k = d out_k / d theta of every row
(``Mul`` of each layer's input by its delta for the weights, ``MatMul`` by the transposed
weights and the activation's derivative for the next delta), concatenated in the layout of
the parameters, and the quadratic form g^T A^-1 g = ||g L||^2 with the stored
lower-triangular factor L of the covariance, A^-1 = L L^T
(:func:`~quasinet.export.covariance_factor`):

- a regressor gets a second output ``std`` (N, n_outputs): sqrt(g^T A^-1 g + 1/beta) times
  the target scale, as ``predict(X, return_std=True)`` (1/beta a scalar constant, or one of
  shape (n_outputs,) that broadcasts over the rows when the posterior has one beta per output);
- a classifier with ``moderate`` gets MacKay's moderated ``probabilities``, as
  ``predict_proba``: a sigmoid's logit z (g = d z / d theta) divided by
  sqrt(1 + pi g^T A^-1 g / 8) before the sigmoid; a softmax's by the pairwise form of
  :func:`quasinet.posterior.softmax_moderated`, from the variance of each difference z_k - z_c
  of two logits (g = d (z_k - z_c) / d theta).

A committee (a model with several ``members``, :class:`quasinet.io.Model`) becomes one graph:
each member's layers (and, with the posterior, its own factor L_m and backward passes) on the
shared scaled input, their names prefixed ``m0_``, ``m1_``, ..., then what ``Model`` computes
from them, each mean summed in member order and divided by their number M as ``np.mean`` does:

- ``predictions``: the mean of the members' outputs mu_m, then the target scaling;
- ``std``: of the equal mixture of the members' Gaussians,
  sqrt(mean_m(v_m + (mu_m - mean)^2)) with v_m = g_m^T A_m^-1 g_m + 1/beta_m (each
  member's own beta, one or one per output), then the target scale;
- ``probabilities``: the mean of the members' class probabilities (each moderated when the
  model moderates; a sigmoid member's as its two columns [1 - p, p]), and ``labels`` their
  most probable class.

The outputs, their names and shapes are those of a single network.

Cost: per row and output P^2 multiply-adds in one ``MatMul`` by L (P = number of
parameters), and intermediate tensors of N x P numbers per output; run large N in batches.
A committee costs the sum of its members' costs (sum of P_m^2, no cross terms).

The model's input, target and class names are stored as metadata (``inputs``, ``targets``,
``classes``, ``info``), each as one line of :func:`~quasinet.export.escape_text` text.

Activations are written so that onnxruntime reproduces quasinet to rounding in float64:

- sigmoid is composed as ``e = exp(-|z|)``, ``where(z >= 0, 1, e) / (1 + e)``, the core's own
  formula: onnxruntime's float64 ``Sigmoid`` loses relative accuracy far in the negative tail;
- softplus as ``relu(z) + log1p(exp(-|z|))`` with ``log1p(e) = log(u) * e / (u - 1)``,
  ``u = 1 + e`` (exact when ``u == 1``): onnxruntime has no float64 ``Softplus`` and ONNX no
  ``log1p``, and ``log(1 + e)`` alone would lose all relative accuracy for very negative z;
- tanh, relu and softmax are the ONNX operators (within an ulp or so in onnxruntime);
- the derivatives, as the core computes them from the pre-activation z: tanh'(z) as
  ``4 e / (1 + e)^2`` with ``e = exp(-2|z|)`` (onnxruntime has no float64 ``Cosh``), sigmoid'
  as ``e / (1 + e)^2`` with ``e = exp(-|z|)``, softplus' as the sigmoid above, relu' as
  ``z > 0``.
"""

from __future__ import annotations

import json
import numbers
from typing import List, Optional, Tuple

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("quasinet.export.to_onnx needs the onnx package: pip install 'quasinet[export]'") from exc

from ..files import atomic_write
from ._common import (as_model, check_exportable, covariance_factor, format_names, model_arrays, noise_variance,
                      uses_posterior)

#: Opsets the exporter writes: 13 is the first with today's Softmax (over the last axis).
MIN_OPSET = 13

_DTYPES = {"float64": (np.float64, TensorProto.DOUBLE), "float32": (np.float32, TensorProto.FLOAT)}


class _Graph:
    """Nodes and initializers under construction, with unique names."""

    def __init__(self, np_dtype, elem):
        self.np_dtype, self.elem = np_dtype, elem
        self.nodes: List = []
        self.inits: List = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, value, dtype=None) -> str:
        arr = np.asarray(value, dtype=dtype or self.np_dtype)
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(arr, name=name))
        return name

    def op(self, op_type: str, inputs, hint: str = None, **attrs) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def _sigmoid(g: _Graph, z: str) -> str:
    e = g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])], "exp_neg_abs")
    num = g.op("Where", [g.op("GreaterOrEqual", [z, g.const("zero", 0.0)]), g.const("one", 1.0), e])
    return g.op("Div", [num, g.op("Add", [g.const("one", 1.0), e])], "sigmoid")


def _softplus(g: _Graph, z: str) -> str:
    e = g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])], "exp_neg_abs")
    u = g.op("Add", [g.const("one", 1.0), e], "u")
    d = g.op("Sub", [u, g.const("one", 1.0)], "u_minus_1")
    exact = g.op("Equal", [d, g.const("zero", 0.0)], "u_is_1")
    # log1p(e) = log(u) * e / (u - 1) (Goldberg); where u rounds to 1, log1p(e) = e to rounding.
    safe_d = g.op("Where", [exact, g.const("one", 1.0), d])
    ratio = g.op("Mul", [g.op("Log", [u]), g.op("Div", [e, safe_d])])
    log1p = g.op("Where", [exact, e, ratio], "log1p")
    return g.op("Add", [g.op("Relu", [z]), log1p], "softplus")


def _activate(g: _Graph, name: str, z: str) -> str:
    if name == "sigmoid":
        return _sigmoid(g, z)
    if name == "softplus":
        return _softplus(g, z)
    if name == "tanh":
        return g.op("Tanh", [z])
    if name == "relu":
        return g.op("Relu", [z])
    if name == "identity":
        return z
    if name == "softmax":
        return g.op("Softmax", [z], axis=-1)
    raise ValueError(f"unknown activation {name!r}")  # pragma: no cover - Network validates


def _class_tensor(classes) -> np.ndarray:
    """The labels as one typed array: int64, float64, or strings (mixed labels become strings)."""
    if all(isinstance(c, numbers.Integral) for c in classes):
        return np.array(classes, dtype=np.int64)
    if all(isinstance(c, numbers.Real) for c in classes):
        return np.array(classes, dtype=np.float64)
    return np.array([str(c) for c in classes], dtype=object)


def _derivative(g: _Graph, name: str, z: str) -> str:
    """f'(z) of an elementwise activation, computed from z as the core does (module docstring)."""
    if name == "sigmoid":
        e = g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])], "exp_neg_abs")
        u = g.op("Add", [g.const("one", 1.0), e], "u")
        return g.op("Div", [e, g.op("Mul", [u, u])], "sigmoid_prime")
    if name == "softplus":
        return _sigmoid(g, z)
    if name == "tanh":
        e = g.op("Exp", [g.op("Mul", [g.const("minus_two", -2.0), g.op("Abs", [z])])], "exp_m2abs")
        u = g.op("Add", [g.const("one", 1.0), e], "u")
        return g.op("Div", [g.op("Mul", [g.const("four", 4.0), e]), g.op("Mul", [u, u])], "tanh_prime")
    if name == "relu":
        return g.op("Cast", [g.op("Greater", [z, g.const("zero", 0.0)])], "relu_prime", to=g.elem)
    raise ValueError(f"no elementwise derivative for {name!r}")  # pragma: no cover - callers handle the rest


class _Layer:
    """One layer as the graph holds it: its input h (N, n_in), pre-activation z (N, n_out), W and b."""

    def __init__(self, h: str, z: str, W: str, b: Optional[str], n_in: int, n_out: int):
        self.h, self.z, self.W, self.b, self.n_in, self.n_out = h, z, W, b, n_in, n_out


def _param_gradient(g: _Graph, layers: List[_Layer], back: List, delta: str) -> str:
    """d out / d theta of every row, (N, P) in the layout of the parameters, from the output
    layer's delta = d out / d z_L (N, n_out): the backward pass. ``back[l]`` (l >= 1) holds the
    names of W_l^T and of the hidden derivative f'(z_{l-1}) (None for identity), shared by
    the passes of all outputs."""
    axis1, axis2 = g.const("axis1", [1], np.int64), g.const("axis2", [2], np.int64)
    flat = g.const("flat", [0, -1], np.int64)
    parts: List[str] = []
    for l in range(len(layers) - 1, -1, -1):
        lay = layers[l]
        # dW[i, j] = h_i delta_j, row-major like W.
        outer = g.op("Mul", [g.op("Unsqueeze", [lay.h, axis2]), g.op("Unsqueeze", [delta, axis1])], f"dW{l}")
        block = [g.op("Reshape", [outer, flat], f"dW{l}_flat")]
        if lay.b is not None:
            block.append(delta)
        parts = block + parts
        if l > 0:
            W_T, deriv = back[l]
            delta = g.op("MatMul", [delta, W_T], f"dh{l - 1}")
            if deriv is not None:
                delta = g.op("Mul", [delta, deriv], f"delta{l - 1}")
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, "grad", axis=1)


def _variances(g: _Graph, layers: List[_Layer], hidden: str, output: Optional[str], out: str, L: str,
               seeds=None) -> str:
    """g_k^T A^-1 g_k = ||g_k L||^2 for every row and output k, (N, n_outputs).

    ``output`` is the output activation the gradient goes through (None: the logits z_L);
    ``out`` its value (for softmax). With ``seeds`` (S, n_outputs) and ``output`` None: the
    variance of each combination seeds[s] . z_L of the logits instead, (N, S) (the backward
    pass is linear in its seed)."""
    zL, K = layers[-1].z, layers[-1].n_out
    back = [None] + [(g.op("Transpose", [layers[l].W], f"W{l}_T"),
                      None if hidden == "identity" else _derivative(g, hidden, layers[l - 1].z))
                     for l in range(1, len(layers))]
    axes = g.const("axes1", [1], np.int64)
    shape = g.op("Shape", [zL], "shape_zL")
    output_deriv = None if output in (None, "identity", "softmax") else _derivative(g, output, zL)
    columns = []
    for k, seed in enumerate(np.eye(K) if seeds is None else np.asarray(seeds, dtype=np.float64)):
        onehot = g.const(f"seed{k}", seed[None, :])  # the unit vector e_k unless seeds are given
        if output_deriv is None and output != "softmax":
            delta = g.op("Expand", [onehot, shape], f"seed{k}")
        elif output == "softmax":
            # d p_k / d z_j = -p_k p_j off the diagonal and p_k (1 - p_k) on it, with 1 - p_k
            # summed from the other probabilities (no cancellation where p_k is near 1).
            others = g.const(f"not{k}", 1.0 - np.eye(K)[k : k + 1])
            pk = g.op("Gather", [out, g.const(f"k{k}", [k], np.int64)], f"p{k}", axis=1)
            rest = g.op("ReduceSum", [g.op("Mul", [out, others]), axes], f"others{k}", keepdims=1)
            signed = g.op("Sub", [g.op("Mul", [onehot, rest]), g.op("Mul", [others, out])])
            delta = g.op("Mul", [pk, signed], f"seed{k}")
        else:
            delta = g.op("Mul", [output_deriv, onehot], f"seed{k}")
        gL = g.op("MatMul", [_param_gradient(g, layers, back, delta), L], f"gL{k}")
        columns.append(g.op("ReduceSum", [g.op("Mul", [gL, gL]), axes], f"var{k}", keepdims=1))
    return columns[0] if len(columns) == 1 else g.op("Concat", columns, "var", axis=1)


def _kappa(g: _Graph, var: str) -> str:
    """MacKay's moderation divisor sqrt(1 + pi var / 8) of a logit (or a difference of logits)
    whose variance is ``var``."""
    spread = g.op("Div", [g.op("Mul", [g.const("pi", np.pi), var]), g.const("eight", 8.0)])
    return g.op("Sqrt", [g.op("Add", [g.const("one", 1.0), spread])], "kappa")


def _softmax_moderated(g: _Graph, layers: List[_Layer], hidden: str, L: str) -> str:
    """The moderated softmax of :func:`quasinet.posterior.softmax_moderated`, (N, K): the variance
    v_kc of every difference z_k - z_c of the logits, then softmax_k of
    -log sum_c exp(-(z_k - z_c) / sqrt(1 + pi v_kc / 8)) (v_kk = 0)."""
    z, K = layers[-1].z, layers[-1].n_out
    pairs = [(k, c) for k in range(K) for c in range(k + 1, K)]
    seeds = np.zeros((len(pairs), K))
    for i, (k, c) in enumerate(pairs):
        seeds[i, k], seeds[i, c] = 1.0, -1.0
    var = _variances(g, layers, hidden, None, "", L, seeds=seeds)  # (N, pairs)
    # The K x K matrix of variances, row-major, from the pairs' columns and zeros on the diagonal.
    column = {}
    for i, (k, c) in enumerate(pairs):
        column[k, c] = column[c, k] = g.op("Gather", [var, g.const(f"pair{i}", [i], np.int64)], f"v{k}_{c}", axis=1)
    zero = g.op("Mul", [column[0, 1], g.const("zero", 0.0)], "zeros")
    full = g.op("Concat", [column.get((k, c), zero) for k in range(K) for c in range(K)], "v_flat", axis=1)
    v = g.op("Reshape", [full, g.const("shape_kk", [-1, K, K], np.int64)], "v")
    axis1, axis2 = g.const("axis1", [1], np.int64), g.const("axis2", [2], np.int64)
    d = g.op("Sub", [g.op("Unsqueeze", [z, axis2]), g.op("Unsqueeze", [z, axis1])], "z_diff")  # z_k - z_c
    t = g.op("Neg", [g.op("Div", [d, _kappa(g, v)])], "t")
    # A log-sum-exp shifted by its maximum: the exponents reach far beyond exp's range. (The
    # maximum by ArgMax: ReduceMax's axes moved from attribute to input in opset 18.)
    top = g.op("GatherElements", [t, g.op("ArgMax", [t], "t_argmax", axis=2, keepdims=1)], "t_max", axis=2)
    total = g.op("ReduceSum", [g.op("Exp", [g.op("Sub", [t, top])]), axis2], "t_sum", keepdims=1)
    lse = g.op("Add", [top, g.op("Log", [total])], "t_lse")
    log_p = g.op("Neg", [g.op("Squeeze", [lse, axis2])], "log_p_pairwise")
    return _activate(g, "softmax", log_p)


def _member(g: _Graph, net, x: str, factor: Optional[np.ndarray], moderate: bool, std: bool,
            tag: str) -> Tuple[str, Optional[str]]:
    """One network on the scaled input ``x``: its output (N, n_outputs) in the network's units
    (moderated when ``moderate``; a sigmoid classifier's one column), and with ``std`` its
    g^T A^-1 g (N, n_outputs) from its covariance factor, else None. ``tag`` prefixes the
    names of its weights and layers (a committee's member)."""
    n_layers = len(net.weights)
    biases = net.biases if net.bias else [None] * n_layers
    layers: List[_Layer] = []
    h = x
    for l, (W, b) in enumerate(zip(net.weights, biases)):
        W_name = g.const(f"{tag}W{l}", W)
        z = g.op("MatMul", [h, W_name], f"{tag}z{l}")
        b_name = None
        if b is not None:
            b_name = g.const(f"{tag}b{l}", b)
            z = g.op("Add", [z, b_name], f"{tag}z{l}")
        layers.append(_Layer(h, z, W_name, b_name, W.shape[0], W.shape[1]))
        if l == n_layers - 1 and moderate:
            break  # the output activation comes after the moderation
        h = _activate(g, net.output_activation if l == n_layers - 1 else net.activation, z)
    L_name = g.const(f"{tag}L", factor) if factor is not None else None
    if moderate and net.output_activation == "softmax":
        h = _softmax_moderated(g, layers, net.activation, L_name)
    elif moderate:
        var = _variances(g, layers, net.activation, None, "", L_name)
        h = _activate(g, net.output_activation, g.op("Div", [layers[-1].z, _kappa(g, var)], "z_moderated"))
    var = _variances(g, layers, net.activation, net.output_activation, h, L_name) if std else None
    return h, var


def _both_columns(g: _Graph, p: str) -> str:
    """A sigmoid's probability p (N, 1) as the two classes' columns [1 - p, p], as
    :func:`quasinet.metrics.class_probabilities` forms them."""
    return g.op("Concat", [g.op("Sub", [g.const("one", [[1.0]]), p], "p0"), p], "proba", axis=1)


def _mean(g: _Graph, names: List[str], hint: str) -> str:
    """The mean of equally shaped tensors, summed in order then divided by their count, as
    ``np.mean(..., axis=0)`` forms it (so the graph rounds as quasinet does)."""
    total = names[0]
    for name in names[1:]:
        total = g.op("Add", [total, name], f"{hint}_sum")
    return g.op("Div", [total, g.const("count", float(len(names)))], hint)


def _committee(g: _Graph, model, x: str, factors: Optional[List[np.ndarray]], moderate: bool,
               std: bool) -> Tuple[str, Optional[str]]:
    """The model's networks on the scaled input ``x``, as :class:`quasinet.io.Model` averages
    them: the mean of the members' outputs (a classifier: of their class probabilities, both
    columns for a sigmoid) in the network's units, and with ``std`` the standard deviation of the
    equal mixture of the members' Gaussians, sqrt(mean_m(v_m + (mu_m - mean)^2)) with
    v_m = g_m^T A_m^-1 g_m + 1/beta_m (:func:`quasinet.posterior.predictive_moments`), else None.
    A single network is its own mean and its standard deviation sqrt(v): no averaging nodes, and
    its names carry no member prefix."""
    single = len(model.members) == 1
    outs, variances = [], []
    for k, (net, _) in enumerate(model.members):
        tag = "" if single else f"m{k}_"
        out, var = _member(g, net, x, None if factors is None else factors[k], moderate, std, tag)
        if model.classes is not None and net.layer_sizes[-1] == 1:
            out = _both_columns(g, out)
        outs.append(out)
        if std:
            variances.append(g.op("Add", [var, g.const(f"{tag}noise_var", noise_variance(model, k))], f"{tag}var"))
    if single:
        return outs[0], g.op("Sqrt", [variances[0]], "std_net") if std else None
    mean = _mean(g, outs, "mean")
    if not std:
        return mean, None
    # Each member's variance plus its squared distance from the mean: a sum of non-negative terms,
    # without the cancellation of the second moment minus the squared mean.
    spread = []
    for k, (out, v) in enumerate(zip(outs, variances)):
        d = g.op("Sub", [out, mean], f"m{k}_dev")
        spread.append(g.op("Add", [v, g.op("Mul", [d, d], f"m{k}_dev2")], f"m{k}_spread"))
    return mean, g.op("Sqrt", [_mean(g, spread, "mixture_var")], "std_net")


def to_onnx(obj, path=None, *, dtype: str = "float64", opset: int = 17,
            return_std: Optional[bool] = None) -> "onnx.ModelProto":
    """Export a network, a model or a fitted estimator to an ONNX model that predicts as it does.

    Parameters
    ----------
    obj : Network, quasinet.io.Model or fitted QuasiNetRegressor / QuasiNetClassifier
        Its stored input and target scaling become nodes of the graph; a posterior (Bayesian
        regularisation) becomes the standard deviation or the moderation; a committee of
        several networks becomes one graph that averages them as the model does (module
        docstring).
    path : str or os.PathLike, optional
        Where to write the model (``.onnx``), through a temporary file beside it renamed over
        it when complete (an error or an interrupt leaves any previous file as it was);
        nothing is written when None.
    dtype : {"float64", "float32"}
        Type of the input, the weights and the outputs. onnxruntime's float64 outputs equal
        quasinet's to about 1e-15 (tests: 1e-12); float32 to about 1e-6 (tests: 1e-5; the
        standard deviation and moderated probabilities 1e-4). float32 refuses numbers it cannot
        hold (ValueError) instead of rounding them to infinity or zero.
    opset : int
        ONNX opset of the default domain, at least 13 (default 17). The IR version is the
        lowest one that carries this opset, so current runtimes load the model.
    return_std : bool or None
        Add the output ``std``, the predictive standard deviation of a regressor with a
        posterior. None (default): when the model has one. True for a model without a
        posterior, or for a classifier, raises ValueError.

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (N, n_inputs). Outputs ``predictions`` (N, n_outputs) for a network or a
        regressor (in target units), then ``std`` (N, n_outputs) with ``return_std``;
        ``probabilities`` (N, n_classes) and ``labels`` (N,) for a classifier (moderated when
        the model moderates). Checked with ``onnx.checker.check_model(..., full_check=True)``.

    Raises
    ------
    ValueError
        NaN or infinite numbers in the model; float32 values out of its range; a posterior
        needed for a network above :data:`~quasinet.export.MAX_POSTERIOR_PARAMS` parameters.
    """
    model = as_model(obj)
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, (bool, np.bool_)) or not isinstance(opset, numbers.Integral):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must lie in [{MIN_OPSET}, {newest}] (this onnx package's newest), got {opset}")
    std, moderate = uses_posterior(model, return_std)
    members = model.members
    factors = [covariance_factor(p.covariance) for _, p in members] if std or moderate else None
    check_exportable(model_arrays(model, factors), dtype)
    np_dtype, elem = _DTYPES[dtype]
    g = _Graph(np_dtype, elem)
    net = model.net
    n_outputs = net.layer_sizes[-1]

    x = "X"
    if model.x_offset is not None:
        x = g.op("Sub", [x, g.const("x_offset", model.x_offset)], "x_centred")
        x = g.op("Div", [x, g.const("x_scale", model.x_scale)], "x_scaled")
    h, std_name = _committee(g, model, x, factors, moderate, std)
    if model.y_offset is not None:  # y_scale is set exactly when y_offset is (quasinet.io.Model)
        y_scale = g.const("y_scale", model.y_scale)
        if std_name is not None:
            std_name = g.op("Mul", [std_name, y_scale], "std_y")
        h = g.op("Mul", [h, y_scale], "y_scaled")
        h = g.op("Add", [h, g.const("y_offset", model.y_offset)], "y")

    outputs = []
    if model.classes is None:
        g.nodes.append(helper.make_node("Identity", [h], ["predictions"]))
        outputs.append(helper.make_tensor_value_info("predictions", elem, ["N", n_outputs]))
        if std_name is not None:
            g.nodes.append(helper.make_node("Identity", [std_name], ["std"]))
            outputs.append(helper.make_tensor_value_info("std", elem, ["N", n_outputs]))
    else:
        g.nodes.append(helper.make_node("Identity", [h], ["probabilities"]))
        index = g.op("ArgMax", ["probabilities"], "class_index", axis=1, keepdims=0)
        labels = _class_tensor(model.classes)
        if labels.dtype == object:
            classes = g.name("classes")
            g.inits.append(helper.make_tensor(classes, TensorProto.STRING, [labels.size],
                                              [s.encode("utf-8") for s in labels]))
            label_type = TensorProto.STRING
        else:
            classes = g.const("classes", labels, dtype=labels.dtype)
            label_type = TensorProto.INT64 if labels.dtype == np.int64 else TensorProto.DOUBLE
        g.nodes.append(helper.make_node("Gather", [classes, index], ["labels"], axis=0))
        n_classes = 2 if n_outputs == 1 else n_outputs
        outputs.append(helper.make_tensor_value_info("probabilities", elem, ["N", n_classes]))
        outputs.append(helper.make_tensor_value_info("labels", label_type, ["N"]))

    what = ("moderated probabilities" if moderate else "probabilities" if model.classes is not None
            else "predictions and predictive standard deviation" if std else "predictions")
    shapes = ", ".join("-".join(map(str, m.layer_sizes)) for m, _ in members)
    shapes = f"network {shapes}" if len(members) == 1 else f"committee of {len(members)} networks {shapes}"
    graph = helper.make_graph(
        g.nodes, "quasinet", [helper.make_tensor_value_info("X", elem, ["N", net.layer_sizes[0]])], outputs,
        initializer=g.inits,
        doc_string=f"quasinet {shapes}, {net.activation} hidden, {net.output_activation} output: {what}",
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="quasinet")
    # make_model stamps this onnx package's newest IR version, which older runtimes refuse.
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    props = {}
    for key in ("inputs", "targets", "classes"):
        if getattr(model, key) is not None:
            props[key] = format_names(getattr(model, key))
    if model.info:
        props["info"] = format_names([json.dumps(model.info, sort_keys=True, default=repr, ensure_ascii=False)])
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        data = proto.SerializeToString()
        with atomic_write(path, "wb") as f:
            f.write(data)
    return proto
