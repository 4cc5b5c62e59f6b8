"""Bayesian regularisation (Trainer method "BR", quasinet.evidence, the estimators' defaults)."""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import BayesianRidge

import quasinet as qn
from quasinet import evidence, fitting
from quasinet.io import load_model
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor


def linear_data(seed=0, N=60, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d))
    X -= X.mean(axis=0)
    y = X @ np.array([1.5, -2.0, 0.0, 0.3])[:d] + 0.5 * rng.normal(size=N)
    return X, y - y.mean()


@pytest.mark.parametrize("loss", ["sse", "mse"])
def test_linear_network_reaches_the_closed_form_evidence_maximum(loss):
    # No hidden layer, identity output, no biases, centred data: the evidence maximum is
    # scikit-learn's BayesianRidge without hyperpriors (its alpha_ is our beta, its lambda_ our
    # alpha), and gamma = sum_i l_i / (l_i + alpha / beta) over the eigenvalues l_i of X^T X.
    X, y = linear_data()
    ref = BayesianRidge(fit_intercept=False, alpha_1=0, alpha_2=0, lambda_1=0, lambda_2=0, tol=1e-15,
                        max_iter=100_000, compute_score=True).fit(X, y)
    net = qn.Network([4, 1], activation="identity", output_activation="identity", bias=False, loss=loss, seed=0)
    res = qn.Trainer(net, method="BR", maxiter=100_000, tol=1e-13, options={"patience": 50}).train(X, y)
    np.testing.assert_allclose(net.params, ref.coef_, rtol=1e-9)
    assert res.alpha.shape == (1,)
    assert res.alpha[0] == pytest.approx(ref.lambda_, rel=1e-8)
    assert res.beta == pytest.approx(ref.alpha_, rel=1e-8)
    eig = np.linalg.eigvalsh(X.T @ X)
    assert res.gamma == pytest.approx(np.sum(eig / (eig + res.alpha[0] / res.beta)), rel=1e-12)
    assert 0 < res.gamma < net.n_params
    # The log evidence is the linear model's log marginal likelihood (BayesianRidge's last score,
    # which without hyperpriors is exactly that), at the same alpha, beta.
    assert res.log_evidence == pytest.approx(ref.scores_[-1], rel=1e-8)
    # ... and the weights are the posterior mean, the covariance its inverse precision.
    np.testing.assert_allclose(res.covariance, ref.sigma_, rtol=1e-8)


def test_gamma_counts_well_determined_parameters_between_0_and_P():
    X, y = make_friedman1(n_samples=120, noise=1.0, random_state=0)
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    for ard in (False, True):
        net = qn.Network([10, 4, 1], activation="tanh", output_activation="identity", loss="mse", seed=1)
        res = qn.Trainer(net, method="BR", options={"ard": ard}).train(X, y)
        assert 0 < res.gamma < net.n_params
        assert np.all(res.gamma_groups > -1e-9) and np.all(res.gamma_groups <= np.bincount(
            evidence.parameter_groups(net, ard)[0]) + 1e-9)
        assert res.alpha.shape == ((10 + 1 + 1 + 1,) if ard else (1,))
        assert res.group_names[:2] == (["input 0", "input 1"] if ard else ["all parameters"])[:2]
        # beta is the inverse noise variance: near 1/(residual variance) of the fitted model.
        resid = np.mean((net.forward(X)[:, 0] - y) ** 2)
        assert res.beta == pytest.approx((len(y) - res.gamma) / (len(y) * resid), rel=0.2)
        # The cycle kept is the one of highest evidence.
        assert res.log_evidence == max(h["log_evidence"] for h in res.history)


def test_parameter_groups_follow_the_layout():
    net = qn.Network([3, 4, 2], seed=0)
    index, names = evidence.parameter_groups(net, ard=True)
    assert names == ["input 0", "input 1", "input 2", "layer 1 biases", "layer 2 weights", "layer 2 biases"]
    W1 = index[:12].reshape(3, 4)
    assert np.all(W1 == np.arange(3)[:, None])  # row i of W1 carries input i
    assert list(index[12:16]) == [3] * 4 and list(index[16:24]) == [4] * 8 and list(index[24:]) == [5] * 2
    index, names = evidence.parameter_groups(qn.Network([3, 4, 2], bias=False), ard=True)
    assert names == ["input 0", "input 1", "input 2", "layer 2 weights"]
    assert np.all(evidence.parameter_groups(net, ard=False)[0] == 0)


def test_symmetry_term():
    assert evidence.symmetry_log_factor(qn.Network([2, 3, 1], activation="tanh")) == pytest.approx(
        math.log(6 * 8))
    assert evidence.symmetry_log_factor(qn.Network([2, 3, 4, 1], activation="sigmoid")) == pytest.approx(
        math.log(6 * 8 * 24 * 16))  # sigmoid(-z) = 1 - sigmoid(z): the next layer's bias absorbs a flip
    assert evidence.symmetry_log_factor(qn.Network([2, 3, 4, 1], activation="sigmoid", bias=False)) == pytest.approx(
        math.log(6 * 24))
    assert evidence.symmetry_log_factor(qn.Network([2, 3, 1], activation="relu")) == pytest.approx(math.log(6))
    assert evidence.symmetry_log_factor(qn.Network([2, 1])) == 0.0


def test_effective_symmetry_counts_the_determined_units():
    net = qn.Network([2, 3, 1], activation="tanh")
    P = net.n_params
    w_off = net.layout[1][0]  # the output weights: one per hidden unit
    determined = np.ones(P)
    assert evidence.symmetry_log_factor(net, determined) == pytest.approx(math.log(6 * 8))
    pruned = np.ones(P)
    pruned[w_off:w_off + 3] = 0.0
    assert evidence.symmetry_log_factor(net, pruned) == pytest.approx(0.0, abs=1e-12)
    # Two units determined, one pruned: 3!/1! placements of the two, 2^2 flips.
    two = np.ones(P)
    two[w_off + 1] = 0.0
    assert evidence.symmetry_log_factor(net, two) == pytest.approx(math.log(6 * 4))
    # Only the outgoing weights count, and each layer has its own count (relu: no flips).
    deep = qn.Network([2, 3, 2, 1], activation="relu")
    g = np.zeros(deep.n_params)
    w2, n2_in, n2_out, _ = deep.layout[1]
    g[w2:w2 + n2_in * n2_out] = 1.0  # the 3 first-layer units determined, the 2 second-layer ones not
    assert evidence.symmetry_log_factor(deep, g) == pytest.approx(math.log(6))


def test_hyperparameter_occam_factors():
    R_alpha, R_beta = math.log(1e16), math.log(1e20)
    gamma_g = np.array([1.0, 4.0, 1e-6])
    want_alpha = sum(min(0.0, 0.5 * math.log(2 * math.pi * 2 / g) - math.log(R_alpha)) for g in gamma_g)
    want_beta = 0.5 * math.log(2 * math.pi * 2 / (100 - 5.0)) - math.log(R_beta)
    got = evidence.hyperparameter_log_occam(gamma_g, 5.0, 100.0, classification=False)
    assert got == pytest.approx(want_alpha + want_beta, rel=1e-12)
    # A precision the data leave undetermined (gamma_g -> 0) costs nothing: its factor is capped at 1.
    assert evidence.hyperparameter_log_occam([1e-6], 0.0, 100.0, True) == 0.0
    # Classification learns no beta; every further determined precision costs evidence.
    one = evidence.hyperparameter_log_occam([3.0], 3.0, 100.0, True)
    assert one < 0
    assert evidence.hyperparameter_log_occam([3.0, 3.0], 6.0, 100.0, True) == pytest.approx(2 * one)


def test_model_evidence_prefers_one_precision_when_inputs_are_alike():
    # A linear target in which every input matters equally: the ARD model's evidence at its own
    # alphas is higher (it contains the one-alpha model), but once its 8 further precisions are
    # paid for, the one-alpha model is the more probable, and it is what fit_candidates ranks first.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(150, 8))
    y = (X @ np.full(8, 0.5) + rng.normal(size=150))[:, None]
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()

    def make_net(hidden):
        return qn.Network([8, *hidden, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)

    fits = fitting.search(make_net, [], X, y, ard="auto", linear=True, rng=0)
    assert [(len(m.layer_sizes), r.ard) for _, m, r in fits] == [(2, False), (2, True)]
    (e_one, net_one, r_one), (e_ard, net_ard, r_ard) = fits
    assert r_ard.log_evidence > r_one.log_evidence
    assert e_one > e_ard
    n = 150.0
    for e, net, r in fits:
        want = r.log_evidence + evidence.hyperparameter_log_occam(r.gamma_groups, r.gamma, n, False)
        assert e == pytest.approx(want, rel=1e-12) and r.log_model_evidence == e
    # Half the inputs irrelevant: ARD is worth its precisions.
    y2 = (X[:, :4] @ np.full(4, 0.7) + 0.3 * rng.normal(size=150))[:, None]
    fits = fitting.search(make_net, [], X, (y2 - y2.mean()) / y2.std(), ard="auto", linear=True, rng=0)
    assert fits[0][2].ard is True


@pytest.mark.slow  # the estimator's whole default model search
def test_the_linear_model_is_a_candidate_of_the_default(tmp_path):
    X, y = linear_data(seed=8, N=120)
    reg = QuasiNetRegressor(random_state=0).fit(X, y)
    assert reg.hidden_layer_sizes_ == () and tuple(reg.network_.layer_sizes) == (4, 1)
    # The search ranks its candidates by fits it stops early; the kept model's fit continues from
    # the search's best cycle (the same weights and precisions) and keeps the better of the two,
    # so its evidence is at least the search's, and a linear model's barely moves.
    searched = reg.evidence_candidates_[0][2]
    assert searched <= reg.log_model_evidence_ <= searched + 1.0
    # A model file holds the linear model and its posterior: the same means and standard deviations.
    path = tmp_path / "linear.qnet"
    reg.save(path)
    mean, std = load_model(path).predict(X, return_std=True)
    want_mean, want_std = reg.predict(X, return_std=True)
    np.testing.assert_array_equal(np.ravel(mean), want_mean)
    np.testing.assert_array_equal(np.ravel(std), want_std)
    # With the width given, no linear candidate; ard=False: one precision for the linear model too.
    reg3 = QuasiNetRegressor(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    assert {(h, a) for h, a, _ in reg3.evidence_candidates_} == {((3,), True)}
    one = QuasiNetRegressor(ard=False, random_state=0).fit(X, y)
    assert not any(a for _, a, _ in one.evidence_candidates_) and one.feature_relevance_.shape == (X.shape[1],)


def test_restarts_are_ranked_by_evidence_not_by_training_cost():
    X, y = make_friedman1(n_samples=100, noise=1.0, random_state=1)
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    net = qn.Network([10, 3, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    trainer = qn.Trainer(net, method="BR", restarts=3, seed=2)
    best = trainer.train(X, y)
    assert len(trainer.runs) == 4
    assert best.log_evidence == max(r.log_evidence for r in trainer.runs)
    np.testing.assert_array_equal(net.params, best.x)
    assert trainer.J == best.J and len(best.J) == best.nit


def test_a_callback_error_keeps_the_point_of_highest_evidence():
    X, y = linear_data(seed=3)
    net = qn.Network([4, 3, 1], activation="tanh", output_activation="identity", loss="sse", seed=0)
    seen = []

    def stop_late(params):
        seen.append(params)
        if len(seen) == 150:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        qn.Trainer(net, method="BR", callback=stop_late).train(X, y)
    # Not the last point seen but the best cycle's, which the trainer recorded.
    assert any(np.array_equal(net.params, p) for p in seen)
    assert not np.array_equal(net.params, seen[-1])


def test_classification_learns_alpha_only():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 2))
    y = (X[:, 0] + X[:, 1] ** 2 - 1 + 0.5 * rng.normal(size=120) > 0).astype(float)
    net = qn.Network([2, 4, 1], activation="tanh", output_activation="sigmoid", loss="binary_crossentropy", seed=0)
    res = qn.Trainer(net, method="BR", options={"ard": True}).train(X, y)
    assert res.beta == 1.0 and all(h["beta"] == 1.0 for h in res.history)
    assert 0 < res.gamma < net.n_params
    # The data term is the summed cross-entropy: E_D = N * (the network's mean loss).
    plain = qn.Network(**{**net.spec(), "l2": 0.0})
    plain.set_params(net.params)
    assert res.E_D == pytest.approx(120 * plain.cost(X, y), rel=1e-12)


def test_bad_options_and_sizes():
    net = qn.Network([2, 3, 1])
    for options, exc, msg in [
        ({"ard": 1}, TypeError, "option ard must be a bool, got int"),
        ({"alpha0": -1.0}, ValueError, "option alpha0 must be a finite number > 0, got -1.0"),
        ({"beta0": np.inf}, ValueError, "option beta0 must be a finite number > 0"),
        ({"patience": 0}, ValueError, "option patience must be >= 1, got 0"),
        ({"patience": 2.5}, TypeError, "option patience must be an int"),
        ({"mu": 1.0}, ValueError, "unknown Bayesian-regularisation option 'mu': expected one of ard, alpha0"),
    ]:
        with pytest.raises(exc, match=msg):
            qn.Trainer(net, method="BR", options=options)
    with pytest.raises(ValueError, match=r"P = 9181 parameters.*L-BFGS-B"):
        qn.Trainer(qn.Network([100, 90, 1]), method="BR")


# -- the estimators ----------------------------------------------------------------------------
def friedman(n, seed):
    X, y = make_friedman1(n_samples=n, noise=1.0, random_state=seed)
    return X, y


@pytest.mark.slow  # the estimator's whole default model search
def test_estimator_defaults_use_br_and_report_the_evidence():
    X, y = friedman(200, 0)
    reg = QuasiNetRegressor(random_state=0).fit(X, y)
    assert reg.method_ == "BR" and reg.hidden_layer_sizes_ in [(1,), (2,), (4,), (8,), (16,)]
    assert 0 < reg.n_effective_params_ < reg.network_.n_params
    # Half the inputs are noise: the evidence, even charged for the extra precisions, picks ARD.
    assert reg.ard_ is True
    assert reg.alpha_.shape == (10 + 3,) and reg.beta_ > 0 and np.isfinite(reg.log_evidence_)
    assert reg.feature_relevance_.shape == (10,) and reg.feature_relevance_.sum() == pytest.approx(1.0)
    # Friedman #1 uses inputs 0-4 only: they carry the relevance, the linear x3 and x4 included.
    assert reg.feature_relevance_[:5].sum() > 0.95 and reg.feature_relevance_[:5].min() > reg.feature_relevance_[5:].max()
    # The models tried (the linear one with and without ARD, the widths with ARD), each with its
    # log model evidence as the search's early-stopped fit left it; the kept network is the best
    # of them, its fit continued (and kept only where its evidence rose).
    best = max(e for _, _, e in reg.evidence_candidates_)
    assert reg.evidence_candidates_[0][2] == best <= reg.log_model_evidence_
    tried = {(h, a) for h, a, _ in reg.evidence_candidates_}
    assert tried >= {((), False), ((), True), ((1,), True), ((2,), True)}
    assert not any(h and not a for h, a in tried)
    assert reg.log_model_evidence_ < reg.log_evidence_  # the hyperparameters' Occam factors are below 1
    # Noise std 1 in target units: 1/sqrt(beta) in standardised units times y_scale.
    assert reg.y_scale_[0] / math.sqrt(reg.beta_) == pytest.approx(1.0, rel=0.25)


@pytest.mark.slow  # the estimator's whole default model search
def test_predictive_std_is_calibrated_on_held_out_friedman_data():
    X, y = friedman(200, 0)
    Xt, yt = friedman(4000, 100)
    reg = QuasiNetRegressor(random_state=0).fit(X, y)
    mean, std = reg.predict(Xt, return_std=True)
    np.testing.assert_array_equal(mean, reg.predict(Xt))
    z = np.abs(yt - mean) / std
    within1, within2 = np.mean(z < 1), np.mean(z < 2)
    assert 0.62 < within1 < 0.74, within1  # Gaussian: 0.683
    assert 0.92 < within2 < 0.98, within2  # Gaussian: 0.954
    assert np.mean((mean - yt) ** 2) < 2.0  # the noise alone gives 1.0


def test_predictive_std_is_the_delta_method():
    X, y = friedman(80, 2)
    reg = QuasiNetRegressor(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    net, cov, beta = reg.members_[0]
    Xs = (X[:5] - reg.x_mean_) / reg.x_scale_
    g = net.jacobian(Xs)[:, 0, :]
    want = np.sqrt(np.einsum("np,pq,nq->n", g, cov, g) + 1.0 / beta) * reg.y_scale_[0]
    np.testing.assert_allclose(reg.predict(X[:5], return_std=True)[1], want, rtol=1e-12)


def test_committee_averages_the_best_networks():
    X, y = friedman(100, 3)
    reg = QuasiNetRegressor(hidden_layer_sizes=(3,), committee=3, restarts=3, random_state=0).fit(X, y)
    assert len(reg.members_) == 3
    Xs = (X - reg.x_mean_) / reg.x_scale_
    preds = [m.forward(Xs)[:, 0] * reg.y_scale_[0] + reg.y_mean_[0] for m, _, _ in reg.members_]
    np.testing.assert_allclose(reg.predict(X), np.mean(preds, axis=0), rtol=1e-12)
    mean, std = reg.predict(X, return_std=True)
    variances = []
    for m, cov, beta in reg.members_:
        g = m.jacobian(Xs)[:, 0, :]
        variances.append((np.einsum("np,pq,nq->n", g, cov, g) + 1 / beta) * reg.y_scale_[0] ** 2)
    mixture = np.mean([v + p**2 for v, p in zip(variances, preds)], axis=0) - np.mean(preds, axis=0) ** 2
    np.testing.assert_allclose(std, np.sqrt(mixture), rtol=1e-9)


@pytest.mark.slow  # the estimator's whole default model search
def test_classifier_moderated_probabilities():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(100, 2))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=100) > 0, "yes", "no")
    clf = QuasiNetClassifier(random_state=0).fit(X, y)
    assert clf.method_ == "BR" and clf.beta_ == 1.0
    far = np.array([[6.0, 6.0], [-6.0, -6.0], [0.0, 25.0]])
    moderated = clf.predict_proba(far)
    clf.set_params(moderate=False)
    raw = clf.predict_proba(far)
    # Moderation pulls every probability towards 1/2, most where the weights are least determined.
    assert np.all(np.abs(moderated - 0.5) <= np.abs(raw - 0.5) + 1e-15)
    np.testing.assert_array_equal(np.argmax(moderated, axis=1), np.argmax(raw, axis=1))
    np.testing.assert_allclose(moderated.sum(axis=1), 1.0)


def test_auto_method_falls_back_to_lbfgs_for_large_networks():
    X, y = friedman(50, 4)
    big = QuasiNetRegressor(hidden_layer_sizes=(200,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        big.fit(X, y)
    assert big.method_ == "L-BFGS-B" and big.n_effective_params_ is None  # 2,401 parameters > 2,000
    small = QuasiNetRegressor(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    assert small.method_ == "BR"
    stopped = QuasiNetRegressor(early_stopping=True, random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        stopped.fit(X, y)
    assert stopped.method_ == "L-BFGS-B"  # early stopping needs a method it can stop


@pytest.mark.parametrize(
    "params, error, message",
    [
        (dict(ard="yes"), TypeError, "ard must be a bool or 'auto', got 'yes'"),
        (dict(committee=0), ValueError, "committee must be >= 1, got 0"),
        (dict(committee=2.0), TypeError, "committee must be an int"),
        (dict(restarts=-1), ValueError, "restarts must be >= 1|restarts must be >= 0, got -1"),
        (dict(method="BR", early_stopping=True), ValueError, "early_stopping cannot be used with method 'BR'"),
        (dict(method="LM", committee=2), ValueError, "committee > 1 needs method 'BR'"),
        (dict(method="Nelder-Mead"), ValueError, "method must be one of"),
    ],
)
def test_bad_new_parameters_are_reported_at_fit(params, error, message):
    X, y = friedman(30, 5)
    with pytest.raises(error, match=message):
        QuasiNetRegressor(**params).fit(X, y)


def test_return_std_needs_a_bayesian_model():
    X, y = friedman(40, 6)
    reg = QuasiNetRegressor(method="L-BFGS-B", hidden_layer_sizes=(3,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    with pytest.raises(ValueError, match="return_std needs a model trained by Bayesian regularisation.*L-BFGS-B"):
        reg.predict(X, return_std=True)


def test_threads_do_not_change_the_fit():
    X, y = friedman(60, 7)
    fits = []
    for threads in (1, 2):
        qn.set_num_threads(threads)
        try:
            fits.append(QuasiNetRegressor(hidden_layer_sizes=(3,), restarts=3, random_state=0).fit(X, y))
        finally:
            qn.set_num_threads(0)
    assert fits[0].log_evidence_ == fits[1].log_evidence_
    np.testing.assert_array_equal(fits[0].network_.params, fits[1].network_.params)
