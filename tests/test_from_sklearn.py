"""quasinet.sklearn.from_sklearn: scikit-learn's fitted MLPs as fitted quasinet estimators."""

import warnings

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor

import quasinet as qn
from quasinet.export import to_onnx
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor, from_sklearn

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def _data(seed=0, n=200):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * [1.0, 3.0, 0.5, 2.0]
    Y = np.column_stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3] - 1.0])
    return X, Y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _close(got, want):
    # 1e-12 relative to the output's scale: only rounding differs (summation order, exp).
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_computes_the_same_function(activation, n_outputs):
    X, Y = _data()
    y = Y[:, 0] if n_outputs == 1 else Y
    mlp = _fit(MLPRegressor(hidden_layer_sizes=(7, 5), activation=activation, max_iter=300, random_state=0), X, y)
    est = from_sklearn(mlp)
    assert isinstance(est, QuasiNetRegressor)
    X_test = _data(seed=1)[0]
    want = mlp.predict(X_test)
    got = est.predict(X_test)
    assert got.shape == want.shape
    _close(got, want)
    assert est.network_.layer_sizes == (4, 7, 5, n_outputs)
    assert est.get_params()["hidden_layer_sizes"] == (7, 5) and est.n_features_in_ == 4


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("labels", ["binary_str", "binary_int", "multiclass"])
def test_classifier_computes_the_same_function(activation, labels):
    X, Y = _data()
    if labels == "binary_str":
        y = np.where(Y[:, 0] > 0, "up", "down")
    elif labels == "binary_int":
        y = np.where(Y[:, 0] > 0, 5, -3)
    else:
        y = (Y[:, 0] > 0).astype(int) + (Y[:, 1] > 0) * 2
    mlp = _fit(MLPClassifier(hidden_layer_sizes=(6,), activation=activation, max_iter=300, random_state=0), X, y)
    est = from_sklearn(mlp)
    assert isinstance(est, QuasiNetClassifier)
    X_test = _data(seed=2)[0]
    np.testing.assert_array_equal(est.classes_, mlp.classes_)
    np.testing.assert_allclose(est.predict_proba(X_test), mlp.predict_proba(X_test), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(est.predict(X_test), mlp.predict(X_test))
    assert est.network_.output_activation == ("softmax" if labels == "multiclass" else "sigmoid")


def test_converted_estimators_check_export_and_differentiate():
    X, Y = _data()
    mlp = _fit(MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=300, random_state=0), X, Y)
    est = from_sklearn(mlp, l2=1e-3)
    assert est.network_.l2 == 1e-3 and est.l2 == 1e-3
    # Gradient check on the converted network (its cost in quasinet's own terms).
    err = qn.check_gradient(est.network_, X[:20], Y[:20])
    assert err < 1e-6
    # Input Jacobian against central differences of scikit-learn's own predict.
    h = 1e-6
    J = est.input_jacobian(X[:5])
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        fd = (mlp.predict(X[:5] + e) - mlp.predict(X[:5] - e)) / (2 * h)
        np.testing.assert_allclose(J[:, :, j], fd, rtol=1e-6, atol=1e-8)
    # ONNX of the converted model reproduces scikit-learn's predictions.
    got = ort.InferenceSession(to_onnx(est).SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"X": X})[0]
    _close(got, mlp.predict(X))
    # Training further starts from scratch (fit re-initialises), and works.
    est.set_params(max_iter=30, tol=1e-3)
    _fit(est, X, Y)
    assert est.loss_ is not None


def test_feature_names_and_partial_fit_are_taken_over():
    X, Y = _data()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    mlp = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    y = np.where(Y[:, 0] > 0, "p", "q")
    for _ in range(3):
        mlp.partial_fit(df, y, classes=["p", "q"])
    est = from_sklearn(mlp)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(est.predict_proba(df), mlp.predict_proba(df), rtol=1e-12, atol=1e-13)
    assert est.to_model().inputs == ["a", "b", "c", "d"]


def test_the_comparison_can_fail():
    X, Y = _data()
    mlp = _fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=100, random_state=0), X, Y[:, 0])
    est = from_sklearn(mlp)
    est.network_.params[0] *= 1 + 1e-9
    with pytest.raises(AssertionError):
        _close(est.predict(X), mlp.predict(X))


def test_unsupported_inputs():
    X, Y = _data()
    with pytest.raises(TypeError, match="expects a fitted sklearn.neural_network.MLPRegressor or MLPClassifier, "
                                        "got LinearRegression"):
        from_sklearn(LinearRegression().fit(X, Y))
    with pytest.raises(TypeError, match="got QuasiNetRegressor"):
        from_sklearn(QuasiNetRegressor())
    with pytest.raises(ValueError, match="the MLPRegressor is not fitted"):
        from_sklearn(MLPRegressor())
    multilabel = _fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0), X, Y > 0)
    with pytest.raises(ValueError, match="multilabel classifier; QuasiNetClassifier supports binary and multiclass"):
        from_sklearn(multilabel)
    poisson = _fit(MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=50, random_state=0), X,
                   np.abs(Y[:, 0]))
    with pytest.raises(ValueError, match="output activation 'exp' is not supported"):
        from_sklearn(poisson)
    mlp = _fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0), X, Y)
    with pytest.raises(ValueError, match=r"l2 must lie in \[0.0, inf\], got -1"):
        from_sklearn(mlp, l2=-1)
    mlp.coefs_[1][0, 0] = np.nan
    with pytest.raises(ValueError, match="MLPRegressor layer 1 holds NaN or infinite weights"):
        from_sklearn(mlp)
    mlp.coefs_[1] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"layer 1: weights \(3, 2\) and biases \(2,\) do not chain"):
        from_sklearn(mlp)
