"""One noise precision per output: the core's output weights, the evidence loop, the estimator.

References: NumPy sums over the core's per-row Jacobian (cost, Gauss-Newton matrix), central
differences (exact Hessian-vector products), a closed-form Bayesian linear regression iterated
to MacKay's fixed point (a linear network with one beta per output), and held-out coverage per
target on data whose targets have noise of very different size.
"""

import math

import numpy as np
import pytest

import dask.array as da
import quasinet as qn
from quasinet import dask as qd
from quasinet import evidence


def data(N=60, K=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 3))
    Y = rng.normal(size=(N, K))
    w = rng.uniform(0.5, 2.0, N)
    return X, Y, w


@pytest.mark.parametrize("output,loss", [("identity", "sse"), ("sigmoid", "mse"), ("softmax", "sse")])
def test_output_weights_against_numpy_sums(output, loss):
    """cost = c/2 sum_i w_i sum_k o_k e_ik^2, G = c sum_i w_i sum_k o_k J_ik J_ik^T (J from net.jacobian)."""
    X, Y, w = data(K=3)
    net = qn.Network([3, 4, 3], activation="tanh", output_activation=output, loss=loss, seed=2)
    fg = net.bind(X, Y, w)
    o = np.array([2.5, 0.0, 0.3])
    c = 1.0 if loss == "sse" else 1.0 / w.sum()
    E = fg.cost(net.params, output_weights=o)
    e = Y - net.forward(X)
    assert E == pytest.approx(0.5 * c * np.sum(w[:, None] * o * e**2), rel=1e-13)
    J = net.jacobian(X)  # (N, K, P)
    G_ref = c * np.einsum("n,k,nkp,nkq->pq", w, o, J, J)
    g_ref = -c * np.einsum("n,k,nk,nkp->p", w, o, e, J)
    E2, g, G = fg.gauss_newton(net.params, output_weights=o)
    assert E2 == pytest.approx(E, rel=1e-14)
    scale = np.abs(G_ref).max()
    assert np.abs(G - G_ref).max() <= 1e-12 * scale
    assert np.abs(g - g_ref).max() <= 1e-12 * np.abs(g_ref).max()
    v = np.random.default_rng(3).normal(size=net.n_params)
    assert np.abs(fg.hessp(net.params, v, kind="gauss-newton", output_weights=o) - G_ref @ v).max() <= 1e-11 * scale
    # The exact Hessian: central differences of the weighted gradient.
    h = 1e-5
    fd = (fg.gauss_newton(net.params + h * v, output_weights=o)[1]
          - fg.gauss_newton(net.params - h * v, output_weights=o)[1]) / (2 * h)
    Hv = fg.hessp(net.params, v, kind="exact", output_weights=o)
    assert np.abs(Hv - fd).max() <= 1e-6 * np.abs(fd).max()
    # Without weights, all ones; each output's own G_k (one seed each) adds up to the whole.
    assert fg.cost(net.params, output_weights=np.ones(3)) == pytest.approx(fg.cost(net.params), rel=1e-14)
    parts = [fg.gauss_newton(net.params, output_weights=np.eye(3)[k])[2] for k in range(3)]
    assert np.abs(sum(parts) - fg.gauss_newton(net.params)[2]).max() <= 1e-12 * scale


@pytest.mark.parametrize("o,message", [
    (np.array([1.0, -1.0]), "finite and >= 0"),
    (np.array([np.nan, 1.0]), "finite and >= 0"),
    (np.ones(3), r"shape \(2,\)"),
    (np.ones((2, 1)), r"shape \(2,\)"),
])
def test_bad_output_weights_are_refused(o, message):
    X, Y, w = data()
    net = qn.Network([3, 4, 2], activation="tanh", output_activation="identity", loss="sse", seed=0)
    fg = net.bind(X, Y, w)
    for call in (lambda: fg.cost(net.params, output_weights=o), lambda: fg.gauss_newton(net.params, output_weights=o),
                 lambda: fg.hessp(net.params, net.params, output_weights=o)):
        with pytest.raises(ValueError, match=message):
            call()


def test_output_weights_refused_for_cross_entropies():
    X, _, _ = data()
    net = qn.Network([3, 4, 2], activation="tanh", output_activation="softmax", loss="softmax_crossentropy", seed=0)
    fg = net.bind(X, np.eye(2)[np.arange(60) % 2])
    with pytest.raises(ValueError, match="sse and mse losses only"):
        fg.gauss_newton(net.params, output_weights=np.ones(2))


def test_dask_bound_output_weights_equal_numpy():
    X, Y, w = data(N=301)
    net = qn.Network([3, 5, 2], activation="tanh", output_activation="identity", loss="mse", l2=0.01, seed=4)
    fg = net.bind(X, Y, w)
    fd = qd.bind(net, da.from_array(X, chunks=100), da.from_array(Y, chunks=100), da.from_array(w, chunks=100))
    o = np.array([3.0, 0.2])
    v = np.linspace(-1, 1, net.n_params)
    assert fd.cost(net.params, output_weights=o) == pytest.approx(fg.cost(net.params, output_weights=o), rel=1e-12)
    for a, b in zip(fd.gauss_newton(net.params, output_weights=o), fg.gauss_newton(net.params, output_weights=o)):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-13 * np.abs(b).max())
    assert np.allclose(fd.hessp(net.params, v, output_weights=o), fg.hessp(net.params, v, output_weights=o),
                       rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        fd.cost(net.params, output_weights=np.ones(3))


def bayesian_linear_fixed_point(X, Y, iterations=5000):
    """MacKay's fixed point for y_k = [X 1] w_k + noise_k with one alpha and one beta_k per output,
    in closed form (the posterior factorises over outputs)."""
    N, K = Y.shape
    Xt = np.c_[X, np.ones(N)]
    C = Xt.T @ Xt
    alpha, beta = 1.0, np.ones(K)
    for _ in range(iterations):
        W, gammas, Es = [], [], []
        for k in range(K):
            A = beta[k] * C + alpha * np.eye(C.shape[0])
            wk = np.linalg.solve(A, beta[k] * Xt.T @ Y[:, k])
            gammas.append(np.trace(beta[k] * C @ np.linalg.inv(A)))
            Es.append(0.5 * np.sum((Y[:, k] - Xt @ wk) ** 2))
            W.append(wk)
        W, gammas, Es = np.array(W), np.array(gammas), np.array(Es)
        alpha = gammas.sum() / np.sum(W * W)
        beta = (N - gammas) / (2 * Es)
    logdet = sum(np.linalg.slogdet(beta[k] * C + alpha * np.eye(C.shape[0]))[1] for k in range(K))
    M = float(np.dot(beta, Es) + 0.5 * alpha * np.sum(W * W))
    P = W.size
    log_ev = -M - 0.5 * logdet + 0.5 * P * math.log(alpha) + 0.5 * N * float(np.sum(np.log(beta) - math.log(2 * math.pi)))
    return W, alpha, beta, gammas, log_ev


def test_linear_network_reaches_the_closed_form_fixed_point():
    rng = np.random.default_rng(5)
    N = 80
    X = rng.normal(size=(N, 3))
    Y = np.c_[X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=N), X @ [0.3, 0.0, 1.0] + 1.5 * rng.normal(size=N)]
    W, alpha, beta, gammas, log_ev = bayesian_linear_fixed_point(X, Y)
    net = qn.Network([3, 2], output_activation="identity", loss="sse", seed=0)
    res = qn.Trainer(net, method="BR", maxiter=3000, tol=1e-12, options={"patience": 50}).train(X, Y)
    net.params = res.x
    assert res.beta == pytest.approx(beta, rel=1e-6)
    assert res.alpha[0] == pytest.approx(alpha, rel=1e-6)
    assert res.gamma_outputs == pytest.approx(gammas, rel=1e-6)
    assert res.gamma_outputs.sum() == pytest.approx(res.gamma, rel=1e-12)
    assert np.allclose(np.c_[net.weights[0].T, net.biases[0]], W, rtol=1e-6, atol=1e-8)
    assert res.log_evidence == pytest.approx(log_ev, abs=1e-6)
    # The noise levels are the data's: 0.1 and 1.5.
    assert 1 / np.sqrt(res.beta) == pytest.approx([0.1, 1.5], rel=0.25)


def test_shared_noise_option_and_bad_beta0():
    X, Y, _ = data(N=80)
    net = qn.Network([3, 2], output_activation="identity", loss="sse", seed=0)
    res = qn.Trainer(net, method="BR", options={"noise": "shared"}).train(X, Y)
    assert np.ndim(res.beta) == 0 and "gamma_outputs" not in res
    one = qn.Network([3, 1], output_activation="identity", loss="sse", seed=0)
    assert np.ndim(qn.Trainer(one, method="BR").train(X, Y[:, :1]).beta) == 0
    with pytest.raises(ValueError, match="option noise"):
        qn.Trainer(net, method="BR", options={"noise": "each"}).train(X, Y)
    with pytest.raises(ValueError, match="one precision per output"):
        qn.Trainer(net, method="BR", options={"beta0": [1.0, 2.0, 3.0]}).train(X, Y)


def friedman_two_targets(N, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(N, 3))
    f = np.c_[np.sin(X[:, 0]) + 0.5 * X[:, 1], np.cos(X[:, 0]) * X[:, 2]]
    return X, f + rng.normal(size=f.shape) * [0.05, 0.5]


def test_default_regressor_is_calibrated_per_target():
    """Targets whose noise differs tenfold: 68% and 95% held-out coverage within 0.05 for each
    target with one beta per target; one shared beta misses both (the test has teeth)."""
    from quasinet.sklearn import QuasiNetRegressor

    X, Y = friedman_two_targets(500, 1)
    Xt, Yt = friedman_two_targets(4000, 2)
    est = QuasiNetRegressor(random_state=0).fit(X, Y)
    assert est.beta_.shape == (2,)
    assert 1 / np.sqrt(est.beta_) * est.y_scale_ == pytest.approx([0.05, 0.5], rel=0.2)
    mean, std = est.predict(Xt, return_std=True)
    z = np.abs(Yt - mean) / std
    assert np.all(np.abs((z < 1).mean(axis=0) - 0.683) <= 0.05)
    assert np.all(np.abs((z < 1.96).mean(axis=0) - 0.95) <= 0.05)

    net = qn.Network([3, 4, 2], activation="tanh", output_activation="identity", loss="sse", seed=0)
    shared = qn.Trainer(net, method="BR", options={"noise": "shared"}).train((X - X.mean(0)) / X.std(0),
                                                                              (Y - Y.mean(0)) / Y.std(0))
    noise = 1 / np.sqrt(shared.beta) * Y.std(0)
    assert noise[0] > 2 * 0.05 and noise[1] < 0.5 / 1.2  # far too wide for one target, too narrow for the other


def test_unidentified_noise_names_the_output():
    """Two rows, two targets: no residual degree of freedom; the warning names the output with
    the most effective parameters (the fewest residual degrees of freedom)."""
    from quasinet.evidence import NoiseNotIdentifiedWarning

    X, Y = np.array([[0.0], [1.0]]), np.array([[0.0, 1.0], [1.0, 3.0]])
    net = qn.Network([1, 2], output_activation="identity", loss="sse", seed=0)
    with pytest.warns(NoiseNotIdentifiedWarning) as caught:
        res = qn.Trainer(net, method="BR").train(X, Y)
    k = int(np.argmax(res.gamma_outputs))
    assert f"noise precision of output {k}: 2 rows" in str(caught[0].message)
    assert res.noise_unidentified and res.noise_message == str(caught[0].message)


def test_a_target_fitted_to_rounding_does_not_choose_the_model():
    """A second target computed from the inputs (2 x1) holds its beta at PER_OUTPUT_BETA_MAX, with
    a warning naming it, and the first target's model is the one it would get alone."""
    from quasinet.evidence import PER_OUTPUT_BETA_MAX, NoiseNotIdentifiedWarning
    from quasinet.sklearn import QuasiNetRegressor

    rng = np.random.default_rng(0)
    X, Xt = rng.normal(size=(200, 3)), rng.normal(size=(2000, 3))
    y0 = np.sin(X[:, 0]) + 0.1 * rng.normal(size=200)
    with pytest.warns(NoiseNotIdentifiedWarning, match=r"output 1 is fitted to within 1e-3 of its spread"):
        est = QuasiNetRegressor(random_state=0).fit(X, np.c_[y0, 2 * X[:, 1]])
    assert est.beta_[1] == PER_OUTPUT_BETA_MAX and est.beta_[0] < 1e3
    alone = QuasiNetRegressor(random_state=0).fit(X, y0)
    rmse = lambda m: float(np.sqrt(np.mean((m - np.sin(Xt[:, 0])) ** 2)))  # noqa: E731
    assert rmse(est.predict(Xt)[:, 0]) < 1.3 * rmse(alone.predict(Xt)) + 0.01
    assert est.hidden_layer_sizes_ != ()  # the linear model (fits 2 x1 exactly) did not win


def test_per_output_occam_terms_use_each_outputs_rows():
    """sigma_k^2 = 2 / (N_e / K - gamma_k) for each beta_k, against the formula written out."""
    gamma_g, n_targets = np.array([3.0, 2.5]), 300.0  # 150 rows, 2 outputs
    gk = np.array([4.0, 1.5])
    log_r_a = math.log(math.log(evidence.ALPHA_BOUNDS[1] / evidence.ALPHA_BOUNDS[0]))
    log_r_b = math.log(math.log(evidence.BETA_BOUNDS[1] / evidence.BETA_BOUNDS[0]))
    want = sum(min(0.5 * math.log(4 * math.pi / g) - log_r_a, 0.0) for g in gamma_g)
    want += sum(min(0.5 * math.log(4 * math.pi / (150.0 - g)) - log_r_b, 0.0) for g in gk)
    got = evidence.hyperparameter_log_occam(gamma_g, gk.sum(), n_targets, False, gamma_outputs=gk)
    assert got == pytest.approx(want, rel=1e-14)


def test_one_beta0_for_one_output_may_be_a_length_one_array():
    X, Y, _ = data(N=80)
    net = qn.Network([3, 1], output_activation="identity", loss="sse", seed=0)
    a = qn.Trainer(net, method="BR", maxiter=5, options={"beta0": [2.0]}).train(X, Y[:, :1])
    b = qn.Trainer(qn.Network([3, 1], output_activation="identity", loss="sse", seed=0), method="BR", maxiter=5,
                   options={"beta0": 2.0}).train(X, Y[:, :1])
    assert a.beta == b.beta and np.array_equal(a.x, b.x)


OVERLAP = """
import json
from threadpoolctl import threadpool_info
from quasinet import fitting

counts = lambda: sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
before = counts()
a, b = fitting._one_blas_thread(), fitting._one_blas_thread()
a.__enter__()
b.__enter__()
a.__exit__(None, None, None)  # the first fit ends while the second runs
a_out = counts()
b.__exit__(None, None, None)
print(json.dumps([before, a_out, counts()]))
"""


def test_one_blas_thread_is_shared_by_overlapping_fits():
    """The limit is process-wide: two overlapping contexts (A in, B in, A out, B out, as two fits
    on two threads) keep one BLAS thread until the last leaves, which restores the libraries'
    own counts. In a fresh interpreter: the test processes run one BLAS thread already
    (conftest)."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", OVERLAP], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    before, a_out, after = json.loads(out.stdout)
    assert 2 in before and a_out == [1] and after == before


def test_output_weights_over_many_blocks_and_threads():
    """Zero-weight seeds skipped over many row blocks, a short last block and two threads: the same
    G, gradient and cost as one block on one thread, and the sum of the per-output G_k."""
    rng = np.random.default_rng(9)
    net = qn.Network([4, 7, 3], activation="tanh", output_activation="sigmoid", loss="mse", seed=rng)
    N = 3001
    X, Y, w = rng.normal(size=(N, 4)), rng.normal(size=(N, 3)), rng.uniform(0.0, 2.0, N)
    core, p = net._core, net.params
    for o in (np.array([0.3, 0.0, 2.0]), np.zeros(3), np.array([0.0, 1.0, 0.0])):
        one = core.gauss_newton(p, X, Y, w, block_rows=N, threads=1, kernel="reference", output_weights=o)
        many = core.gauss_newton(p, X, Y, w, block_rows=7, threads=2, output_weights=o)
        assert many[0] == pytest.approx(one[0], rel=1e-12)
        assert np.allclose(many[1], one[1], rtol=1e-11, atol=1e-12)
        assert np.allclose(many[2], one[2], rtol=1e-11, atol=1e-12 * max(np.abs(one[2]).max(), 1.0))
    parts = sum(o_k * core.gauss_newton(p, X, Y, w, block_rows=7, threads=2, output_weights=np.eye(3)[k])[2]
                for k, o_k in enumerate([0.3, 0.0, 2.0]))
    full = core.gauss_newton(p, X, Y, w, block_rows=7, threads=2, output_weights=np.array([0.3, 0.0, 2.0]))[2]
    assert np.allclose(parts, full, rtol=1e-11, atol=1e-12 * np.abs(full).max())
    assert not np.any(core.gauss_newton(p, X, Y, w, block_rows=7, threads=2, output_weights=np.zeros(3))[2])
