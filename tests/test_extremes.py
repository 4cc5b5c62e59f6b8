"""Numerical extremes: saturating pre-activations, exact 0/1 targets, degenerate shapes and
data, and the trainer's behaviour when user data overflow float64.

pytest turns every warning into an error (pyproject.toml), so "no overflow warning" is part of
every test here. Expected values come from closed forms or from the longdouble reference in
test_fuzz.py, with its rounding-error bounds.
"""

import numpy as np
import pytest

import quasinet as qn
from quasinet import _core
from conftest import recording_bind
from test_fuzz import check_against_reference, reference

Z = np.array([-1e4, -700.0, -50.0, -1e-300, 0.0, 1e-300, 50.0, 700.0, 1e4])


def _sigmoid_ld(z):
    z = np.asarray(z, dtype=np.longdouble)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _tanh_prime_ld(z):
    e = np.exp(-2 * np.abs(np.asarray(z, dtype=np.longdouble)))  # 1/cosh^2 = 4e / (1 + e)^2
    return 4 * e / (1 + e) ** 2


EXPECTED = {
    # f(z) and f'(z) in longdouble (exp(-1e4) ~ 1e-4343 fits in its range), rounded to float64.
    "sigmoid": (lambda z: _sigmoid_ld(z), lambda z: _sigmoid_ld(z) * _sigmoid_ld(-np.asarray(z, np.longdouble))),
    "tanh": (
        lambda z: np.tanh(np.asarray(z, np.longdouble)),
        lambda z: _tanh_prime_ld(z),
    ),
    "softplus": (
        lambda z: np.maximum(np.asarray(z, np.longdouble), 0) + np.log1p(np.exp(-np.abs(np.asarray(z, np.longdouble)))),
        lambda z: _sigmoid_ld(z),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_elementwise_activation_and_derivative_at_saturating_inputs(name):
    f, fprime = EXPECTED[name]
    a = _core.activation(name, Z)
    d = _core.activation_derivative(name, Z)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    np.testing.assert_allclose(a, f(Z).astype(np.float64), rtol=1e-14, atol=0)
    np.testing.assert_allclose(d, fprime(Z).astype(np.float64), rtol=1e-13, atol=0)
    # The exact float64 values where they are known: the far tails saturate exactly.
    if name == "sigmoid":
        assert a[0] == 0.0 and a[-1] == 1.0 and d[0] == 0.0 and d[-1] == 0.0
        assert a[1] == pytest.approx(np.exp(-700.0), rel=1e-14)  # not flushed to 0
    if name == "tanh":
        assert a[0] == -1.0 and a[-1] == 1.0 and d[0] == 0.0 and d[1] == 0.0
    if name == "softplus":
        assert a[-1] == 1e4 and a[-2] == 700.0 and a[0] == 0.0 and d[-1] == 1.0


def _one_weight_net(output, loss="sse", n_out=1):
    """y = f(w x): with w = 1 the pre-activation is X itself."""
    net = qn.Network([1, n_out], activation="identity", output_activation=output, bias=False, loss=loss)
    net.params[:] = 1.0
    return net


@pytest.mark.parametrize("output", ["sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_output_layer_at_saturating_preactivations(output, loss):
    net = _one_weight_net(output, loss)
    X = Z[:, None]
    y = np.linspace(-1, 1, Z.size)[:, None]
    out = net.forward(X)
    np.testing.assert_allclose(out[:, 0], EXPECTED[output][0](Z).astype(np.float64), rtol=1e-14)
    assert check_against_reference(net, X, y, None) == "checked"
    J, g = net.cost_grad(X, y)
    # dJ/dw = c sum (f(z) - y) f'(z) x. The backward pass forms f'(z) from a = f(z) (a (1 - a),
    # 1 - a^2), so where a rounds to +-1 a tail derivative below eps comes out as 0: an
    # absolute error of at most eps |f(z) - y| |x| per sample, the rounding scale of the sum.
    f, fprime = EXPECTED[output]
    c = 1.0 if loss == "sse" else 1.0 / Z.size
    terms = (f(Z) - y[:, 0]) * Z.astype(np.longdouble)
    expected = c * np.sum(terms * fprime(Z))
    scale = c * np.sum(np.abs(terms))
    assert np.isfinite(J) and np.isfinite(g[0])
    assert abs(g[0] - expected) <= 1e-12 * abs(expected) + 4 * np.finfo(float).eps * scale


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "softplus", "relu"])
def test_hidden_layer_at_saturating_preactivations(hidden):
    # Hidden pre-activations of +-1e4 and +-700 (X times weights of +-1), then a tame output.
    net = qn.Network([1, 4, 1], activation=hidden, output_activation="identity", loss="mse")
    net.weights[0][...] = [[1.0, -1.0, 0.07, -0.07]]
    net.weights[1][...] = [[0.5], [-0.25], [1.0], [0.125]]
    X = np.array([[1e4], [-1e4], [1e4 / 0.07], [700.0], [-700.0]])
    y = np.array([0.0, 1.0, -1.0, 2.0, 0.5])
    assert check_against_reference(net, X, y, None) == "checked"


@pytest.mark.parametrize("z", [700.0, -700.0, 1e4, -1e4, 0.0])
@pytest.mark.parametrize("target", [0.0, 1.0])
def test_binary_crossentropy_with_exact_targets_at_extreme_logits(z, target):
    net = _one_weight_net("sigmoid", "binary_crossentropy")
    X, y = np.array([[z]]), np.array([target])
    J, g = net.cost_grad(X, y)
    # J = softplus(z) - y z; dJ/dw = (sigmoid(z) - y) x.
    sp = float(EXPECTED["softplus"][0](z))
    assert J == pytest.approx(sp - target * z, rel=1e-14, abs=1e-300)
    assert g[0] == pytest.approx(float((_sigmoid_ld(z) - target) * z), rel=1e-14, abs=1e-300)
    if (z > 0) == (target == 1.0) and z != 0:
        assert J < 1e-300  # confidently right: a cost of (almost) 0, not log(0) trouble
    if (z > 0) != (target == 1.0) and abs(z) >= 700:
        assert J == abs(z)  # confidently wrong: a large finite cost, not inf


@pytest.mark.parametrize("scale", [700.0, 1e4])
def test_softmax_crossentropy_at_extreme_logits(scale):
    # logits (scale, -scale, 0) for every sample; one-hot targets on each class.
    net = qn.Network([3, 3], activation="identity", output_activation="softmax", bias=False, loss="softmax_crossentropy")
    net.weights[0][...] = np.diag([scale, -scale, 0.0])
    X = np.ones((3, 3))
    labels = np.array([0, 1, 2])
    J, g = net.cost_grad(X, labels)
    # per sample: logsumexp(z) - z_y = scale - z_y  ->  0, 2 scale, scale.
    assert J == pytest.approx((0 + 2 * scale + scale) / 3, rel=1e-14)
    out = net.forward(X)
    assert np.all(np.isfinite(out)) and out[0, 0] == 1.0 and out[0, 1] == 0.0
    # dJ/dW[i, j] = mean over samples of x_i (softmax_j - onehot_j)
    expected = X.T @ (out - np.eye(3)[labels]) / 3
    np.testing.assert_allclose(g.reshape(3, 3), expected, rtol=1e-14, atol=1e-300)
    assert check_against_reference(net, X, np.eye(3)[labels], None) == "checked"


@pytest.mark.parametrize("loss,output", [("binary_crossentropy", "sigmoid"), ("softmax_crossentropy", "softmax")])
def test_training_to_exact_zero_one_targets_stays_finite(loss, output):
    # Separable data with exact 0/1 targets: the optimum is at infinity, so the weights grow
    # and the logits saturate; costs and gradients must stay finite all the way.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 2))
    cls = (X[:, 0] + X[:, 1] > 0).astype(int)
    if loss == "binary_crossentropy":
        net, y = qn.Network([2, 1], output_activation=output, loss=loss, seed=0), cls.astype(float)
    else:
        net, y = qn.Network([2, 2], output_activation=output, loss=loss, seed=0), cls
    res = qn.Trainer(net, method="BFGS", maxiter=300).train(X, y)
    assert np.isfinite(res.fun) and res.fun < 1e-3
    assert np.all(np.isfinite(net.params)) and np.all(np.isfinite(res.J))
    J, g = net.cost_grad(X, y)
    assert np.isfinite(J) and np.all(np.isfinite(g))


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "softplus", "identity"])
def test_all_zero_weights(hidden):
    net = qn.Network([3, 4, 2], activation=hidden, output_activation="sigmoid", loss="mse")
    net.params[:] = 0.0
    X = np.arange(15.0).reshape(5, 3) / 7
    y = np.linspace(0, 1, 10).reshape(5, 2)
    J, g = net.cost_grad(X, y)
    assert np.isfinite(J) and np.all(np.isfinite(g))
    assert check_against_reference(net, X, y, None) == "checked"
    # W2 = 0: no signal reaches the first layer's weights.
    np.testing.assert_array_equal(g[: 3 * 4], 0.0)
    res = qn.Trainer(net, maxiter=30).train(X, y)
    assert res.fun < J and np.all(np.isfinite(net.params))


def test_a_single_sample():
    net = qn.Network([2, 3, 1], seed=0)
    X, y = np.array([[0.3, -1.2]]), np.array([0.7])
    assert check_against_reference(net, X, y, None) == "checked"
    assert net.forward(X).shape == (1, 1)
    assert qn.check_gradient(net, X, y) < 1e-7
    res = qn.Trainer(net, maxiter=100).train(X, y)
    assert res.fun < 1e-8


def test_a_single_feature():
    X = np.linspace(-2, 2, 30)[:, None]
    y = 0.5 + 0.4 * np.sin(2 * X[:, 0])
    net = qn.Network([1, 6, 1], activation="tanh", seed=0)
    assert check_against_reference(net, X, y, None) == "checked"
    assert qn.check_gradient(net, X, y) < 1e-7
    J0 = net.cost(X, y)
    res = qn.Trainer(net, maxiter=200).train(X, y)
    assert res.fun < 0.01 * J0


def test_a_thousand_inputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1000))
    y = (X[:, :10].sum(axis=1) > 0).astype(float)
    net = qn.Network([1000, 4, 1], activation="tanh", loss="binary_crossentropy", seed=1)
    assert check_against_reference(net, X, y, None) == "checked"
    _, g = net.cost_grad(X, y)
    n = qn.numerical_gradient(net, X, y)
    assert np.linalg.norm(g - n) / np.linalg.norm(g + n) < 1e-7
    res = qn.Trainer(net, method="L-BFGS-B", maxiter=50).train(X, y)
    assert np.isfinite(res.fun) and res.fun < 0.1


def test_constant_and_zero_columns():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=25), np.full(25, 3.0), np.zeros(25), rng.normal(size=25)])
    y = np.tanh(X[:, 0] - X[:, 3])
    net = qn.Network([4, 5, 1], activation="tanh", output_activation="identity", loss="mse", seed=2)
    assert check_against_reference(net, X, y, None) == "checked"
    assert qn.check_gradient(net, X, y) < 1e-7
    _, g = net.cost_grad(X, y)
    # A column of zeros gets an exactly zero weight gradient.
    np.testing.assert_array_equal(g[2 * 5 : 3 * 5], 0.0)
    res = qn.Trainer(net, maxiter=200).train(X, y)
    assert np.isfinite(res.fun) and res.fun < 0.1 * net.copy().cost(X, y) + 1e-2


def test_huge_but_finite_data_overflow_honestly():
    # 1e200 squared is beyond float64: the reference agrees that float64 overflows here, and
    # the core says so with FloatingPointError instead of returning inf (test_overflow.py has
    # the details); the output itself, 1e200, is finite and returned.
    net = _one_weight_net("identity")
    X, y = np.array([[1e200]]), np.array([0.0])
    r = reference(net, net.params, X, y)
    assert r["overflow"]
    with pytest.raises(FloatingPointError, match=r"^cost_grad: the cost is inf; .* loss of row 0 \(inf\)$"):
        net.cost_grad(X, y)
    assert net.forward(X)[0, 0] == 1e200


def test_trainer_stops_with_floating_point_error_naming_the_iteration():
    # J = 0.5 (w 1e154)^2 is 5e307 at w = 1, and the gradient 1e308: the first line-search
    # step overflows. The trainer must stop, say when, and keep the last finite point.
    net = _one_weight_net("identity")
    X, y = np.array([[1e154]]), np.array([0.0])
    J0 = net.cost(X, y)
    assert np.isfinite(J0)
    # SciPy's own gradient-norm computation overflows on these data and warns; the warning is
    # SciPy's, the contract under test is the trainer's FloatingPointError.
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match=r"non-finite .* iteration 1\b"):
            qn.Trainer(net, method="BFGS", maxiter=20).train(X, y)
    assert np.all(np.isfinite(net.params))
    assert net.cost(X, y) <= J0


@pytest.mark.parametrize("method", ["BFGS", "CG", "L-BFGS-B"])
def test_floating_point_error_keeps_the_lowest_finite_cost_evaluated(method):
    # Every cost the optimiser evaluates is recorded (through the bound function the trainer
    # asks the network for); after the error the network holds the point of the lowest one.
    net = qn.Network([1, 1], activation="identity", output_activation="identity", bias=True, loss="sse")
    net.params[:] = [1.0, 0.0]
    X = np.array([[1.0], [2.0], [1e152]])
    y = np.array([0.0, 1.0, 0.0])
    evaluated = []
    recording_bind(net, evaluated)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(FloatingPointError, match="iteration"):
        qn.Trainer(net, method=method, maxiter=50).train(X, y)
    finite = [(f, p) for f, p in evaluated if np.isfinite(f)]
    assert len(finite) >= 1 and len(finite) < len(evaluated)
    best_f, best_p = min(finite, key=lambda t: t[0])
    np.testing.assert_array_equal(net.params, best_p)
    assert net.cost(X, y) == best_f


def test_nan_params_are_named_not_a_crash_and_set_params_refuses_them():
    # params is a writable buffer owned by the user; set_params validates, direct writes are
    # not checked before every call (that would cost a pass over P per evaluation): a NaN
    # result is refused afterwards, naming the parameter.
    net = qn.Network([2, 2, 1], seed=0)
    with pytest.raises(ValueError, match="params must be finite"):
        net.set_params(np.full(net.n_params, np.nan))
    net.params[0] = np.nan
    with pytest.raises(FloatingPointError, match=r"the cost is nan; params\[0\] \(weights\[0\]\[0, 0\]\) is nan"):
        net.cost_grad(np.ones((3, 2)), np.ones(3))
