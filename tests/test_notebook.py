"""The notebook's story: its names, its data, its numbers, and its bugs fixed."""

import numpy as np
import pytest

import quasinet as qn
from quasinet import datasets
from quasinet.notebook import Neural_Network, Trainer, computeNumericalGradient

# The notebook's In [160]: the weights it displays...
NB_W1 = np.array([[0.22224692, -0.27898779, 1.71877036], [0.23482195, -2.14545752, -0.10447487]])
NB_W2 = np.array([[-0.16169648], [0.02736267], [0.35196909]])
# ...and its Out [135]: the forward pass it printed with them (8 significant digits).
NB_YHAT = np.array([[0.53030683], [0.54199931], [0.55222292]])


def test_data_normalised_the_notebooks_way():
    X, y = datasets.sleep_study()
    np.testing.assert_array_equal(X, np.array([[3, 5], [5, 1], [10, 2]]) / np.array([10.0, 5.0]))
    np.testing.assert_array_equal(y, np.array([[0.75], [0.82], [0.95]]))
    Xr, yr = datasets.sleep_study(normalize=False)
    np.testing.assert_array_equal(yr.ravel(), [75, 82, 95])
    assert Xr.shape == (3, 2)


def test_part7_test_set_scaled_by_training_maxima():
    Xtr, ytr, Xte, yte = datasets.sleep_study_split()
    scale = np.array([10.0, 5.0])  # the TRAINING maxima
    np.testing.assert_array_equal(Xtr, datasets.X_TRAIN_RAW / scale)
    np.testing.assert_array_equal(Xte, datasets.X_TEST_RAW / scale)
    # The notebook's own scaling would have used the test maxima (9, 5.5): not what we do.
    assert not np.allclose(Xte, datasets.X_TEST_RAW / datasets.X_TEST_RAW.max(axis=0))
    np.testing.assert_array_equal(ytr.ravel(), [0.75, 0.82, 0.93, 0.70])
    np.testing.assert_array_equal(yte.ravel(), [0.70, 0.89, 0.85, 0.75])


def test_forward_reproduces_the_notebooks_printed_output():
    X, _ = datasets.sleep_study()
    NN = Neural_Network()
    NN.W1 = NB_W1
    NN.W2 = NB_W2
    np.testing.assert_allclose(NN.forward(X), NB_YHAT, rtol=0, atol=5e-9)


def test_notebook_names_are_views_into_the_flat_buffer():
    NN = Neural_Network(seed=0)
    assert NN.W1.shape == (2, 3) and NN.W2.shape == (3, 1)
    np.testing.assert_array_equal(NN.getParams(), np.concatenate((NN.W1.ravel(), NN.W2.ravel())))
    NN.W1 = NN.W1 + 1.0  # the notebook's style of update writes into the buffer
    np.testing.assert_array_equal(NN.getParams()[:6], NN.W1.ravel())
    assert np.shares_memory(NN.W1, NN.net.params)
    with pytest.raises(ValueError, match=r"W2 must have shape \(3, 1\), got \(1, 3\)"):
        NN.W2 = np.zeros((1, 3))


def test_sigmoid_and_its_derivative():
    NN = Neural_Network()
    z = np.arange(-6, 6, 0.01)
    np.testing.assert_allclose(NN.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(NN.sigmoidPrime(z), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-14)
    assert NN.sigmoidPrime(np.array([0.0]))[0] == 0.25  # steepest at 0


def test_cost_uses_its_own_forward_pass_and_is_a_float():
    X, y = datasets.sleep_study()
    NN = Neural_Network()
    NN.W1, NN.W2 = NB_W1, NB_W2
    J = NN.costFunction(X, y)
    assert isinstance(J, float)
    assert J == pytest.approx(0.5 * np.sum((y - NB_YHAT) ** 2), rel=1e-7)
    np.testing.assert_allclose(NN.yHat, NB_YHAT, atol=5e-9)


def test_gradient_blocks_and_the_downhill_step():
    X, y = datasets.sleep_study()
    NN = Neural_Network()
    NN.W1, NN.W2 = NB_W1, NB_W2
    dJdW1, dJdW2 = NN.costFunctionPrime(X, y)
    assert dJdW1.shape == (2, 3) and dJdW2.shape == (3, 1)
    # The notebook's formulas, with the cost's own yHat (not a global one).
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    sp = lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2  # noqa: E731
    z2 = X @ NB_W1
    a2 = sig(z2)
    z3 = a2 @ NB_W2
    delta3 = -(y - sig(z3)) * sp(z3)
    np.testing.assert_allclose(dJdW2, a2.T @ delta3, rtol=1e-12)
    np.testing.assert_allclose(dJdW1, X.T @ ((delta3 @ NB_W2.T) * sp(z2)), rtol=1e-12)
    np.testing.assert_array_equal(NN.computeGradients(X, y), np.concatenate((dJdW1.ravel(), dJdW2.ravel())))
    # The notebook stepped W + 3 dJdW and watched the cost rise; downhill is W - 3 dJdW.
    J0 = NN.costFunction(X, y)
    NN.W1, NN.W2 = NB_W1 + 3 * dJdW1, NB_W2 + 3 * dJdW2
    assert NN.costFunction(X, y) > J0
    NN.W1, NN.W2 = NB_W1 - 3 * dJdW1, NB_W2 - 3 * dJdW2
    assert NN.costFunction(X, y) < J0


def test_numerical_gradient_check_passes_with_the_right_sign():
    X, y = datasets.sleep_study()
    NN = Neural_Network(seed=5)
    before = NN.getParams()
    numgrad = computeNumericalGradient(NN, X, y)
    grad = NN.computeGradients(X, y)
    np.testing.assert_array_equal(NN.getParams(), before)
    assert np.linalg.norm(grad - numgrad) / np.linalg.norm(grad + numgrad) < 1e-8


def test_notebook_trainer_reaches_the_targets():
    X, y = datasets.sleep_study()
    NN = Neural_Network(seed=0)
    T = Trainer(NN)
    T.train(X, y)
    assert T.optimizationResults.success
    assert T.J[-1] < 1e-6 and len(T.J) == T.optimizationResults.nit
    np.testing.assert_allclose(NN.forward(X), y, atol=1e-3)
    # The result the notebook got (precision loss at 0.040577 after 3 iterations) is not ours.
    assert T.J[-1] < 0.040577 / 1e4


def test_bfgs_from_a_fixed_seed_trains_below_1e_6():
    X, y = datasets.sleep_study()
    net = qn.Network([2, 3, 1], bias=False, seed=0)
    res = qn.Trainer(net, method="BFGS").train(X, y)
    assert res.fun < 1e-6
    assert net.cost(X, y) == res.fun


def test_part7_regularisation_shrinks_the_weights_and_records_both_costs():
    Xtr, ytr, Xte, yte = datasets.sleep_study_split()
    start = qn.Network([2, 3, 1], bias=False, loss="mse", seed=0).get_params()
    norms, tests = {}, {}
    for l2 in (0.0, 1e-4):
        NN = Neural_Network(Lambda=l2)
        NN.setParams(start)
        T = Trainer(NN)
        res = T.train(Xtr, ytr, Xte, yte)
        assert len(T.J) == len(T.testJ) == res.nit > 0
        assert all(np.isfinite(T.J)) and all(np.isfinite(T.testJ))
        # testJ is the same cost on the test data, at each iterate.
        assert T.testJ[-1] == pytest.approx(NN.costFunction(Xte, yte), rel=1e-12)
        norms[l2] = np.sqrt(np.sum(NN.W1**2) + np.sum(NN.W2**2))
        plain = qn.Network([2, 3, 1], bias=False, loss="mse")
        plain.set_params(NN.getParams())
        tests[l2] = plain.cost(Xte, yte)
    assert norms[1e-4] < norms[0.0]
    assert tests[1e-4] < tests[0.0]  # regularisation helps on unseen students
