"""quasinet.export.to_onnx of a committee (several networks averaged, io.Model.members): the graph,
run by onnxruntime, against what io.Model computes (predict, predict(return_std=True),
predict_proba, predict_classes) and against the mixture formed here by hand from each member
alone; and checks that would fail if the export used the first member only.

Tolerances: 1e-12 relative in float64 (the outputs here are far from the cancellations that
tests/test_export_std.py bounds term by term); float32 as the float32 tests there: 1e-5 for
predictions and plain probabilities, 1e-4 for the standard deviation and moderated
probabilities, relative to the output plus the largest output (a mean near zero is a difference
of the members' outputs and of the target offset, so only absolute accuracy is meaningful there).
"""

import numpy as np
import onnxruntime as ort
import pytest

import quasinet as qn
from quasinet import io as qio
from quasinet.evidence import parameter_groups
from quasinet.export import covariance_factor, to_onnx
from quasinet.posterior import Posterior
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

# The members' hidden layers: different widths, and one deeper member (layer sizes may differ).
HIDDEN = [(4,), (2,), (3, 2)]
LOSSES = {"identity": "mse", "sigmoid": "binary_crossentropy", "softmax": "softmax_crossentropy"}


def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _member(hidden, n_out, output, seed, beta, moderate, activation="tanh"):
    """A network with perturbed weights and a hand-made posterior: a random covariance of
    eigenvalues 1e-4 .. 0.3 (well conditioned: the comparisons are about the averaging)."""
    rng = np.random.default_rng(seed)
    net = qn.Network([3, *hidden, n_out], activation=activation, output_activation=output,
                     loss=LOSSES[output], seed=seed)
    net.params[...] += 0.5 * rng.normal(size=net.n_params)
    P = net.n_params
    Q, _ = np.linalg.qr(rng.normal(size=(P, P)))
    cov = (Q * np.geomspace(1e-4, 0.3, P)) @ Q.T
    names = parameter_groups(net, False)[1]
    post = Posterior(covariance=(cov + cov.T) / 2, beta=beta, alpha=np.ones(len(names)), group_names=names,
                     gamma=1.0, log_evidence=-float(seed), ard=False, moderate=moderate)
    return net, post


def _regressor(per_output, n=3):
    """A committee of n regressors with two targets, input and target scaling; beta one float
    per member, or one per output (different for every member)."""
    members = [_member(HIDDEN[k % 3], 2, "identity", 10 + k,
                       np.array([20.0 + 5 * k, 3.0 + k]) if per_output else 10.0 + 7 * k, False)
               for k in range(n)]
    (net, post), others = members[0], members[1:]
    return qio.Model(net, [0.5, -1.0, 2.0], [2.0, 3.0, 0.5], [1.0, -20.0], [2.0, 5.0], inputs=["u", "v", "w"],
                     targets=["s", "t"], posterior=post, method="BR", committee=others)


def _classifier(n_classes, moderate, n=3):
    n_out, output = (1, "sigmoid") if n_classes == 2 else (n_classes, "softmax")
    classes = ["no", "yes"] if n_classes == 2 else [3, 1, 2]
    members = [_member(HIDDEN[k % 3], n_out, output, 20 + k, 1.0, moderate) for k in range(n)]
    (net, post), others = members[0], members[1:]
    return qio.Model(net, [0.5, -1.0, 2.0], [2.0, 3.0, 0.5], classes=classes, posterior=post, method="BR",
                     committee=others)


def _first_only(model):
    """The committee's first member alone, with the committee's scaling and classes."""
    return qio.Model(model.net, model.x_offset, model.x_scale, model.y_offset, model.y_scale,
                     classes=model.classes, posterior=model.posterior)


def _X(n=120, seed=2):
    return np.random.default_rng(seed).normal(size=(n, 3)) * [2.0, 3.0, 0.5] + [0.5, -1.0, 2.0]


def _assert_close(got, want, rtol):
    """|got - want| <= rtol (|want| + max |want|) (module docstring)."""
    err = np.abs(np.asarray(got, dtype=np.float64) - want)
    ok = err <= rtol * (np.abs(want) + np.abs(want).max())
    assert ok.all(), f"{(~ok).sum()} of {ok.size} off: worst relative {np.max(err / np.abs(want)):.3g}"


# -- regression ------------------------------------------------------------------------------------
@pytest.mark.parametrize("per_output", [False, True], ids=["one beta", "beta per output"])
def test_committee_regressor_predictions_and_mixture_std_equal_the_model(per_output):
    model = _regressor(per_output)
    assert [tuple(m.layer_sizes) for m, _ in model.members] == [(3, 4, 2), (3, 2, 2), (3, 3, 2, 2)]
    assert isinstance(model.members[1][1].beta, np.ndarray) == per_output
    X = _X()
    proto = to_onnx(model)
    assert [o.name for o in proto.graph.output] == ["predictions", "std"]
    mean, std = _session(proto).run(None, {"X": X})
    want_mean, want_std = model.predict(X, return_std=True)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=0)
    np.testing.assert_allclose(std, want_std, rtol=1e-12, atol=0)
    np.testing.assert_allclose(mean, model.predict(X), rtol=1e-12, atol=0)
    # Without the standard deviation: the same mean, and no covariance factor in the graph.
    plain = to_onnx(model, return_std=False)
    assert [o.name for o in plain.graph.output] == ["predictions"]
    assert not any(i.name.startswith("m0_L") for i in plain.graph.initializer)
    np.testing.assert_array_equal(_session(plain).run(None, {"X": X})[0], mean)
    mean32, std32 = _session(to_onnx(model, dtype="float32")).run(None, {"X": X.astype(np.float32)})
    assert mean32.dtype == std32.dtype == np.float32
    _assert_close(mean32, want_mean, 1e-5)
    _assert_close(std32, want_std, 1e-4)


def test_committee_std_is_the_mixture_of_the_members_alone():
    # An independent reference: each member exported and run alone, its mean and standard
    # deviation in target units, mixed here (the second moment's mean minus the squared mean).
    model = _regressor(per_output=True)
    X = _X()
    mus, variances = [], []
    for net, post in model.members:
        alone = qio.Model(net, model.x_offset, model.x_scale, model.y_offset, model.y_scale, posterior=post)
        mu, s = _session(to_onnx(alone)).run(None, {"X": X})
        mus.append(mu)
        variances.append(s * s)
    mean = np.mean(mus, axis=0)
    mix = np.mean([v + (m - mean) ** 2 for m, v in zip(mus, variances)], axis=0)
    got_mean, got_std = _session(to_onnx(model)).run(None, {"X": X})
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got_std, np.sqrt(mix), rtol=1e-10, atol=0)
    # The spread of the members' means counts: the mixture is wider than the mean member.
    assert np.all(got_std > np.sqrt(np.mean(variances, axis=0)) * (1 + 1e-6))


# -- classification --------------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3], ids=["sigmoid", "softmax"])
@pytest.mark.parametrize("moderate", [True, False], ids=["moderated", "plain"])
def test_committee_classifier_probabilities_and_labels_equal_the_model(n_classes, moderate):
    model = _classifier(n_classes, moderate)
    assert model.moderated == moderate
    X = _X(seed=3)
    proto = to_onnx(model)
    assert [o.name for o in proto.graph.output] == ["probabilities", "labels"]
    proba, labels = _session(proto).run(None, {"X": X})
    want = model.predict_proba(X)
    assert proba.shape == want.shape == (len(X), n_classes)
    np.testing.assert_allclose(proba, want, rtol=1e-12, atol=1e-16)
    assert list(labels) == list(model.predict_classes(X))
    assert len(set(labels)) == n_classes  # every class is predicted somewhere: the labels are tested
    proba32, labels32 = _session(to_onnx(model, dtype="float32")).run(None, {"X": X.astype(np.float32)})
    assert proba32.dtype == np.float32
    _assert_close(proba32, want, 1e-4 if moderate else 1e-5)


def test_committee_moderation_matters():
    # The moderated committee differs from the plain one by far more than the tolerance: the
    # comparisons above see which one the graph computes.
    for n_classes in (2, 3):
        moderated = _classifier(n_classes, True)
        plain = _classifier(n_classes, False)
        X = _X(seed=3)
        a = _session(to_onnx(moderated)).run(None, {"X": X})[0]
        b = _session(to_onnx(plain)).run(None, {"X": X})[0]
        assert np.max(np.abs(a - b)) > 1e-3


# -- the whole committee, not its first member -----------------------------------------------------
@pytest.mark.parametrize("kind", ["regressor", "sigmoid", "softmax"])
def test_the_export_is_not_the_first_member_alone(kind):
    model = {"regressor": lambda: _regressor(True), "sigmoid": lambda: _classifier(2, True),
             "softmax": lambda: _classifier(3, True)}[kind]()
    X = _X(seed=4)
    got = _session(to_onnx(model)).run(None, {"X": X})
    first = _session(to_onnx(_first_only(model))).run(None, {"X": X})
    for name, a, b in zip(("mean", "std/proba"), got, first):
        if a.dtype.kind == "f":
            assert np.max(np.abs(a - b) / np.abs(b)) > 1e-3, name
    # And the comparison with the model fails on the first member's export.
    want = model.predict_proba(X) if model.classes else model.predict(X)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(first[0], want, rtol=1e-12, atol=1e-16)


def test_each_member_carries_its_own_factor_and_nothing_larger():
    # Cost: per member its own P_m x P_m factor (the sum of the P_m^2, no cross terms), the
    # factor of that member's covariance.
    model = _regressor(per_output=False)
    proto = to_onnx(model)
    factors = {i.name: i for i in proto.graph.initializer if i.name.startswith(tuple(f"m{k}_L" for k in range(3)))}
    assert len(factors) == 3
    for k, (net, post) in enumerate(model.members):
        (init,) = [f for name, f in factors.items() if name.startswith(f"m{k}_L")]
        np.testing.assert_array_equal(np.frombuffer(init.raw_data, dtype=np.float64).reshape(init.dims),
                                      covariance_factor(post.covariance))
    biggest = max(int(np.prod(i.dims)) for i in proto.graph.initializer)
    assert biggest == max(net.n_params for net, _ in model.members) ** 2
    assert "committee of 3 networks 3-4-2, 3-2-2, 3-3-2-2" in proto.graph.doc_string


def test_a_committee_of_float32_refuses_what_float32_cannot_hold():
    # Every member's numbers are checked, not the first member's only.
    model = _regressor(per_output=False)
    model.members[2][0].params[0] = 1e-60
    with pytest.raises(ValueError, match=r"the network's parameters of committee member 2 holds 1e-60 \(entry 0\), "
                                         "which float32 cannot represent"):
        to_onnx(model, dtype="float32")
    to_onnx(model)  # float64 holds it


# -- fitted estimators -----------------------------------------------------------------------------
def _data(seed=3, n=120):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, rng


def test_fitted_committee_regressor_with_a_beta_per_target():
    X, rng = _data()
    Y = np.column_stack([np.sin(X[:, 0]) + 0.1 * rng.normal(size=len(X)),
                         X[:, 0] * X[:, 1] + 0.4 * rng.normal(size=len(X))])
    reg = QuasiNetRegressor(hidden_layer_sizes=(3,), method="BR", restarts=2, committee=3, random_state=0).fit(X, Y)
    assert len(reg.members_) > 1
    model = reg.to_model()
    assert isinstance(model.posterior.beta, np.ndarray) and model.posterior.beta.shape == (2,)
    mean, std = _session(to_onnx(reg)).run(None, {"X": X})
    want_mean, want_std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=0)
    np.testing.assert_allclose(std, want_std, rtol=1e-12, atol=0)


def test_fitted_default_committee_regressor():
    X, rng = _data(seed=5)
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=len(X))
    reg = QuasiNetRegressor(committee=3, random_state=0).fit(X, y)
    assert len(reg.members_) > 1
    mean, std = _session(to_onnx(reg)).run(None, {"X": X})
    want_mean, want_std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, want_mean.reshape(mean.shape), rtol=1e-12, atol=0)
    np.testing.assert_allclose(std, want_std.reshape(std.shape), rtol=1e-12, atol=0)


@pytest.mark.parametrize("n_classes", [2, 3], ids=["sigmoid", "softmax"])
def test_fitted_committee_classifier(n_classes):
    X, rng = _data()
    if n_classes == 2:
        y = np.where(X[:, 0] + 0.5 * rng.normal(size=len(X)) > 0, "a", "b")
    else:
        y = np.select([X[:, 0] > 0.5, X[:, 1] > 0], ["hi", "mid"], "lo")
    clf = QuasiNetClassifier(hidden_layer_sizes=(3,), method="BR", restarts=2, committee=2, random_state=0).fit(X, y)
    assert len(clf.members_) > 1
    for moderate in (True, False):
        clf.set_params(moderate=moderate)
        assert clf.to_model().moderated == moderate
        proba, labels = _session(to_onnx(clf)).run(None, {"X": X})
        np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-16)
        assert list(labels) == list(clf.predict(X))
