"""Classification by Bayesian regularisation: the softmax evidence against a closed form, and the
moderated probabilities against Monte Carlo averages over the Laplace posterior."""

import numpy as np
import pytest
from scipy import optimize
from scipy.special import expit, log_softmax, softmax
from sklearn.datasets import load_iris

import quasinet as qn
from quasinet import posterior
from quasinet.sklearn import QuasiNetClassifier


def softmax_monte_carlo(z, cov, n=400_000, seed=0):
    """E[softmax(u)], u ~ N(z[i], cov[i]) of every row, by sampling (fixed seed)."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(z)
    for i in range(z.shape[0]):
        # eigh, not Cholesky: the covariances here may be singular.
        lam, V = np.linalg.eigh(cov[i])
        u = z[i] + (rng.normal(size=(n, z.shape[1])) * np.sqrt(np.maximum(lam, 0.0))) @ V.T
        out[i] = softmax(u, axis=1).mean(axis=0)
    return out


def logit_covariances_of(K, rows, seed):
    """Random positive definite K x K covariances with a shared variance of every logit (the
    direction a softmax ignores) of up to 20, and variances of the differences of logits up to
    about 3 (those of the iris posterior reach 1 to 2)."""
    rng = np.random.default_rng(seed)
    out = np.empty((rows, K, K))
    for i in range(rows):
        B = rng.normal(size=(K, K)) * rng.uniform(0.1, 0.4)
        out[i] = B @ B.T + rng.uniform(0, 20) * np.ones((K, K))
    return out


def test_softmax_moderation_matches_monte_carlo_and_ignores_the_shared_direction():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(8, 3)) * 3
    cov = logit_covariances_of(3, 8, seed=2)
    got = posterior.softmax_moderated(z, cov)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-14)
    # The probit approximation of each pair is not exact (0.018 here); a per-logit moderation
    # is thrown off by the variance shared by all logits (0.18 here).
    ref = softmax_monte_carlo(z, cov)
    assert np.max(np.abs(got - ref)) < 0.025
    per_logit = softmax(z / np.sqrt(1 + np.pi * np.einsum("nkk->nk", cov) / 8), axis=1)
    assert np.max(np.abs(per_logit - ref)) > 0.1  # the test can tell the old form from the new
    # A variance shared by all logits changes no softmax, and no moderated probability either.
    shifted = cov + 7.0 * np.ones((3, 3))
    np.testing.assert_allclose(posterior.softmax_moderated(z, shifted), got, rtol=1e-13, atol=1e-15)


def test_softmax_moderation_of_two_classes_is_mackays_sigmoid_of_the_difference():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(20, 2)) * 4
    cov = logit_covariances_of(2, 20, seed=4)
    d = z[:, 0] - z[:, 1]
    v = cov[:, 0, 0] + cov[:, 1, 1] - 2 * cov[:, 0, 1]
    t = d / np.sqrt(1 + np.pi * v / 8)
    got = posterior.softmax_moderated(z, cov)
    # expit(-t), not 1 - expit(t): the latter loses the small probabilities' relative accuracy.
    np.testing.assert_allclose(got, np.stack([expit(t), expit(-t)], axis=1), rtol=1e-12)


def test_softmax_moderation_stays_finite_far_from_the_data():
    z = np.array([[900.0, -900.0, 0.0], [0.0, 0.0, 0.0]])
    cov = np.stack([np.eye(3) * 1e-3, np.zeros((3, 3))])
    got = posterior.softmax_moderated(z, cov)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[0], [1.0, 0.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(got[1], [1 / 3] * 3, rtol=1e-14)


def three_class_data(N=90, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d))
    W = np.array([[1.5, -1.0, 0.0], [0.0, 1.0, -1.0], [0.5, 0.5, -0.5]])[:d]
    y = np.array([rng.choice(3, p=p) for p in softmax(X @ W, axis=1)])
    return X, np.eye(3)[y]


def logit_jacobian(net, X):
    """d z_k / d theta of a linear network (no hidden layer), (N, K, P), from the layout alone."""
    (w_off, n_in, K, b_off), = net.layout
    J = np.zeros((X.shape[0], K, net.n_params))
    for i in range(n_in):
        for k in range(K):
            J[:, k, w_off + i * K + k] = X[:, i]  # W row-major: W[i, k] at i * K + k
    for k in range(K):
        J[:, k, b_off + k] = 1.0
    return J


def test_linear_softmax_evidence_and_posterior_against_the_closed_form():
    # A linear softmax model: at fixed alpha the objective M(w) = sum_n -ln p(y_n) + alpha/2 |w|^2
    # is convex, the Gauss-Newton matrix is its exact Hessian sum_n J_n^T (diag p_n - p_n p_n^T) J_n
    # (+ alpha I), and the Laplace log evidence is -M - ln det(H) / 2 + (P / 2) ln alpha.
    X, Y = three_class_data()
    net = qn.Network([3, 3], output_activation="softmax", loss="softmax_crossentropy", seed=0)
    res = qn.Trainer(net, method="BR", maxiter=200, options={"inner_maxiter": (200, 200)}).train(X, Y)
    alpha = float(res.alpha[0])
    J = logit_jacobian(net, X)
    y = Y.argmax(axis=1)

    def objective(w, alpha):
        z = np.einsum("nkp,p->nk", J, w)
        lp = log_softmax(z, axis=1)
        M = -lp[np.arange(len(y)), y].sum() + 0.5 * alpha * w @ w
        grad = np.einsum("nkp,nk->p", J, np.exp(lp) - Y) + alpha * w
        return M, grad

    def laplace(alpha):
        """(MAP weights, Hessian, log evidence) at prior precision alpha."""
        w = optimize.minimize(objective, np.zeros(net.n_params), args=(alpha,), jac=True, method="BFGS",
                              options={"gtol": 1e-10}).x
        p = softmax(np.einsum("nkp,p->nk", J, w), axis=1)
        curv = np.einsum("nk,kj->nkj", p, np.eye(3)) - np.einsum("nk,nj->nkj", p, p)
        H = np.einsum("nkp,nkj,njq->pq", J, curv, J) + alpha * np.eye(net.n_params)
        return w, H, -objective(w, alpha)[0] - 0.5 * np.linalg.slogdet(H)[1] + 0.5 * net.n_params * np.log(alpha)

    w, H, log_ev = laplace(alpha)
    np.testing.assert_allclose(res.x, w, atol=1e-6)
    assert res.log_evidence == pytest.approx(log_ev, abs=1e-6)
    np.testing.assert_allclose(res.covariance, np.linalg.inv(H), rtol=1e-6, atol=1e-10)
    # The alpha chosen is near the evidence maximum (the cycles stop within 0.1 nats of it).
    assert log_ev > laplace(2 * alpha)[2] and log_ev > laplace(alpha / 2)[2]


def test_linear_softmax_moderation_matches_monte_carlo_over_the_weights():
    # The logits of a linear network are linear in its weights, so sampling the weights from the
    # Laplace posterior samples the logits from exactly the Gaussian the moderation integrates.
    X, Y = three_class_data(seed=5)
    net = qn.Network([3, 3], output_activation="softmax", loss="softmax_crossentropy", seed=0)
    res = qn.Trainer(net, method="BR", maxiter=200).train(X, Y)
    Xt = np.random.default_rng(6).normal(size=(6, 3)) * 2
    got = posterior.moderated_probabilities([(net, res.covariance, 1.0)], Xt)
    rng = np.random.default_rng(7)
    lam, V = np.linalg.eigh(res.covariance)
    draws = res.x + (rng.normal(size=(20_000, net.n_params)) * np.sqrt(np.maximum(lam, 0))) @ V.T
    J = logit_jacobian(net, Xt)
    ref = softmax(np.einsum("nkp,sp->snk", J, draws), axis=2).mean(axis=0)
    assert np.max(np.abs(got - ref)) < 0.025
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-14)


@pytest.mark.slow  # the estimator's whole default model search on a real table
def test_iris_moderated_classifier_is_the_monte_carlo_average():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    test = np.arange(len(y)) % 10 == 0
    clf = QuasiNetClassifier(moderate=True, random_state=0).fit(X[~test], y[~test])
    got = clf.predict_proba(X[test])
    Xs = (X[test] - clf.x_mean_) / clf.x_scale_
    ref = []
    for net, cov, _ in clf.members_:  # a committee averages its members' moderated probabilities
        twin = posterior.logit_twin(net)
        ref.append(softmax_monte_carlo(twin.forward(Xs), posterior.logit_covariances(twin, cov, Xs), n=100_000))
    assert np.max(np.abs(got - np.mean(ref, axis=0))) < 0.03
    # Moderation keeps the most probable class and moves probabilities towards uniform only.
    clf.set_params(moderate=False)
    raw = clf.predict_proba(X[test])
    np.testing.assert_array_equal(got.argmax(axis=1), raw.argmax(axis=1))
    assert np.all(got.max(axis=1) <= raw.max(axis=1) + 1e-12)
