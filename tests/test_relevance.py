"""quasinet.posterior.input_relevance: inputs ranked by what they do to the predictions.

References: a plain-NumPy forward pass (tests/reference.py) differentiated by central
differences, the closed form of a linear model, and Friedman #1, whose five real inputs must
outrank its five noise inputs.
"""

import numpy as np
import pytest
import reference as ref
from sklearn.datasets import make_friedman1

from quasinet import Network
from quasinet.posterior import feature_relevance, input_relevance
from quasinet.sklearn import QuasiNetRegressor


def fd_relevance(nets, X, h=1e-5):
    """The same quantity from central differences of the NumPy reference forward pass."""

    def predict(x):
        return np.mean([ref.forward(n.params, n.layer_sizes, n.activation, n.output_activation, True, x)[-1][1]
                        for n in nets], axis=0)

    score = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        e = np.zeros(X.shape[1])
        e[j] = h
        d = (predict(X + e) - predict(X - e)) / (2 * h)  # (N, outputs)
        score[j] = np.mean(np.sum(d * d, axis=1)) * X[:, j].var()
    return score / score.sum()


@pytest.mark.parametrize("hidden,output", [("tanh", "identity"), ("sigmoid", "softmax"), ("softplus", "sigmoid")])
def test_matches_finite_differences_of_reference(hidden, output):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4)) * np.array([1.0, 2.0, 0.5, 1.0])
    net = Network([4, 6, 5, 3], activation=hidden, output_activation=output, seed=1)
    got = input_relevance(net, X)
    np.testing.assert_allclose(got, fd_relevance([net], X), rtol=1e-6, atol=1e-10)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)


def test_committee_uses_the_averaged_prediction():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 3))
    nets = [Network([3, 5, 2], activation="tanh", output_activation="identity", seed=s) for s in (1, 2)]
    members = [(n, np.eye(n.n_params), 1.0) for n in nets]
    got = input_relevance(members, X)
    np.testing.assert_allclose(got, fd_relevance(nets, X), rtol=1e-6, atol=1e-10)
    # Not the average of the members' own relevances: their derivatives can cancel.
    own = np.mean([input_relevance(n, X) for n in nets], axis=0)
    assert np.max(np.abs(got - own)) > 1e-3


def test_linear_model_closed_form():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 3)) * np.array([1.0, 3.0, 0.1])
    net = Network([3, 1], activation="identity", output_activation="identity", seed=0)
    w = np.array([2.0, -1.0, 5.0])
    net.weights[0][:, 0] = w
    s = w**2 * X.var(axis=0)
    np.testing.assert_allclose(input_relevance(net, X), s / s.sum(), rtol=1e-12)


def test_independent_of_the_ard_scale_degeneracy():
    # Input 0's weights shrunk 100-fold and the next layer's grown to match: the same function
    # (identity hidden layer), so the same relevance, while the prior-variance share moves.
    rng = np.random.default_rng(6)
    X = rng.normal(size=(50, 2))
    a = Network([2, 3, 1], activation="identity", output_activation="identity", seed=2)
    b = Network([2, 3, 1], activation="identity", output_activation="identity", seed=2)
    b.weights[0][:] = a.weights[0] / 100.0
    b.biases[0][:] = a.biases[0] / 100.0
    b.weights[1][:] = a.weights[1] * 100.0
    np.testing.assert_allclose(b.forward(X), a.forward(X), rtol=1e-10)
    np.testing.assert_allclose(input_relevance(b, X), input_relevance(a, X), rtol=1e-10)
    # ARD precisions after such a rescaling differ by 1e4 in the input groups' ratio to the rest,
    # which feature_relevance cannot see past; the Jacobian-based one does not depend on them.
    assert not np.allclose(feature_relevance([1.0, 1e4, 1.0], 2), feature_relevance([1.0, 1.0, 1.0], 2))


def test_tanh_sign_symmetry():
    # Flipping a tanh unit's incoming and outgoing weights leaves the function unchanged.
    rng = np.random.default_rng(7)
    X = rng.normal(size=(25, 3))
    a = Network([3, 4, 2], activation="tanh", output_activation="identity", seed=3)
    b = Network([3, 4, 2], activation="tanh", output_activation="identity", seed=3)
    b.weights[0][:, 1] *= -1
    b.biases[0][1] *= -1
    b.weights[1][1, :] *= -1
    np.testing.assert_allclose(input_relevance(b, X), input_relevance(a, X), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_friedman1_real_inputs_above_noise(seed):
    X, y = make_friedman1(n_samples=200, noise=1.0, random_state=seed)
    # One width, three starts ranked by evidence (the default search tries one start per width)
    est = QuasiNetRegressor(hidden_layer_sizes=(8,), restarts=2, random_state=seed).fit(X, y)
    rel = input_relevance(est.members_, (X - est.x_mean_) / est.x_scale_)
    assert rel.shape == (10,)
    assert rel.sum() == pytest.approx(1.0)
    # x1..x5 matter (x4 and x5 linearly, with coefficients 10 and 5); x6..x10 are noise.
    assert rel[:5].min() > rel[5:].max(), rel
    # x4 (coefficient 10) above x5 (coefficient 5): the linear inputs keep their order.
    assert rel[3] > rel[4], rel


def test_weights_count_as_repeated_rows():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(12, 3))
    net = Network([3, 4, 2], activation="tanh", output_activation="identity", seed=4)
    counts = rng.integers(0, 4, size=12)
    counts[0] = 1
    np.testing.assert_allclose(input_relevance(net, X, sample_weight=counts),
                               input_relevance(net, np.repeat(X, counts, axis=0)), rtol=1e-10)


def test_zero_when_no_input_matters():
    net = Network([2, 1], activation="identity", output_activation="identity", seed=0)
    net.weights[0][:] = 0.0
    np.testing.assert_array_equal(input_relevance(net, np.random.default_rng(0).normal(size=(5, 2))), [0.0, 0.0])


def test_bad_input():
    net = Network([3, 2, 1], activation="tanh", output_activation="identity", seed=0)
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"Xs must have shape \(N, 3\), got \(4, 2\)"):
        input_relevance(net, X[:, :2])
    with pytest.raises(ValueError, match="at least one row, got 0"):
        input_relevance(net, X[:0])
    with pytest.raises(ValueError, match="Xs must be finite"):
        input_relevance(net, np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="at least one Network, got an empty sequence"):
        input_relevance([], X)
    with pytest.raises(TypeError, match="nets must hold Networks .* got str"):
        input_relevance(["net"], X)
    with pytest.raises(TypeError, match="nets must be a Network or a sequence"):
        input_relevance(3, X)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\), got \(3,\)"):
        input_relevance(net, X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0 with a positive sum"):
        input_relevance(net, X, sample_weight=-np.ones(4))
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0 with a positive sum"):
        input_relevance(net, X, sample_weight=np.zeros(4))
    other = Network([2, 2, 1], activation="tanh", output_activation="identity", seed=0)
    with pytest.raises(ValueError, match="all networks must have 3 inputs and 1 outputs like the first, got 2 and 1"):
        input_relevance([net, other], X)


@pytest.mark.parametrize("seed", [0, 1])
def test_default_estimator_ranks_friedman_inputs_above_noise(seed):
    """The estimators' feature_relevance_ (input_relevance of the fitted default model): Friedman
    #1's five real inputs, the linear x3 and x4 included, above its five noise inputs."""
    from sklearn.datasets import make_friedman1

    from quasinet.sklearn import QuasiNetRegressor

    X, y = make_friedman1(n_samples=200, noise=1.0, random_state=seed)
    rel = QuasiNetRegressor(random_state=seed).fit(X, y).feature_relevance_
    assert abs(rel.sum() - 1) < 1e-12
    assert rel[:5].min() > rel[5:].max(), rel
