"""Network housekeeping: initialisation, copies, pickling, properties."""

import os
import pickle

import numpy as np
import pytest

import quasinet as qn


def test_seeded_initialisation_is_repeatable_and_scaled():
    a = qn.Network([5, 40, 3], activation="sigmoid", output_activation="identity", seed=7)
    b = qn.Network([5, 40, 3], activation="sigmoid", output_activation="identity", seed=7)
    c = qn.Network([5, 40, 3], activation="sigmoid", output_activation="identity", seed=8)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    W1, W2 = a.weights
    assert np.abs(W1).max() <= 4 * np.sqrt(6 / 45)  # sigmoid layer: gain 4
    assert np.abs(W1).max() > 2 * np.sqrt(6 / 45)
    assert np.abs(W2).max() <= np.sqrt(6 / 43)  # identity output: gain 1
    assert all(np.all(b == 0) for b in a.biases)
    r = qn.Network([50, 20, 1], activation="relu", seed=0).weights[0]
    assert np.abs(r).max() <= np.sqrt(6 / 50) and np.abs(r).max() > 0.9 * np.sqrt(6 / 50)  # He


def test_pickle_and_copy_round_trip_exactly():
    net = qn.Network([3, 4, 2], activation="tanh", output_activation="softmax", loss="softmax_crossentropy",
                     l2=0.25, seed=3)
    X = np.random.default_rng(0).normal(size=(5, 3))
    for other in (pickle.loads(pickle.dumps(net)), net.copy()):
        assert repr(other) == repr(net)
        np.testing.assert_array_equal(other.params, net.params)
        np.testing.assert_array_equal(other.forward(X), net.forward(X))
        assert not np.shares_memory(other.params, net.params)
        other.params[0] += 1.0
        assert other.params[0] != net.params[0]
        # Views of the copy point into the copy's own buffer.
        assert np.shares_memory(other.weights[0], other.params)


def test_properties_report_canonical_names():
    net = qn.Network([2, 3, 1], activation="logistic", output_activation="linear", bias=False, loss="mse", l2=0.5)
    assert net.activation == "sigmoid" and net.output_activation == "identity"
    assert (net.bias, net.loss, net.l2, net.layer_sizes, net.n_params) == (False, "mse", 0.5, (2, 3, 1), 9)
    assert repr(net) == ("Network([2, 3, 1], activation='sigmoid', output_activation='identity', bias=False, "
                         "loss='mse', l2=0.5)")


def test_params_setter_copies_into_the_same_buffer():
    net = qn.Network([2, 2, 1], seed=0)
    buf = net.params
    net.params = np.arange(net.n_params, dtype=float)
    assert net.params is buf
    np.testing.assert_array_equal(net.weights[0].ravel(), [0, 1, 2, 3])
    got = net.get_params()
    got[0] = 99.0
    assert net.params[0] == 0.0


def test_bound_function_evaluates_at_its_argument_not_at_params():
    net = qn.Network([2, 3, 1], seed=0)
    X = np.array([[0.1, 0.2], [0.3, 0.4]])
    y = np.array([0.5, 0.6])
    fg = net.bind(X, y)
    p = net.get_params() + 0.1
    J, g = fg(p)
    probe = net.copy()
    probe.set_params(p)
    assert J == probe.cost(X, y) == fg.cost(p)
    np.testing.assert_array_equal(g, probe.cost_grad(X, y)[1])
    assert fg.n_samples == 2
    # Each call returns a new gradient array (SciPy keeps references to earlier ones).
    _, g2 = fg(p)
    assert g2 is not g and not np.shares_memory(g2, g)


def test_threads_setting_round_trips():
    try:
        qn.set_num_threads(1)
        assert qn.get_num_threads() == 1
        qn.set_num_threads(3)
        assert qn.get_num_threads() == 3
    finally:
        qn.set_num_threads(0)
    assert qn.get_num_threads() == os.cpu_count()  # 0 restores the default: every core


@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_one_dimensional_y_for_one_output(loss):
    net = qn.Network([2, 3, 1], loss=loss, seed=0)
    X = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.1]])
    y = np.array([0.5, 0.6, 0.2])
    assert net.cost(X, y) == net.cost(X, y[:, None])


def test_unpickling_a_damaged_state_is_refused():
    net = qn.Network([2, 3, 1], seed=0)
    state = net.__getstate__()
    state["params"] = 0.5  # a scalar must not broadcast into every parameter
    other = qn.Network.__new__(qn.Network)
    with pytest.raises(ValueError, match=r"params must have shape \(13,\)"):
        other.__setstate__(state)
