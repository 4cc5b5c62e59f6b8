"""Backpropagation against central differences over a pairwise covering set of the activation x
loss/output x bias x depth sweep (tests/combos.py; tests/test_reference.py runs every combination
against the NumPy reference).

Tolerance: the notebook's relative error norm(g - n) / norm(g + n) < 1e-7.
"""

import numpy as np
import pytest

import quasinet as qn
import reference as ref
from combos import case_id, cases


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_backprop_matches_central_differences(case):
    sizes, hidden, output, loss, bias = case
    rng = np.random.default_rng(sum(map(ord, case_id(case))))
    net = qn.Network(sizes, activation=hidden, output_activation=output, bias=bias, loss=loss, l2=0.003, seed=rng)
    if bias:
        for b in net.biases:
            b[...] = rng.normal(scale=0.3, size=b.shape)
    X = rng.normal(size=(6, sizes[0]))
    Y = ref.targets(rng, loss, output, 6, sizes[-1])
    before = net.get_params()
    err = qn.check_gradient(net, X, Y)
    assert err < 1e-7
    np.testing.assert_array_equal(net.params, before)  # the check leaves the parameters as they were


def test_numerical_gradient_restores_params_and_is_central():
    rng = np.random.default_rng(0)
    net = qn.Network([2, 3, 1], bias=False, seed=rng)
    X, y = qn.datasets.sleep_study()
    before = net.get_params()
    n = qn.numerical_gradient(net, X, y)
    np.testing.assert_array_equal(net.params, before)
    # Central differences by hand, through the public cost.
    e = 1e-4
    for i in range(net.n_params):
        p = before.copy()
        p[i] += e
        net.set_params(p)
        plus = net.cost(X, y)
        p[i] -= 2 * e
        net.set_params(p)
        minus = net.cost(X, y)
        assert n[i] == pytest.approx((plus - minus) / (2 * e), rel=1e-12, abs=1e-15)
    net.set_params(before)
    # The sign is right: the numerical gradient agrees with backprop, not with its negative.
    _, g = net.cost_grad(X, y)
    assert np.dot(g, n) > 0


def test_check_gradient_flags_a_wrong_gradient():
    # A network whose cost_grad is off by a sign in one block must fail the check.
    class Broken:
        def __init__(self, net):
            self._net = net
            self.layout = net.layout

        def cost_grad(self, X, y, sample_weight=None):
            J, g = self._net.cost_grad(X, y, sample_weight)
            g[:3] *= -1
            return J, g

        def __getattr__(self, name):
            return getattr(self._net, name)

    net = qn.Network([2, 3, 1], bias=False, seed=0)
    X, y = qn.datasets.sleep_study()
    assert qn.check_gradient(net, X, y) < 1e-8
    err, layers = qn.check_gradient(Broken(net), X, y, per_layer=True)
    assert err > 1e-2
    assert layers[0]["weights"] > 1e-2 and layers[1]["weights"] < 1e-8


def test_per_layer_breakdown_shape():
    net = qn.Network([3, 4, 4, 2], activation="tanh", output_activation="identity", loss="mse", seed=2)
    X = np.random.default_rng(2).normal(size=(5, 3))
    Y = np.random.default_rng(3).normal(size=(5, 2))
    total, layers = qn.check_gradient(net, X, Y, per_layer=True)
    assert isinstance(total, float) and total < 1e-7
    assert [d["layer"] for d in layers] == [0, 1, 2]
    assert all(d["weights"] < 1e-7 and d["bias"] < 1e-7 for d in layers)
