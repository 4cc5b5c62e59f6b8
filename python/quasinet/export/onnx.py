"""Export to ONNX: one graph computing the network with its scaling (and a classifier's labels).

The graph, for input ``X`` (N, n_inputs):

- ``(X - x_offset) / x_scale`` when the model stores input scaling;
- per layer ``MatMul`` by W, ``Add`` of b, then the activation;
- ``out * y_scale + y_offset`` when the model stores target scaling;
- outputs: ``predictions`` (N, n_outputs) for a network or a regressor; for a classifier
  ``probabilities`` (N, n_classes, one sigmoid output p gives the columns [1 - p, p]) and
  ``labels`` (N,), the most probable class decoded to the original labels (first one on a tie,
  as NumPy's argmax).

Activations are written so that onnxruntime reproduces quasinet to rounding in float64:

- sigmoid is composed as ``e = exp(-|z|)``, ``where(z >= 0, 1, e) / (1 + e)``, the core's own
  formula: onnxruntime's float64 ``Sigmoid`` loses relative accuracy far in the negative tail;
- softplus as ``relu(z) + log1p(exp(-|z|))`` with ``log1p(e) = log(u) * e / (u - 1)``,
  ``u = 1 + e`` (exact when ``u == 1``): onnxruntime has no float64 ``Softplus`` and ONNX no
  ``log1p``, and ``log(1 + e)`` alone would lose all relative accuracy for very negative z;
- tanh, relu and softmax are the ONNX operators (within an ulp or so in onnxruntime).
"""

from __future__ import annotations

import numbers
import os
from typing import List

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("quasinet.export.to_onnx needs the onnx package: pip install 'quasinet[export]'") from exc

from ._common import deployable

#: Opsets the exporter writes: 13 is the first with today's Softmax (over the last axis).
MIN_OPSET = 13

_DTYPES = {"float64": (np.float64, TensorProto.DOUBLE), "float32": (np.float32, TensorProto.FLOAT)}


class _Graph:
    """Nodes and initializers under construction, with unique names."""

    def __init__(self, np_dtype):
        self.np_dtype = np_dtype
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


def to_onnx(obj, path=None, *, dtype: str = "float64", opset: int = 17) -> "onnx.ModelProto":
    """Export a network, a model or a fitted estimator to an ONNX model.

    Parameters
    ----------
    obj : Network, quasinet.io.Model or fitted QuasiNetRegressor / QuasiNetClassifier
        Its stored input and target scaling become nodes of the graph.
    path : str or os.PathLike, optional
        Where to write the model (``.onnx``); nothing is written when None.
    dtype : {"float64", "float32"}
        Type of the input, the weights and the outputs. onnxruntime's float64 outputs equal
        quasinet's to about 1e-15 (tests: 1e-12); float32 to about 1e-6 (tests: 1e-5).
    opset : int
        ONNX opset of the default domain, at least 13 (default 17). The IR version is the
        lowest one that carries this opset, so current runtimes load the model.

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (N, n_inputs). Outputs ``predictions`` (N, n_outputs) for a network or a
        regressor (in target units); ``probabilities`` (N, n_classes) and ``labels`` (N,) for
        a classifier. Checked with ``onnx.checker.check_model(..., full_check=True)``.
    """
    model = deployable(obj)
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, (bool, np.bool_)) or not isinstance(opset, numbers.Integral):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must lie in [{MIN_OPSET}, {newest}] (this onnx package's newest), got {opset}")
    np_dtype, elem = _DTYPES[dtype]
    g = _Graph(np_dtype)
    net = model.net

    h = "X"
    if model.x_offset is not None:
        h = g.op("Sub", [h, g.const("x_offset", model.x_offset)], "x_centred")
        h = g.op("Div", [h, g.const("x_scale", model.x_scale)], "x_scaled")
    n_layers = len(net.weights)
    biases = net.biases if net.bias else [None] * n_layers
    for l, (W, b) in enumerate(zip(net.weights, biases)):
        z = g.op("MatMul", [h, g.const(f"W{l}", W)], f"z{l}")
        if b is not None:
            z = g.op("Add", [z, g.const(f"b{l}", b)], f"z{l}")
        h = _activate(g, net.output_activation if l == n_layers - 1 else net.activation, z)
    if model.y_offset is not None:
        h = g.op("Mul", [h, g.const("y_scale", model.y_scale)], "y_scaled")
        h = g.op("Add", [h, g.const("y_offset", model.y_offset)], "y")

    outputs = []
    if model.classes is None:
        g.nodes.append(helper.make_node("Identity", [h], ["predictions"]))
        outputs.append(helper.make_tensor_value_info("predictions", elem, ["N", model.n_outputs]))
    else:
        if model.n_outputs == 1:
            h = g.op("Concat", [g.op("Sub", [g.const("one", [[1.0]]), h], "p0"), h], "proba", axis=1)
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
        n_classes = 2 if model.n_outputs == 1 else model.n_outputs
        outputs.append(helper.make_tensor_value_info("probabilities", elem, ["N", n_classes]))
        outputs.append(helper.make_tensor_value_info("labels", label_type, ["N"]))

    graph = helper.make_graph(
        g.nodes, "quasinet", [helper.make_tensor_value_info("X", elem, ["N", model.n_inputs])], outputs,
        initializer=g.inits,
        doc_string=f"quasinet network {'-'.join(map(str, net.layer_sizes))}, {net.activation} hidden, "
                   f"{net.output_activation} output",
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="quasinet")
    # make_model stamps this onnx package's newest IR version, which older runtimes refuse.
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"cannot write {path}: no such directory {directory}")
        onnx.save_model(proto, path)
    return proto
