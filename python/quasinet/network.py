"""The :class:`Network`: architecture, the flat parameter buffer and its views, cost and gradient."""

from __future__ import annotations

import numbers
import warnings
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _core, modelfile
from .checks import (  # noqa: F401  (public names of this module too)
    GAUSS_NEWTON_MAX_PARAMS,
    HESSIAN_KINDS,
    check_gauss_newton_size,
    check_kind,
    count_params,
    is_dask,
)

#: Hidden-layer activations (aliases: ``logistic`` for sigmoid, ``linear`` for identity).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "softplus", "identity")
#: Output activations: the hidden ones plus ``softmax``.
OUTPUT_ACTIVATIONS = ACTIVATIONS + ("softmax",)
#: Loss names; see :class:`Network` for their definitions.
LOSSES = ("sse", "mse", "binary_crossentropy", "softmax_crossentropy")

SeedLike = Union[None, int, np.random.Generator]
DTypeLike = Union[str, type, np.dtype]

#: The precisions a network computes in (``Network(dtype=...)``).
DTYPES = ("float64", "float32")


def _on_dask(what: str, *args):
    """The one point where a Network hands dask arrays on: ``quasinet.dask.<what>(*args)``.

    quasinet.dask is an optional extra, imported only when dask data arrive.
    """
    from . import dask

    return getattr(dask, what)(*args)


def _check_name(value, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    return value


def check_dtype(dtype) -> str:
    """``"float64"`` or ``"float32"`` from a name, ``numpy.float32``/``numpy.float64`` or a NumPy dtype.

    Anything else raises: TypeError for what is not a dtype specification at all, ValueError for
    another dtype (``"float16"``, ``int``).
    """
    if isinstance(dtype, (bool, np.bool_)) or not isinstance(dtype, (str, type, np.dtype)):
        raise TypeError(f"dtype must be 'float64' or 'float32', got {type(dtype).__name__}")
    shown = repr(dtype) if len(repr(dtype)) <= 40 else f"{repr(dtype)[:40]}... ({len(repr(dtype))} characters)"
    try:
        # NumPy parses some strings (comma lists) with its own parser, which can raise anything,
        # and warns about deprecated names: neither may escape as anything but ValueError.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            name = np.dtype(dtype).name
    except Exception:  # noqa: BLE001
        raise ValueError(f"dtype must be 'float64' or 'float32', got {shown}") from None
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {shown}")
    return name


def _check_sizes(layer_sizes) -> list:
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__iter__"):
        raise TypeError(f"layer_sizes must be a sequence of ints, got {type(layer_sizes).__name__}")
    sizes = list(layer_sizes)
    for i, n in enumerate(sizes):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
            raise TypeError(f"layer_sizes must hold ints, got {type(n).__name__} at position {i}")
        if n <= 0:
            raise ValueError(f"layer_sizes must be positive, got {n} at position {i}")
        if n > 2**31:
            raise ValueError(f"layer_sizes[{i}] = {n} exceeds 2^31")
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes}")
    return [int(n) for n in sizes]


class Network:
    """A feedforward network (multi-layer perceptron) whose parameters live in one flat buffer.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n0, n1, ..., nL]``: inputs, the hidden layers' widths, outputs.
    activation : str
        Hidden activation: ``sigmoid`` (``logistic``), ``tanh``, ``relu``, ``softplus``,
        ``identity`` (``linear``).
    output_activation : str
        Output activation: any hidden activation or ``softmax``.
    bias : bool
        Whether every layer has a bias vector.
    loss : str
        With E = Y - Yhat, N samples (or the sum of the sample weights w) and W all weight
        matrices (biases are never penalised):

        - ``sse``: J = 0.5 sum_i w_i ``|E_i|^2`` + (l2/2) sum W^2 (the notebook's cost);
        - ``mse``: J = 0.5 sum_i w_i ``|E_i|^2`` / sum(w) + (l2/2) sum W^2;
        - ``binary_crossentropy`` (sigmoid outputs):
          J = sum_i w_i sum_k [-y log yhat - (1-y) log(1-yhat)] / sum(w) + (l2/2) sum W^2;
        - ``softmax_crossentropy`` (softmax outputs):
          J = -sum_i w_i sum_k y_ik log yhat_ik / sum(w) + (l2/2) sum W^2.

        The cross-entropies are computed from the output pre-activations (log-sum-exp), so
        they stay finite however saturated the outputs are. Without sample weights w_i = 1.
    l2 : float
        L2 penalty strength (>= 0).
    seed : None, int or numpy.random.Generator
        Seeds the initialiser (see :meth:`initialize`).
    dtype : {"float64", "float32"}
        The precision of :meth:`forward`, :meth:`cost` and :meth:`cost_grad` (and ``bind``).
        ``"float32"``: the products run in float32 (sgemm) and the hidden activations are kept
        in float32 (each evaluated in float64 and rounded once); the output layer, the loss and
        the sums of cost and gradient over row blocks stay in float64. Parameters, inputs,
        outputs, costs and gradients are float64 arrays either way, so SciPy's optimisers and
        everything else work unchanged; expect gradients within about 1e-5 (relative, as a
        vector) of the float64 ones and about twice the speed on large networks. The curvature
        methods (:meth:`jacobian`, :meth:`gauss_newton`, :meth:`hessp`) and
        :meth:`input_jacobian` always compute in float64. ``numpy.float32`` and
        ``numpy.dtype("float32")`` are accepted too.

    Notes
    -----
    Parameter layout: for each layer in order, W (n_in x n_out, row-major) then b (n_out) if
    biases are on. Without biases this is ``concatenate([W1.ravel(), W2.ravel(), ...])``.
    ``params`` is that buffer; ``weights`` and ``biases`` are views into it.

    No silent overflow: :meth:`forward`, :meth:`cost`, :meth:`cost_grad` and the function
    returned by :meth:`bind` (called, or its ``.cost``) never return inf or NaN. When float64
    overflows on finite data (say a softplus network fed X = 1e200, or a squared error past
    1.8e308) they raise :class:`FloatingPointError` naming the non-finite result (the output's
    row and column, the cost, or the gradient entry as ``weights[l][i, j]`` / ``biases[l][j]``)
    and its cause: the first layer whose outputs (or logits) overflow, with row and unit, the
    first row whose loss overflows, the sum over rows, the l2 penalty, or the backward pass.
    NaN or infinite values written directly into ``params`` are named as the cause too. The
    check reads the result once (O(P) for the gradient, O(N n_out) for the outputs); the
    diagnosis is only computed once a result is known to be non-finite.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "sigmoid",
        output_activation: str = "sigmoid",
        bias: bool = True,
        loss: str = "sse",
        l2: float = 0.0,
        seed: SeedLike = None,
        dtype: DTypeLike = "float64",
    ):
        self._configure(layer_sizes, activation, output_activation, bias, loss, l2, dtype)
        self._params = np.zeros(self._core.n_params)
        self._make_views()
        self.initialize(seed)

    def _configure(self, layer_sizes, activation="sigmoid", output_activation="sigmoid", bias=True, loss="sse",
                   l2=0.0, dtype="float64") -> None:
        """Check the specification and build the core network (no parameters yet)."""
        sizes = _check_sizes(layer_sizes)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
        if isinstance(l2, (bool, np.bool_)) or not isinstance(l2, numbers.Real):
            raise TypeError(f"l2 must be a real number, got {type(l2).__name__}")
        try:
            l2 = float(l2)
        except OverflowError:
            raise ValueError(f"l2 must be a finite number >= 0, got {l2}") from None
        self._core = _core.Network(
            sizes,
            _check_name(activation, "activation"),
            _check_name(output_activation, "output_activation"),
            bool(bias),
            _check_name(loss, "loss"),
            l2,
            check_dtype(dtype),
        )

    @classmethod
    def from_params(cls, params, **spec) -> "Network":
        """A network of this specification (the constructor's arguments but ``seed``) holding ``params``.

        ``params`` (shape ``(n_params,)``, finite) becomes the parameter buffer itself, without a
        copy or a random initialisation, when it is a writable C-contiguous float64 array (what a
        loader of large model files needs: one copy of the parameters in memory); anything else
        is copied.
        """
        net = cls.__new__(cls)
        net._configure(**spec)
        p = np.asarray(params)
        if p.dtype.kind not in "fiub":
            raise TypeError(f"params must hold real numbers, got dtype {p.dtype}")
        if p.shape != (net.n_params,):
            raise ValueError(f"params must have shape ({net.n_params},) (the network's n_params), got {p.shape}")
        if not (p.dtype == np.float64 and p.flags.c_contiguous and p.flags.writeable):
            p = np.array(p, dtype=np.float64)
        if not np.all(np.isfinite(p)):
            raise ValueError("params must be finite, got NaN or infinity")
        net._params = p
        net._make_views()
        return net

    # -- layout and views ----------------------------------------------------------------------
    def _make_views(self) -> None:
        self._weights = []
        self._biases = []
        for w_off, n_in, n_out, b_off in self._core.layout:
            self._weights.append(self._params[w_off : w_off + n_in * n_out].reshape(n_in, n_out))
            if b_off is not None:
                self._biases.append(self._params[b_off : b_off + n_out])

    @property
    def layout(self) -> list:
        """Per layer ``(W offset, n_in, n_out, b offset or None)`` in the flat buffer."""
        return self._core.layout

    @property
    def params(self) -> np.ndarray:
        """The flat float64 parameter buffer (writable; ``weights`` and ``biases`` view it)."""
        return self._params

    @params.setter
    def params(self, value) -> None:
        self.set_params(value)

    @property
    def weights(self) -> list:
        """Weight matrices, ``weights[l]`` of shape (n_l, n_{l+1}): views into ``params``."""
        return list(self._weights)

    @property
    def biases(self) -> list:
        """Bias vectors (empty without biases): views into ``params``."""
        return list(self._biases)

    @property
    def n_params(self) -> int:
        return self._core.n_params

    @property
    def layer_sizes(self) -> Tuple[int, ...]:
        return tuple(self._core.layer_sizes)

    @property
    def activation(self) -> str:
        return self._core.activation

    @property
    def output_activation(self) -> str:
        return self._core.output_activation

    @property
    def bias(self) -> bool:
        return self._core.bias

    @property
    def loss(self) -> str:
        return self._core.loss

    @property
    def l2(self) -> float:
        return self._core.l2

    @property
    def dtype(self) -> str:
        """``"float64"`` or ``"float32"``: the precision of the forward and backward passes."""
        return self._core.dtype

    def get_params(self) -> np.ndarray:
        """A copy of the flat parameter vector."""
        return self._params.copy()

    def set_params(self, params) -> None:
        """Copy ``params`` (shape ``(n_params,)``, real, finite) into the parameter buffer."""
        p = np.asarray(params)
        if p.dtype.kind not in "fiub":
            raise TypeError(f"params must hold real numbers, got dtype {p.dtype}")
        if p.shape != (self.n_params,):
            raise ValueError(f"params must have shape ({self.n_params},) (the network's n_params), got {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError("params must be finite, got NaN or infinity")
        self._params[...] = p

    def initialize(self, seed: SeedLike = None) -> None:
        """Draw new parameters: Glorot-uniform weights scaled to each layer's activation, zero biases.

        W ~ U(-r, r) with r = gain * sqrt(6 / (n_in + n_out)); gain 4 for sigmoid (its slope at 0
        is 1/4), 1 otherwise, and r = sqrt(6 / n_in) (He) for relu and softplus.
        """
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n_layers = len(self._weights)
        for l, W in enumerate(self._weights):
            act = self.output_activation if l == n_layers - 1 else self.activation
            n_in, n_out = W.shape
            if act in ("relu", "softplus"):
                r = np.sqrt(6.0 / n_in)
            else:
                r = np.sqrt(6.0 / (n_in + n_out)) * (4.0 if act == "sigmoid" else 1.0)
            W[...] = rng.uniform(-r, r, size=W.shape)
        for b in self._biases:
            b[...] = 0.0

    # -- evaluation ----------------------------------------------------------------------------
    def _targets(self, y):
        """Integer-coded class labels -> one-hot rows, for softmax_crossentropy."""
        if self.loss != "softmax_crossentropy":
            return y
        y_arr = np.asarray(y)
        if y_arr.ndim != 1 or y_arr.dtype.kind not in "iub":
            return y
        k = self.layer_sizes[-1]
        if y_arr.size and (y_arr.min() < 0 or y_arr.max() >= k):
            raise ValueError(f"integer class labels must lie in [0, {k - 1}], got range [{y_arr.min()}, {y_arr.max()}]")
        onehot = np.zeros((y_arr.shape[0], k))
        onehot[np.arange(y_arr.shape[0]), y_arr.astype(np.intp)] = 1.0
        return onehot

    def forward(self, X) -> np.ndarray:
        """The network's outputs, shape (samples, outputs), for X of shape (samples, inputs).

        Raises FloatingPointError if an output is not finite (see the class notes).
        For a dask array X, a lazy dask array chunked like X's rows (see :mod:`quasinet.dask`).
        """
        if is_dask(X):
            return _on_dask("forward", self, X)
        return self._core.forward(self._params, X)

    predict = forward

    def input_jacobian(self, X, *, mode: str = "auto") -> np.ndarray:
        """Derivatives of the outputs with respect to the inputs, computed exactly by the core.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        mode : {"auto", "reverse", "forward"}
            ``reverse``: one backward pass to the inputs per output; ``forward``: one tangent
            per input pushed through the layers; ``auto`` (default) picks the one with fewer
            multiply-adds for this architecture (reverse unless there are fewer inputs than
            outputs, roughly). Both give the same numbers up to rounding.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs, n_inputs)
            ``J[i, k, j] = d forward(X)[i, k] / d X[i, j]``, for every activation and output
            activation (softmax included). The activation derivatives are computed from the
            pre-activations z (e.g. sigmoid's as e / (1 + e)^2 with e = ``exp(-|z|)``), so saturated
            units keep their relative accuracy. Relu's derivative at exactly 0 is taken as 0.
        """
        if not isinstance(mode, str):
            raise TypeError(f"mode must be a string, got {type(mode).__name__}")
        return self._core.input_jacobian(self._params, X, mode=mode)

    def cost(self, X, y, sample_weight=None) -> float:
        """The cost J (see the class docstring) at the current parameters.

        Raises FloatingPointError if J is not finite (see the class notes).
        X, y and sample_weight may be dask arrays: the cost is then computed on the current
        Dask scheduler from partial sums over X's row partitions (see :mod:`quasinet.dask`).
        """
        if is_dask(X, y, sample_weight):
            return _on_dask("cost", self, X, y, sample_weight)
        return self._core.cost(self._params, X, self._targets(y), sample_weight)

    def cost_grad(self, X, y, sample_weight=None) -> Tuple[float, np.ndarray]:
        """The cost and its gradient (a new array in the layout of ``params``), in one pass.

        Raises FloatingPointError if the cost or a gradient entry is not finite (see the class
        notes).
        Dask arrays are accepted as in :meth:`cost`.
        """
        if is_dask(X, y, sample_weight):
            return _on_dask("cost_grad", self, X, y, sample_weight)
        return self._core.cost_grad(self._params, X, self._targets(y), sample_weight)

    # -- curvature -----------------------------------------------------------------------------
    def jacobian(self, X) -> np.ndarray:
        """d(outputs)/d(params) for every row: shape (samples, outputs, n_params).

        The outputs are the post-activation ones (softmax included), the columns follow the
        layout of ``params``. Holds N x outputs x P doubles: meant for small problems and tests;
        :meth:`gauss_newton` accumulates J^T J without ever holding it.
        """
        return self._core.jacobian(self._params, X)

    def gauss_newton(self, X, y, sample_weight=None) -> Tuple[float, np.ndarray, np.ndarray]:
        """The cost, its gradient and the Gauss-Newton matrix G (n_params, n_params), in one pass.

        G = c sum_i w_i J_i^T H_i J_i + l2 on the diagonal entries of the weights (not the
        biases), scaled like the cost (c = 1 for ``sse``, 1/sum(w) otherwise):

        - ``sse``, ``mse``: J_i = d yhat_i / d params and H_i = I (so G = c sum_i w_i J_i^T J_i);
        - ``binary_crossentropy``: J_i = d z_i / d params (output pre-activations) and
          H_i = diag(p_i (1 - p_i)), the loss's Hessian in z;
        - ``softmax_crossentropy``: J_i = d z_i / d params and
          H_i = (sum_k y_ik) (diag(p_i) - p_i p_i^T).

        G is symmetric positive semi-definite; for the cross-entropies it is the generalised
        Gauss-Newton matrix (which is the exact Hessian of a linear network). Memory: G plus
        a block of Jacobian rows per thread (about 8 MiB), never N x P. Raises ValueError
        when P exceeds :data:`GAUSS_NEWTON_MAX_PARAMS`. Dask arrays are accepted as in :meth:`cost`.
        """
        check_gauss_newton_size(self.n_params)
        if is_dask(X, y, sample_weight):
            return _on_dask("gauss_newton", self, X, y, sample_weight)
        return self._core.gauss_newton(self._params, X, self._targets(y), sample_weight)

    def hessp(self, X, y, v, sample_weight=None, kind: str = "exact") -> np.ndarray:
        """The product of the cost's curvature with a vector ``v`` (shape ``(n_params,)``).

        ``kind="exact"``: H v with H the exact Hessian of the cost, l2 term included
        (Pearlmutter's R-operator: one forward and one backward R-pass); ``kind="gauss-newton"``:
        G v with G as in :meth:`gauss_newton` (Schraudolph's product). Neither forms a
        P x P matrix; each costs about two gradient evaluations. Dask arrays are accepted as in
        :meth:`cost`.
        """
        kind = check_kind(kind)
        if is_dask(X, y, sample_weight):
            return _on_dask("hessp", self, X, y, v, sample_weight, kind)
        return self._core.hessp(self._params, X, self._targets(y), v, sample_weight, kind=kind)

    def bind(self, X, y, sample_weight=None):
        """Validate and hold X and y once; return ``fg(params) -> (cost, grad)``.

        ``fg`` evaluates the cost at the parameter vector it is given (not at ``params``), and
        ``fg.cost(params)`` evaluates the cost alone, ready for
        ``scipy.optimize.minimize(fg, x0, jac=True)``. ``fg.hessp(params, v)`` is the exact
        Hessian-vector product (``kind="gauss-newton"`` for G v) and ``fg.gauss_newton(params)``
        returns ``(cost, grad, G)`` (see :meth:`hessp`, :meth:`gauss_newton`), so that
        ``minimize(fg, x0, jac=True, hessp=fg.hessp, method="trust-krylov")`` works as it stands. It keeps this network's architecture.
        For the ``sse`` and ``mse`` losses, ``fg.cost``, ``fg.gauss_newton`` and ``fg.hessp``
        take ``output_weights=o`` (one weight >= 0 per output): each output's squared error
        counts ``o_k`` times, 0.5 sum_i w_i sum_k o_k e_ik^2, as one noise precision per output
        needs (:mod:`quasinet.evidence`); an output of weight 0 costs no Gauss-Newton pass.
        X and y are checked once: C-contiguous float64 arrays are then read in place (no
        copy), other layouts and dtypes are converted once. Writing into X or y afterwards
        bypasses those checks; bind again after changing the data. ``fg`` and ``fg.cost``
        raise FloatingPointError when the cost or gradient at ``params`` is not finite (see the
        class notes).

        With dask arrays (any of X, y, sample_weight) it returns a
        :class:`quasinet.dask.DaskBound` with the same interface: the row partitions are
        computed once and held on the workers of the current Dask scheduler, and each call sends
        only the parameter vector (see :mod:`quasinet.dask`).
        """
        if is_dask(X, y, sample_weight):
            return _on_dask("bind", self, X, y, sample_weight)
        return self._core.bind(X, self._targets(y), sample_weight)

    # -- housekeeping --------------------------------------------------------------------------
    def spec(self) -> dict:
        """The architecture as keyword arguments of :class:`Network` (``Network(**net.spec())`` builds a twin)."""
        return dict(
            layer_sizes=list(self.layer_sizes),
            activation=self.activation,
            output_activation=self.output_activation,
            bias=self.bias,
            loss=self.loss,
            l2=self.l2,
            dtype=self.dtype,
        )

    def copy(self) -> "Network":
        """An independent network with the same architecture and parameters."""
        other = Network(**self.spec())
        other._params[...] = self._params
        return other

    def save(self, path) -> None:
        """Write this network to a model file; :func:`quasinet.load` reads it back bitwise exactly.

        The format (versioned ``.npz`` with a JSON header) is described in :mod:`quasinet.modelfile`.
        """
        modelfile.write(path, modelfile.header(self.spec(), self.n_params), {"params": self._params})

    def __getstate__(self) -> dict:
        return {"spec": self.spec(), "params": self._params.copy()}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["spec"])
        self.set_params(state["params"])  # checks shape and values: no silent broadcast

    def __repr__(self) -> str:
        s = self.spec()
        return (
            f"Network({s['layer_sizes']}, activation={s['activation']!r}, "
            f"output_activation={s['output_activation']!r}, bias={s['bias']}, loss={s['loss']!r}, l2={s['l2']!r}"
            + (f", dtype={s['dtype']!r})" if s["dtype"] != "float64" else ")")
        )
