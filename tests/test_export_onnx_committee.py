"""quasinet.export.to_onnx of a committee (several networks averaged, io.Model.members): the graph,
run by onnxruntime, against what io.Model computes (predict, predict(return_std=True),
predict_proba, predict_classes) and against the mixture formed here by hand from each member
alone; and checks that would fail if the export used the first member only.

Tolerances. The hand-made committees have well-conditioned covariances (eigenvalues 1e-4 ..
0.3): their standard deviations and probabilities are compared to 1e-12 relative in float64.
A mean in target units near zero is a difference of the members' outputs and of the target
offset, so only its absolute accuracy is meaningful: means are compared to 1e-12 relative to
the output plus the largest output (:func:`_assert_close`). float32 as the float32 tests of
tests/test_export_std.py: 1e-5 for predictions and plain probabilities, 1e-4 for the standard
deviation and moderated probabilities, relative to the output plus the largest output.

A fitted network's covariance can have a condition of 1e13: its quadratic form v = g^T A^-1 g
is then only accurate relative to the magnitude of its terms, T = |g|^T |A^-1| |g|
(tests/test_export_std.py), so the fitted committees' standard deviation and moderated
probabilities are compared to 1e-12 of the first-order bounds that follow from it, averaged
over the members (:func:`_std_bound`, :func:`_proba_bound`).
"""

import numpy as np
import pytest
import reference as ref

import quasinet as qn
from quasinet import io as qio
from quasinet.evidence import parameter_groups
from quasinet.export import covariance_factor, to_onnx
from quasinet.posterior import Posterior, logit_twin
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor
from export_helpers import onnx_session

# The members' hidden layers: different widths, and one deeper member (layer sizes may differ).
HIDDEN = [(4,), (2,), (3, 2)]
LOSSES = {"identity": "mse", "sigmoid": "binary_crossentropy", "softmax": "softmax_crossentropy"}


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


def _quadratic_form(G, cov):
    """v = g^T A^-1 g and T = |g|^T |A^-1| |g| for each row of G (N, P)."""
    return np.einsum("np,pq,nq->n", G, cov, G), np.einsum("np,pq,nq->n", np.abs(G), np.abs(cov), np.abs(G))


def _std_bound(model, X):
    """How far rounding may move a committee's standard deviation s, divided by rtol (N, K),
    target units: each member's v_m is off by up to rtol (v_m + T_m), and the mixture's
    variance mean_m(v_m + 1/beta_m + mu_m^2) - mean^2 by rtol times the sum of those terms'
    magnitudes B; so s by rtol (s + B / (2 s))."""
    Xs = model.transform_inputs(X)
    mus, var = [], []
    B = 0.0
    for net, post in model.members:
        mu, G = net.forward(Xs), net.jacobian(Xs)  # (N, K), (N, K, P)
        forms = [_quadratic_form(G[:, k], post.covariance) for k in range(mu.shape[1])]
        v, T = np.column_stack([f[0] for f in forms]), np.column_stack([f[1] for f in forms])
        B = B + (v + T + 1.0 / post.beta + mu * mu) / len(model.members)
        mus.append(mu)
        var.append(v + 1.0 / post.beta)
    mean = np.mean(mus, axis=0)
    s = np.sqrt(np.mean([v + m * m for m, v in zip(mus, var)], axis=0) - mean * mean)
    scale = 1.0 if model.y_scale is None else np.abs(model.y_scale)
    return (s + (B + mean * mean) / (2 * s)) * scale


def _proba_bound(model, X):
    """How far rounding may move a moderated committee's probabilities, divided by rtol (N, C):
    per member and logit difference d (z itself for a sigmoid), u = d / kappa, kappa =
    sqrt(1 + pi v / 8), is off by up to B_u = (|d| + T_d) / kappa + |d| pi (v + T) / (16
    kappa^3) (T_d: the magnitudes of d's terms); a probability p by p (1 - p) B_u (a sigmoid's
    1 - p also by p: it is a subtraction) or, for a softmax, 2 p max_c B_u; then their mean."""
    Xs = model.transform_inputs(X)
    total = 0.0
    for net, post in model.members:
        twin = logit_twin(net)
        z, Tz = ref.output_terms(twin, Xs)
        G = twin.jacobian(Xs)  # (N, K, P)
        K = z.shape[1]
        pairs = [(0, None)] if K == 1 else [(k, c) for k in range(K) for c in range(K) if c != k]
        B_u = np.zeros((len(Xs), K))
        for k, c in pairs:
            d, Td, Gd = ((z[:, k], Tz[:, k], G[:, k]) if c is None else
                         (z[:, k] - z[:, c], Tz[:, k] + Tz[:, c], G[:, k] - G[:, c]))
            v, T = _quadratic_form(Gd, post.covariance)
            kappa = np.sqrt(1.0 + np.pi * v / 8.0)
            bound = (np.abs(d) + Td) / kappa + np.abs(d) * np.pi * (v + T) / (16.0 * kappa**3)
            B_u[:, k] = np.maximum(B_u[:, k], bound)
        p = qio.Model(net, posterior=post, classes=model.classes).predict_proba(Xs)
        if K == 1:
            spread = p[:, 1] * p[:, 0] * B_u[:, 0]
            total = total + np.column_stack([spread + p[:, 1], spread]) / len(model.members)
        else:
            total = total + 2 * p * B_u.max(axis=1, keepdims=True) / len(model.members)
    return total


def _assert_within(got, want, bound, rtol):
    err = np.abs(got - want)
    ok = err <= rtol * (np.abs(want) + bound)
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
    mean, std = onnx_session(proto).run(None, {"X": X})
    want_mean, want_std = model.predict(X, return_std=True)
    _assert_close(mean, want_mean, 1e-12)
    np.testing.assert_allclose(std, want_std, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(model.predict(X), want_mean)
    # Without the standard deviation: the same mean, and no covariance factor in the graph.
    plain = to_onnx(model, return_std=False)
    assert [o.name for o in plain.graph.output] == ["predictions"]
    assert not any(i.name.startswith("m0_L") for i in plain.graph.initializer)
    np.testing.assert_array_equal(onnx_session(plain).run(None, {"X": X})[0], mean)
    mean32, std32 = onnx_session(to_onnx(model, dtype="float32")).run(None, {"X": X.astype(np.float32)})
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
        mu, s = onnx_session(to_onnx(alone)).run(None, {"X": X})
        mus.append(mu)
        variances.append(s * s)
    mean = np.mean(mus, axis=0)
    mix = np.mean([v + (m - mean) ** 2 for m, v in zip(mus, variances)], axis=0)
    got_mean, got_std = onnx_session(to_onnx(model)).run(None, {"X": X})
    _assert_close(got_mean, mean, 1e-12)
    # 1e-10: the reference squares rounded standard deviations and sums the spread about the
    # mean, where the graph subtracts the squared mean from the second moment (as io.Model).
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
    proba, labels = onnx_session(proto).run(None, {"X": X})
    want = model.predict_proba(X)
    assert proba.shape == want.shape == (len(X), n_classes)
    np.testing.assert_allclose(proba, want, rtol=1e-12, atol=1e-16)
    assert list(labels) == list(model.predict_classes(X))
    assert len(set(labels)) == n_classes  # every class is predicted somewhere: the labels are tested
    proba32, labels32 = onnx_session(to_onnx(model, dtype="float32")).run(None, {"X": X.astype(np.float32)})
    assert proba32.dtype == np.float32
    _assert_close(proba32, want, 1e-4 if moderate else 1e-5)


def test_committee_moderation_matters():
    # The moderated committee differs from the plain one by far more than the tolerance: the
    # comparisons above see which one the graph computes.
    for n_classes in (2, 3):
        moderated = _classifier(n_classes, True)
        plain = _classifier(n_classes, False)
        X = _X(seed=3)
        a = onnx_session(to_onnx(moderated)).run(None, {"X": X})[0]
        b = onnx_session(to_onnx(plain)).run(None, {"X": X})[0]
        assert np.max(np.abs(a - b)) > 1e-3


# -- the whole committee, not its first member -----------------------------------------------------
@pytest.mark.parametrize("kind", ["regressor", "sigmoid", "softmax"])
def test_the_export_is_not_the_first_member_alone(kind):
    model = {"regressor": lambda: _regressor(True), "sigmoid": lambda: _classifier(2, True),
             "softmax": lambda: _classifier(3, True)}[kind]()
    X = _X(seed=4)
    got = onnx_session(to_onnx(model)).run(None, {"X": X})
    first = onnx_session(to_onnx(_first_only(model))).run(None, {"X": X})
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
    mean, std = onnx_session(to_onnx(reg)).run(None, {"X": X})
    want_mean, want_std = reg.predict(X, return_std=True)
    _assert_close(mean, want_mean, 1e-12)
    _assert_within(std, want_std, _std_bound(model, X), 1e-12)


def test_fitted_default_committee_regressor():
    X, rng = _data(seed=5)
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=len(X))
    reg = QuasiNetRegressor(committee=3, random_state=0).fit(X, y)
    assert len(reg.members_) > 1
    mean, std = onnx_session(to_onnx(reg)).run(None, {"X": X})
    want_mean, want_std = reg.predict(X, return_std=True)
    _assert_close(mean, want_mean.reshape(mean.shape), 1e-12)
    _assert_within(std, want_std.reshape(std.shape), _std_bound(reg.to_model(), X), 1e-12)


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
        model = clf.to_model()
        assert model.moderated == moderate
        proba, labels = onnx_session(to_onnx(clf)).run(None, {"X": X})
        want = clf.predict_proba(X)
        if moderate:
            _assert_within(proba, want, _proba_bound(model, X), 1e-12)
        else:
            np.testing.assert_allclose(proba, want, rtol=1e-12, atol=1e-16)
        assert list(labels) == list(clf.predict(X))


def test_the_bounds_are_tight_enough_to_fail():
    # The fitted committees' bounds (ill-conditioned covariances) still see a change of 1e-9 of
    # the standard deviation or of a probability: a member left out changes far more.
    X, rng = _data()
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=len(X))
    model = QuasiNetRegressor(hidden_layer_sizes=(3,), method="BR", restarts=2, committee=3,
                              random_state=0).fit(X, y).to_model()
    std = model.predict(X, return_std=True)[1]
    bound = _std_bound(model, X)
    _assert_within(std, std, bound, 1e-12)
    with pytest.raises(AssertionError, match="off"):
        _assert_within(std * (1 + 1e-9), std, bound, 1e-12)
    labels = np.where(X[:, 0] + 0.5 * rng.normal(size=len(X)) > 0, "a", "b")
    for y in (labels, np.select([X[:, 0] > 0.5, X[:, 1] > 0], ["hi", "mid"], "lo")):
        model = QuasiNetClassifier(hidden_layer_sizes=(3,), method="BR", restarts=2, committee=2,
                                   random_state=0).fit(X, y).to_model()
        proba = model.predict_proba(X)
        with pytest.raises(AssertionError, match="off"):
            _assert_within(proba * (1 + 1e-9), proba, _proba_bound(model, X), 1e-12)
