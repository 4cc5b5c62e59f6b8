"""quasinet.sklearn.load_estimator: a model file back as a fitted estimator that predicts as the file does."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from quasinet import Network, io  # noqa: E402
from quasinet.sklearn import estimator_from_model, load_estimator  # noqa: E402
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor  # noqa: E402


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.05 * rng.normal(size=n)
    return X, y


def fitted(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits may stop at max_iter
        return est.fit(X, y)


@pytest.mark.parametrize("make,target", [
    (lambda: QuasiNetRegressor(hidden_layer_sizes=(4,), method="BR", ard=True, max_iter=50, random_state=0), "1d"),
    (lambda: QuasiNetRegressor(hidden_layer_sizes=(4,), method="L-BFGS-B", max_iter=100, random_state=0), "1d"),
    (lambda: QuasiNetRegressor(hidden_layer_sizes=(3,), method="BR", max_iter=30, random_state=1), "2d"),
    (lambda: QuasiNetClassifier(hidden_layer_sizes=(3,), method="BR", max_iter=30, random_state=0), "binary"),
    (lambda: QuasiNetClassifier(hidden_layer_sizes=(3,), method="BR", max_iter=30, moderate=False,
                                random_state=0), "binary"),
    (lambda: QuasiNetClassifier(hidden_layer_sizes=(3,), method="L-BFGS-B", max_iter=100, random_state=0), "three"),
])
def test_loaded_estimator_predicts_as_the_file_and_the_original(tmp_path, make, target):
    X, y = data()
    if target == "2d":
        y = np.column_stack([y, -2 * y + 1])
    elif target == "binary":
        y = np.where(y > 0, "up", "down")
    elif target == "three":
        y = np.digitize(y, [-0.5, 0.5])
    original = fitted(make(), X, y)
    path = tmp_path / "m.qnet"
    original.save(path)
    model = io.load_model(path)
    est = load_estimator(path)
    assert type(est) is type(original)
    Xn = data(15, seed=5)[0]
    if isinstance(est, QuasiNetClassifier):
        np.testing.assert_array_equal(est.classes_, original.classes_)
        np.testing.assert_array_equal(est.predict_proba(Xn), model.predict_proba(Xn))
        np.testing.assert_allclose(est.predict_proba(Xn), original.predict_proba(Xn), rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(est.predict(Xn), original.predict(Xn))
        np.testing.assert_array_equal(est.predict(Xn), model.predict_classes(Xn))
        assert est.score(X, y) == original.score(X, y)
    else:
        P = est.predict(Xn)
        assert P.shape == original.predict(Xn).shape
        np.testing.assert_array_equal(P.reshape(len(Xn), -1), model.predict(Xn))
        np.testing.assert_allclose(P, original.predict(Xn), rtol=1e-12, atol=1e-12)
        if model.posterior is not None:
            mean, std = est.predict(Xn, return_std=True)
            m2, s2 = model.predict(Xn, return_std=True)
            np.testing.assert_array_equal(std.reshape(len(Xn), -1), s2)
            np.testing.assert_allclose(std, original.predict(Xn, return_std=True)[1], rtol=1e-12)
        else:
            with pytest.raises(ValueError, match="return_std needs a model trained by Bayesian regularisation"):
                est.predict(Xn, return_std=True)
    if not (isinstance(est, QuasiNetClassifier) and est.moderate and est.members_):  # moderated: no Jacobian
        np.testing.assert_allclose(est.input_jacobian(Xn), original.input_jacobian(Xn), rtol=1e-12, atol=1e-14)
    for name in ("method_", "hidden_layer_sizes_", "n_features_in_", "ard_", "n_effective_params_",
                 "log_evidence_"):
        assert getattr(est, name) == getattr(original, name), name
    # beta_: a float, or one noise precision per target (an array) for several targets.
    np.testing.assert_array_equal(est.beta_, original.beta_)
    assert type(est.beta_) is type(original.beta_)
    if original.members_:  # a model file holds the relevance with the posterior
        np.testing.assert_array_equal(est.feature_relevance_, original.feature_relevance_)
    # saved again, it is the same file content
    est.save(tmp_path / "again.qnet")
    again = io.load_model(tmp_path / "again.qnet")
    np.testing.assert_array_equal(again.net.params, model.net.params)
    assert again.inputs == model.inputs and again.classes == model.classes


def test_feature_names_refit_and_a_bare_network(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = data()
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    original = fitted(QuasiNetRegressor(hidden_layer_sizes=(2,), method="L-BFGS-B", max_iter=50, random_state=0),
                      df, y)
    original.save(tmp_path / "m.qnet")
    est = load_estimator(tmp_path / "m.qnet")
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(est.predict(df), original.predict(df))
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df[["c", "b", "a"]])
    # hyperparameters come from the file: fit trains afresh the same kind of network
    assert est.get_params()["hidden_layer_sizes"] == (2,) and est.get_params()["method"] == "L-BFGS-B"
    refit = fitted(est, df, y)
    assert tuple(refit.network_.layer_sizes) == (3, 2, 1) and refit.n_iter_ > 0
    # a network saved without scaling or names
    net = Network([3, 2, 1], seed=0)
    io.save(tmp_path / "bare.qnet", net)
    bare = load_estimator(tmp_path / "bare.qnet")
    assert not hasattr(bare, "feature_names_in_")
    np.testing.assert_array_equal(bare.predict(X), net.forward(X).ravel())
    with pytest.raises(TypeError, match="model must be a quasinet.io.Model"):
        estimator_from_model(net)
    with pytest.raises(FileNotFoundError):
        load_estimator(tmp_path / "none.qnet")


def test_version_flag():
    from quasinet import __version__

    proc = subprocess.run([sys.executable, "-m", "quasinet", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"quasinet {__version__}"


def test_estimator_load_classmethod_checks_the_kind(tmp_path):
    from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    est = QuasiNetRegressor(hidden_layer_sizes=(3,), restarts=0, random_state=0).fit(X, X[:, 0] ** 2)
    path = tmp_path / "r.qnet"
    est.save(path)
    back = QuasiNetRegressor.load(path)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    with pytest.raises(TypeError, match="holds a QuasiNetRegressor, not a QuasiNetClassifier"):
        QuasiNetClassifier.load(path)
