"""No silent overflow: on finite data every entry point either returns finite values or raises
FloatingPointError naming the non-finite result and where float64 overflowed first.

Entry points: Network.forward / cost / cost_grad, the bound objective (called and .cost), and
the compiled core's cost_grad with a caller-owned grad, several threads and the reference
kernel. Where a message names a row, unit or layer, the test finds the same place with plain
NumPy (float64 with the overflow flags silenced), so a wrong index fails the test.
"""

import re

import numpy as np
import pytest

import quasinet as qn
from quasinet import _core


def _net(sizes, params, activation="identity", output="identity", loss="sse", bias=False, l2=0.0):
    net = qn.Network(sizes, activation=activation, output_activation=output, bias=bias, loss=loss, l2=l2)
    net.params[:] = params
    return net


def _entry_points(net, X, y):
    """Every way to ask for a cost: (name, callable)."""
    p = net.get_params()
    return [
        ("cost", lambda: net.cost(X, y)),
        ("cost_grad", lambda: net.cost_grad(X, y)),
        ("cost_grad", lambda: net.bind(X, y)(p)),
        ("cost", lambda: net.bind(X, y).cost(p)),
        ("cost_grad", lambda: net._core.cost_grad(p, X, net._targets(y), grad=np.empty(net.n_params))),
        ("cost_grad", lambda: net._core.cost_grad(p, X, net._targets(y), kernel="reference")),
        ("cost", lambda: net._core.cost(p, X, net._targets(y), kernel="reference")),
    ]


def _first_nonfinite(a):
    """(row, column) of the first non-finite entry in row-major order."""
    idx = np.argwhere(~np.isfinite(a))
    assert idx.size, "the NumPy reference found no overflow: the test case is wrong"
    return tuple(int(i) for i in idx[0])


# --- the case: a softplus network on X = 1e200 -------------------------------------
def test_softplus_network_on_huge_inputs_raises_at_every_entry_point():
    # hidden = softplus([1e200, -1e200]) = [1e200, 0], out = 1e200: finite; the squared error
    # 1e400 is not.
    net = _net([1, 2, 1], [1.0, -1.0, 1.0, 1.0], activation="softplus")
    X, y = np.array([[1.0], [1e200]]), np.array([0.0, 0.0])
    np.testing.assert_array_equal(net.forward(X), [[1.0 + 2 * np.log1p(np.exp(-1.0))], [1e200]])
    for name, call in _entry_points(net, X, y):
        with pytest.raises(FloatingPointError, match=rf"^{name}: the cost is inf; the network's outputs are finite "
                                                    r"but float64 overflowed in the loss of row 1 \(inf\)$"):
            call()
    # The data term alone is finite on the first row.
    assert np.isfinite(net.cost(X[:1], y[:1]))


# --- forward: which output, which layer, which row and unit ----------------------------------
@pytest.mark.parametrize("activation", ["identity", "relu", "softplus", "tanh", "sigmoid"])
def test_forward_names_the_output_entry_and_the_first_layer_that_overflowed(activation):
    rng = np.random.default_rng(3)
    W1 = np.array([[1.0, 2.0, -0.5], [0.5, -2.0, 1.0]])
    W2 = np.array([[1.0, 0.5], [-1.0, 1.0], [2.0, 1.0]])
    X = rng.normal(size=(6, 2))
    if activation in ("tanh", "sigmoid"):
        # Bounded activations cannot overflow: saturate them (h about [1, 1, 0 or -1]) and let
        # the output layer overflow instead.
        W2[:2, 0] = 1e308
        X[4] = [50.0, 0.0]
    else:
        X[4, 0] = 1e308  # 2e308 in unit 1
    net = _net([2, 3, 2], np.concatenate([W1.ravel(), W2.ravel()]), activation=activation)
    with np.errstate(over="ignore", invalid="ignore"):
        z1 = X @ W1
        h = {"identity": z1, "relu": np.maximum(z1, 0), "softplus": np.logaddexp(0, z1),
             "tanh": np.tanh(z1), "sigmoid": 1 / (1 + np.exp(-z1))}[activation]
        out = h @ W2

    def name(v):
        return "nan" if np.isnan(v) else "inf" if v > 0 else "-inf"

    row, col = _first_nonfinite(out)
    if np.all(np.isfinite(h)):
        first = (f"the output of layer 1 (identity, the output layer) is {name(out[row, col])} first at row {row}, "
                 f"unit {col}")
    else:
        hrow, hunit = _first_nonfinite(h)
        first = f"the output of layer 0 ({activation}) is {name(h[hrow, hunit])} first at row {hrow}, unit {hunit}"
    expected = (f"forward: the output is {name(out[row, col])} at row {row}, column {col}; float64 overflowed in the "
                f"forward pass: {first}")
    with pytest.raises(FloatingPointError) as info:
        net.forward(X)
    assert str(info.value) == expected
    # The rows before it are finite and come back.
    assert row >= 2
    np.testing.assert_allclose(net.forward(X[:row]), out[:row], rtol=1e-14)


def test_forward_names_the_output_layer_when_only_it_overflows():
    # h = relu(1e200 x), out = softplus(1e200 h): rows give h = 0, 1e-100, 1e100, 1e210 and
    # out = 0.69, 1e100, 1e300, inf.
    net = _net([1, 1, 1], [1e200, 1e200], activation="relu", output="softplus")
    X = np.array([[0.0], [1e-300], [1e-100], [1e10]])
    np.testing.assert_allclose(net.forward(X[:3])[:, 0], [np.log(2.0), 1e100, 1e300], rtol=1e-15)
    with pytest.raises(FloatingPointError, match=re.escape(
            "forward: the output is inf at row 3, column 0; float64 overflowed in the forward pass: "
            "the output of layer 1 (softplus, the output layer) is inf first at row 3, unit 0")):
        net.forward(X)


# --- cost and gradient, for several losses ----------------------------------------------------
@pytest.mark.parametrize("loss, output", [("sse", "identity"), ("mse", "relu"), ("mse", "softplus")])
def test_squared_error_losses_name_the_layer_whose_outputs_overflow(loss, output):
    net = _net([2, 2], [1.0, 0.0, 0.0, 2.0], output=output, loss=loss)  # out = f([x0, 2 x1])
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 1.5e308]])  # row 2, unit 1: 3e308
    for name, call in _entry_points(net, X, np.zeros((3, 2))):
        with pytest.raises(FloatingPointError, match=re.escape(
                f"{name}: the cost is inf; float64 overflowed in the forward pass: the output of layer 0 "
                f"({output}, the output layer) is inf first at row 2, unit 1")):
            call()


@pytest.mark.parametrize("loss, output, n_out", [("binary_crossentropy", "sigmoid", 1),
                                                  ("softmax_crossentropy", "softmax", 3)])
def test_cross_entropies_name_the_logit_that_overflowed(loss, output, n_out):
    # The outputs saturate (finite), the logit itself is inf: the cost is inf - inf = NaN or inf.
    net = _net([1, n_out], np.full(n_out, 2.0), output=output, loss=loss)
    X = np.array([[0.5], [-1.0], [1e308]])
    y = np.zeros((3, n_out))
    y[:, 0] = 1.0
    logit = ("the pre-activation of layer 0 ({}, the output layer) is inf first at row 2, unit 0").format(output)
    if output == "sigmoid":
        assert np.all(np.isfinite(net.forward(X)))  # saturated, not overflowed
    else:  # softmax: exp(z - max z) is exp(inf - inf)
        with pytest.raises(FloatingPointError, match=re.escape("forward: the output is nan at row 2, column 0; "
                                                               "float64 overflowed in the forward pass: " + logit)):
            net.forward(X)
    for name, call in _entry_points(net, X, y):
        with pytest.raises(FloatingPointError, match=rf"^{name}: the cost is (nan|inf); float64 overflowed in the "
                                                    rf"forward pass: the pre-activation of layer 0 \({output}, the "
                                                    r"output layer\) is inf first at row 2, unit 0$"):
            call()


def test_gradient_entry_is_named_when_only_the_backward_pass_overflows():
    # [2, 1, 1] identity, no biases: h = x W1, out = h W2. With W1 = [1e-300, 1e-300] and
    # W2 = 1e-5 the output is ~1e-5 and y = -1e14 gives delta ~1e14: the cost 5e27 is finite,
    # dJ/dW2 = h delta ~1e14 too, but dJ/dW1 = x (delta W2) = [1e9, 1e309]: entry 1 overflows.
    net = _net([2, 1, 1], [1e-300, 1e-300, 1e-5])
    X, y = np.array([[1.0, 1e300]]), np.array([-1e14])
    J = net.cost(X, y)
    out = (X @ np.array([[1e-300], [1e-300]])) @ np.array([[1e-5]])
    assert J == pytest.approx(0.5 * (out[0, 0] + 1e14) ** 2, rel=1e-15)
    assert net.bind(X, y).cost(net.params) == J
    for call in (lambda: net.cost_grad(X, y), lambda: net.bind(X, y)(net.params),
                 lambda: net._core.cost_grad(net.params, X, y, threads=2, kernel="reference")):
        with pytest.raises(FloatingPointError, match=re.escape(
                f"cost_grad: gradient entry 1 (weights[0][1, 0]) is inf (the cost is {J:g}); the outputs and the "
                "cost are finite: float64 overflowed in the backward pass")):
            call()


def test_loss_sum_and_l2_penalty_overflow_are_told_apart():
    # Each row's squared error 0.5 * (1.2e154)^2 = 7.2e307 is finite; three of them are not.
    net = _net([1, 1], [1.2e-146])
    X, y = np.full((3, 1), 1e300), np.zeros(3)
    assert np.isfinite(net.cost(X[:1], y[:1]))
    with pytest.raises(FloatingPointError, match=r"^cost: the cost is inf; every row's loss is finite but float64 "
                                                r"overflowed in their sum \(inf\)$"):
        net.cost(X, y)
    # (l2/2) sum W^2 with W = 1e200: the data term is 0.5 * (1e-100)^2, the penalty inf.
    net = _net([1, 1], [1e200], l2=1.0)
    X, y = np.array([[1e-300]]), np.array([0.0])
    with pytest.raises(FloatingPointError, match=r"^cost_grad: the cost is inf; float64 overflowed in the l2 penalty"):
        net.cost_grad(X, y)


def test_non_finite_parameters_are_named():
    net = qn.Network([2, 3, 2], output_activation="identity", seed=0)
    X, y = np.ones((4, 2)), np.ones((4, 2))
    w_off, n_in, n_out, b_off = net.layout[1]
    net.params[b_off + 1] = np.inf
    message = r"params\[%d\] \(biases\[1\]\[1\]\) is inf: parameters must be finite" % (b_off + 1)
    with pytest.raises(FloatingPointError, match=r"^forward: the output is inf at row 0, column 1; " + message):
        net.forward(X)
    for name, call in _entry_points(net, X, y):
        with pytest.raises(FloatingPointError, match=rf"^{name}: the cost is inf; " + message):
            call()
    net.params[b_off + 1] = 0.0
    net.params[w_off + 2 * n_out + 0] = np.nan  # weights[1][2, 0]
    with pytest.raises(FloatingPointError, match=r"is nan; params\[%d\] \(weights\[1\]\[2, 0\]\) is nan"
                       % (w_off + 2 * n_out)):
        net.bind(X, y)(net.params)


def test_several_threads_name_the_same_first_row():
    # 20,000 rows x 193 parameters is past the core's threshold for a second thread; the
    # diagnosis replays the pass in row order, so the row is the first overflowing one.
    rng = np.random.default_rng(0)
    net = qn.Network([10, 16, 1], activation="softplus", output_activation="identity", seed=1)
    net.weights[0][3, :] = 2.0
    X = rng.normal(size=(20000, 10))
    X[15001, 3] = X[17000, 3] = 1e308  # 2e308 in every hidden unit
    y = rng.normal(size=20000)
    with np.errstate(over="ignore"):
        h = np.logaddexp(0, X @ net.weights[0] + net.biases[0])
    row, unit = _first_nonfinite(h)
    assert row == 15001
    for threads in (1, 2):
        with pytest.raises(FloatingPointError, match=re.escape(
                f"the output of layer 0 (softplus) is inf first at row {row}, unit {unit}")):
            net._core.cost_grad(net.params, X, y, threads=threads, block_rows=512)
    fine = np.delete(X, [15001, 17000], axis=0)
    J, g = net._core.cost_grad(net.params, fine, np.delete(y, [15001, 17000]), threads=2)
    assert np.isfinite(J) and np.all(np.isfinite(g))


def test_results_just_inside_the_float64_range_are_returned():
    # Cost 0.5 * (1.3e154)^2 = 8.5e307 (the square 1.69e308 too) and gradient 1.3e308: finite.
    net = _net([1, 1], [1.3])
    X, y = np.array([[1e154]]), np.array([0.0])
    J, g = net.cost_grad(X, y)
    assert J == pytest.approx(0.5 * 1.3e154**2, rel=1e-15) and g[0] == pytest.approx(1.3e308, rel=1e-15)
    assert net.forward(X)[0, 0] == pytest.approx(1.3e154, rel=1e-15)


# --- what sits on top: the Trainer, check_gradient ----------------------------------------------
def test_trainer_message_carries_the_cores_and_keeps_the_best_point():
    net = _net([1, 1], [1.0])
    X, y = np.array([[1e154]]), np.array([0.0])
    J0 = net.cost(X, y)
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match=r"during iteration 1; the network keeps the parameters of "
                                                    r"the lowest finite cost evaluated \(cost_grad: the cost is "
                                                    r"inf") as info:
            qn.Trainer(net, method="BFGS", maxiter=20).train(X, y)
    assert isinstance(info.value.__cause__, FloatingPointError)
    assert net.params[0] == 1.0 and net.cost(X, y) == J0


def test_trainer_records_an_overflowing_test_cost_as_inf_and_trains_on():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    y = X[:, 0] - X[:, 1]
    net = qn.Network([2, 3, 1], activation="tanh", output_activation="identity", seed=0)
    X_test, y_test = np.array([[1.0, 1.0]]), np.array([1e200])  # (1e200 - out)^2 overflows
    trainer = qn.Trainer(net, method="L-BFGS-B", maxiter=30)
    res = trainer.train(X, y, X_test, y_test)
    assert len(trainer.testJ) == len(trainer.J) >= 5 and all(t == np.inf for t in trainer.testJ)
    assert np.isfinite(res.fun) and res.fun < 0.05


def test_check_gradient_reports_inf_for_data_that_overflow():
    net = _net([1, 3, 1], [1.0, -1.0, 0.5, 1.0, 1.0, 1.0], activation="softplus")
    X, y = np.array([[1e200]]), np.array([0.0])
    assert qn.check_gradient(net, X, y) == np.inf
    total, parts = qn.check_gradient(net, X, y, per_layer=True)
    assert total == np.inf and all(p["weights"] == np.inf for p in parts)
    with pytest.raises(FloatingPointError):
        qn.numerical_gradient(net, X, y)
