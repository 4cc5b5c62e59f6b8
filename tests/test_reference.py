"""The C++ forward pass, cost and every gradient block against the plain-NumPy reference.

Tolerance: norm-relative error <= 1e-12 per tensor (each layer's W and b separately).

This file keeps the *full* sweep (every valid hidden activation x loss/output x bias x depth,
240 networks) where the other files run the pairwise covering set of tests/combos.py: it is
the independent specification that the other paths are checked against (the tuned kernels
against the reference kernel, float32 and curvature against this NumPy code), so each network
a user can build is proven correct here at least once, including faults that would need three
settings together to show (say one loss/output delta only in a deep network without biases), which
a pairwise set does not promise to meet. It is also cheap: 7 rows per network.
"""

import numpy as np
import pytest

import quasinet as qn
import reference as ref
from combos import case_id, full_sweep

TOL = 1e-12


def make(case, seed=0, l2=0.0):
    sizes, hidden, output, loss, bias = case
    rng = np.random.default_rng(seed)
    net = qn.Network(sizes, activation=hidden, output_activation=output, bias=bias, loss=loss, l2=l2, seed=rng)
    if bias:  # nonzero biases, so their path through forward and backward is exercised
        for b in net.biases:
            b[...] = rng.normal(scale=0.3, size=b.shape)
    N = 7
    X = rng.normal(size=(N, sizes[0]))
    Y = ref.targets(rng, loss, output, N, sizes[-1])
    return net, X, Y, rng


@pytest.mark.parametrize("case", full_sweep(), ids=case_id)
def test_forward_cost_gradient_match_reference(case):
    sizes, hidden, output, loss, bias = case
    net, X, Y, rng = make(case, l2=0.01)
    w = rng.uniform(0.2, 2.0, size=X.shape[0])
    args = (sizes, hidden, output, bias)

    assert ref.n_params(sizes, bias) == net.n_params
    assert ref.rel_err(net.forward(X), ref.forward(net.params, *args, X)[-1][1]) <= TOL

    for weights in (None, w):
        J_ref = ref.cost(net.params, *args, loss, 0.01, X, Y, weights)
        G_ref = ref.grad(net.params, *args, loss, 0.01, X, Y, weights)
        assert ref.rel_err(net.cost(X, Y, weights), J_ref) <= TOL
        J, G = net.cost_grad(X, Y, weights)
        assert ref.rel_err(J, J_ref) <= TOL
        # Tensor by tensor, in the documented layout.
        for l, (w_off, n_in, n_out, b_off) in enumerate(net.layout):
            gW = G[w_off : w_off + n_in * n_out]
            assert ref.rel_err(gW, G_ref[w_off : w_off + n_in * n_out]) <= TOL, f"dJ/dW{l + 1}"
            if bias:
                assert ref.rel_err(G[b_off : b_off + n_out], G_ref[b_off : b_off + n_out]) <= TOL, f"dJ/db{l + 1}"
        assert ref.rel_err(G, G_ref) <= TOL


def test_reference_detects_a_wrong_gradient():
    # The comparison above is not vacuous: a perturbed gradient block fails it.
    net, X, Y, _ = make(([3, 4, 2], "tanh", "identity", "mse", True))
    _, G = net.cost_grad(X, Y)
    G_ref = ref.grad(net.params, [3, 4, 2], "tanh", "identity", True, "mse", 0.0, X, Y)
    G[0] *= 1 + 1e-9
    assert ref.rel_err(G, G_ref) > TOL


def test_layout_is_the_notebooks_concatenation_without_biases():
    net = qn.Network([2, 3, 1], bias=False, seed=1)
    W1, W2 = net.weights
    assert np.array_equal(net.params, np.concatenate((W1.ravel(), W2.ravel())))
    assert net.biases == []
    # Views share memory with the flat buffer both ways.
    net.params[0] = 42.0
    assert W1[0, 0] == 42.0
    W2[2, 0] = -7.0
    assert net.params[-1] == -7.0


def test_layout_with_biases():
    net = qn.Network([3, 4, 2], bias=True)
    assert net.layout == [(0, 3, 4, 12), (16, 4, 2, 24)]
    assert net.n_params == 26
    assert [W.shape for W in net.weights] == [(3, 4), (4, 2)]
    assert [b.shape for b in net.biases] == [(4,), (2,)]
    for W in net.weights:
        assert np.shares_memory(W, net.params)


def test_weights_are_penalised_biases_are_not():
    net = qn.Network([2, 3, 1], activation="tanh", output_activation="identity", loss="mse", l2=0.5, seed=0)
    X = np.ones((2, 2))
    Y = np.zeros((2, 1))
    plain = qn.Network([2, 3, 1], activation="tanh", output_activation="identity", loss="mse")
    plain.set_params(net.params)
    J, G = net.cost_grad(X, Y)
    J0, G0 = plain.cost_grad(X, Y)
    W_sq = sum(np.sum(W * W) for W in net.weights)
    assert J - J0 == pytest.approx(0.25 * W_sq, rel=1e-12)
    for w_off, n_in, n_out, b_off in net.layout:
        np.testing.assert_allclose(G[w_off : w_off + n_in * n_out] - G0[w_off : w_off + n_in * n_out],
                                   0.5 * net.params[w_off : w_off + n_in * n_out], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(G[b_off : b_off + n_out], G0[b_off : b_off + n_out])


def test_sample_weights_equal_repeated_rows():
    rng = np.random.default_rng(3)
    net = qn.Network([3, 5, 2], activation="tanh", output_activation="identity", loss="mse", l2=0.1, seed=rng)
    X = rng.normal(size=(4, 3))
    Y = rng.normal(size=(4, 2))
    counts = np.array([1, 3, 0, 2])
    J_w, G_w = net.cost_grad(X, Y, counts.astype(float))
    J_r, G_r = net.cost_grad(np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0))
    assert J_w == pytest.approx(J_r, rel=1e-13)
    assert ref.rel_err(G_w, G_r) <= 1e-13


def test_integer_labels_equal_one_hot_for_softmax():
    rng = np.random.default_rng(4)
    net = qn.Network([3, 4, 3], output_activation="softmax", loss="softmax_crossentropy", seed=rng)
    X = rng.normal(size=(5, 3))
    labels = np.array([0, 2, 1, 2, 0])
    J1, G1 = net.cost_grad(X, labels)
    J2, G2 = net.cost_grad(X, np.eye(3)[labels])
    assert J1 == J2
    np.testing.assert_array_equal(G1, G2)


def test_activation_functions_match_reference():
    z = np.linspace(-30, 30, 601)
    for name in ("sigmoid", "tanh", "relu", "softplus", "identity"):
        np.testing.assert_allclose(qn._core.activation(name, z), ref.act(name, z), rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(qn._core.activation_derivative(name, z), ref.act_prime(name, z),
                                   rtol=1e-13, atol=1e-300)
    # Aliases.
    np.testing.assert_array_equal(qn._core.activation("logistic", z), qn._core.activation("sigmoid", z))
    np.testing.assert_array_equal(qn._core.activation("linear", z), z)
