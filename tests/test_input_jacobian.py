"""Network.input_jacobian (d out / d X from the core) against a plain-NumPy chain rule and
finite differences, both orders, row blocks and threads; the estimators' and io.Model's
Jacobians in original units; bad inputs."""

import threading

import numpy as np
import pytest
import reference as ref
from combos import HIDDEN, case_id, cases

import quasinet as qn
from quasinet import io as qio
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

OUTPUTS = ["sigmoid", "tanh", "relu", "softplus", "identity", "softmax"]


def reference_jacobian(net, X):
    """d out / d X by the chain rule over the layers (forward order), from the pre-activations z."""
    sizes, hidden, output = list(net.layer_sizes), net.activation, net.output_activation
    layers = ref.forward(net.params, sizes, hidden, output, net.bias, X)
    Ws, _ = ref.unpack(net.params, sizes, net.bias)
    D = np.broadcast_to(Ws[0].T, (X.shape[0],) + Ws[0].T.shape)  # dz_1/dx (N, n1, n0)
    for l, (z, a) in enumerate(layers):
        name = output if l == len(layers) - 1 else hidden
        if name == "softmax":
            A = -a[:, :, None] * a[:, None, :]  # d softmax / dz (N, K, K) = diag(p) - p p^T
            # The diagonal p_k (1 - p_k) with 1 - p_k as the sum of the other probabilities.
            others = np.array([[np.sum(np.delete(row, k)) for k in range(row.size)] for row in a])
            idx = np.arange(a.shape[1])
            A[:, idx, idx] = a * others
            D = A @ D
        else:
            D = ref.act_prime(name, z)[:, :, None] * D
        if l + 1 < len(layers):
            D = np.einsum("ji,njk->nik", Ws[l + 1], D)
    return D


def _net(sizes, hidden, output, bias, seed=0, loss=None):
    loss = loss or ("softmax_crossentropy" if output == "softmax" else "mse")
    net = qn.Network(sizes, activation=hidden, output_activation=output, bias=bias, loss=loss, seed=seed)
    rng = np.random.default_rng(seed + 100)
    net.params[...] += 0.2 * rng.normal(size=net.n_params)  # non-zero biases, less symmetric weights
    return net


def _assert_close(J, J_ref, tol, atol=0.0):
    """Per sample: max |J - J_ref| <= tol * max |J_ref| of that sample (norm-relative) + atol."""
    scale = np.abs(J_ref).reshape(J_ref.shape[0], -1).max(axis=1)
    err = np.abs(J - J_ref).reshape(J.shape[0], -1).max(axis=1)
    bad = err > tol * np.maximum(scale, 1e-300) + atol
    assert not bad.any(), f"rows {np.flatnonzero(bad)[:5]}: errors {err[bad][:5]} vs scales {scale[bad][:5]}"


# The pairwise covering set of tests/combos.py (the loss plays no part in d out / d X).
@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_matches_numpy_chain_rule_in_both_orders(case):
    sizes, hidden, output, loss, bias = case
    net = _net(sizes, hidden, output, bias, loss=loss)
    X = np.random.default_rng(1).normal(size=(13, sizes[0]))
    J_ref = reference_jacobian(net, X)
    for mode in ("auto", "reverse", "forward"):
        J = net.input_jacobian(X, mode=mode)
        assert J.shape == (13, sizes[-1], sizes[0]) and J.dtype == np.float64
        _assert_close(J, J_ref, 1e-12)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output", OUTPUTS)
def test_matches_central_differences(hidden, output):
    net = _net([4, 7, 5, 3], hidden, output, True, seed=3)
    X = np.random.default_rng(2).normal(size=(9, 4))
    J = net.input_jacobian(X)
    h = 1e-6
    J_fd = np.empty_like(J)
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        J_fd[:, :, j] = (net.forward(X + e) - net.forward(X - e)) / (2 * h)
    # Central differences: truncation O(h^2) ~ 1e-12, rounding ~ 1e-16 / h ~ 1e-10.
    np.testing.assert_allclose(J, J_fd, rtol=1e-6, atol=1e-8)


def _longdouble_jacobian(net, X):
    """The chain rule in 80-bit long double (64-bit significand) for sigmoid hidden, softmax output."""
    Ws, bs = ref.unpack(net.params, list(net.layer_sizes), net.bias)
    out = []
    for x in X.astype(np.longdouble):
        D = np.eye(x.size, dtype=np.longdouble)
        a = x
        for l, (W, b) in enumerate(zip(Ws, bs)):
            z = a @ W.astype(np.longdouble) + b.astype(np.longdouble)
            D = W.T.astype(np.longdouble) @ D
            if l + 1 < len(Ws):
                e = np.exp(-np.abs(z))
                a = np.where(z >= 0, 1, e) / (1 + e)
                D = (e / (1 + e) ** 2)[:, None] * D
            else:
                p = np.exp(z - z.max())
                p /= p.sum()
                D = (np.diag(p) - np.outer(p, p)) @ D
        out.append(D)
    return np.array(out, dtype=np.float64)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_saturated_units_keep_their_relative_accuracy(mode):
    # Weights x20: hidden sigmoids at z ~ +-500 and confident softmax outputs (p = 1 - 1e-9),
    # where derivatives taken from the rounded activations (a (1 - a), p (t - <p, t>)) lose
    # up to all their digits.
    net = qn.Network([4, 5, 3], activation="sigmoid", output_activation="softmax", loss="softmax_crossentropy",
                     seed=0)
    net.params[...] *= 20
    X = np.random.default_rng(6).normal(size=(50, 4)) * 10
    J = net.input_jacobian(X, mode=mode)
    J_ld = _longdouble_jacobian(net, X)
    np.testing.assert_allclose(J, J_ld, rtol=1e-11, atol=0)


def test_a_wrong_derivative_is_caught():
    # The comparison can fail: a Jacobian off by one part in 1e9 in one entry is refused.
    net = _net([3, 4, 2], "tanh", "sigmoid", True)
    X = np.random.default_rng(0).normal(size=(5, 3))
    J = net.input_jacobian(X)
    J[2, 1, 0] *= 1 + 1e-9
    with pytest.raises(AssertionError):
        _assert_close(J, reference_jacobian(net, X), 1e-12)


def test_orders_agree_and_auto_picks_the_cheaper():
    wide_in = qn.Network([50, 8, 2], seed=0)
    wide_out = qn.Network([2, 8, 50], output_activation="identity", seed=0)
    assert wide_in._core.jacobian_mode == "reverse" and wide_out._core.jacobian_mode == "forward"
    for net in (wide_in, wide_out):
        X = np.random.default_rng(0).normal(size=(20, net.layer_sizes[0]))
        np.testing.assert_allclose(net.input_jacobian(X, mode="forward"), net.input_jacobian(X, mode="reverse"),
                                   rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_row_blocks_threads_and_kernels_give_the_same_jacobian(mode):
    # 6 inputs and 5 outputs with blocks of 2 and 3 rows: the seeds of one sample do not fit in
    # a block and are split; with 64-row blocks several samples share one product.
    net = _net([6, 9, 7, 5], "softplus", "softmax", True, seed=4)
    X = np.random.default_rng(5).normal(size=(301, 6))
    J_ref = reference_jacobian(net, X)
    base = net._core.input_jacobian(net.params, X, mode=mode, threads=1)
    _assert_close(base, J_ref, 1e-12)
    for kw in (dict(block_rows=2), dict(block_rows=3, threads=2), dict(block_rows=64, threads=2),
               dict(block_rows=1000, threads=1), dict(kernel="reference"), dict(kernel="blas", block_rows=5)):
        J = net._core.input_jacobian(net.params, X, mode=mode, **kw)
        _assert_close(J, J_ref, 1e-12)
        _assert_close(J, base, 1e-13)  # summation order differs between kernels and blockings


def test_large_call_from_two_python_threads():
    # Large enough to release the GIL and use the thread pool; both callers get the right answer.
    net = _net([8, 32, 32, 3], "tanh", "identity", True, seed=6)
    X = np.random.default_rng(7).normal(size=(4000, 8))
    J_ref = reference_jacobian(net, X)
    out = [None, None]

    def work(i):
        out[i] = net.input_jacobian(X)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for J in out:
        _assert_close(J, J_ref, 1e-12)


def test_single_layer_and_no_bias():
    for output in OUTPUTS:
        net = _net([3, 4], "tanh", output, False)
        X = np.random.default_rng(8).normal(size=(6, 3))
        for mode in ("reverse", "forward"):
            _assert_close(net.input_jacobian(X, mode=mode), reference_jacobian(net, X), 1e-12)


def _fd(f, X, h=1e-6):
    cols = []
    for j in range(X.shape[1]):
        e = np.zeros(X.shape[1])
        e[j] = h
        cols.append((np.atleast_2d(f(X + e).T).T - np.atleast_2d(f(X - e).T).T) / (2 * h))
    return np.stack(cols, axis=2)


def test_model_jacobian_in_original_units():
    rng = np.random.default_rng(9)
    net = _net([3, 6, 2], "sigmoid", "identity", True)
    model = qio.Model(net, x_offset=rng.normal(size=3), x_scale=[0.5, 3.0, 20.0], y_offset=[1.0, -2.0],
                      y_scale=[10.0, 0.1])
    X = rng.normal(size=(7, 3)) * [0.5, 3.0, 20.0]
    np.testing.assert_allclose(model.input_jacobian(X), _fd(model.predict, X, h=1e-5), rtol=1e-6, atol=1e-9)


def test_estimator_jacobians_in_original_units():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(150, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    Y = np.column_stack([np.sin(X[:, 0]) + X[:, 1] / 10, 100 * X[:, 2] ** 2])
    reg = QuasiNetRegressor(hidden_layer_sizes=(6,), method="L-BFGS-B", max_iter=50, tol=1e-3, random_state=0).fit(X, Y)
    J = reg.input_jacobian(X[:10])
    assert J.shape == (10, 2, 3)
    np.testing.assert_allclose(J, _fd(reg.predict, X[:10], h=1e-6), rtol=1e-5, atol=1e-6)
    reg1 = QuasiNetRegressor(hidden_layer_sizes=(6,), method="L-BFGS-B", max_iter=50, tol=1e-3, random_state=0).fit(X, Y[:, 0])
    J1 = reg1.input_jacobian(X[:10])
    assert J1.shape == (10, 1, 3)
    np.testing.assert_allclose(J1, _fd(reg1.predict, X[:10]), rtol=1e-5, atol=1e-7)
    for y in (np.where(X[:, 0] > 0, "a", "b"), (X[:, 0] > 0).astype(int) + (X[:, 2] > -1)):
        clf = QuasiNetClassifier(hidden_layer_sizes=(5,), method="L-BFGS-B", max_iter=50, tol=1e-3, random_state=0).fit(X, y)
        J = clf.input_jacobian(X[:10])
        assert J.shape == (10, clf.classes_.size, 3)
        np.testing.assert_allclose(J, _fd(clf.predict_proba, X[:10]), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(J.sum(axis=1), 0.0, atol=1e-12)  # probabilities sum to 1


def test_bad_inputs():
    net = qn.Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match=r"X must have 3 columns \(one per network input\), got 2"):
        net.input_jacobian(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"X must be 2-D \(samples, 3 features\), got shape \(3,\)"):
        net.input_jacobian(np.zeros(3))
    with pytest.raises(ValueError, match="X must be finite, got nan"):
        net.input_jacobian(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(ValueError, match="X has 0 samples: expected at least 1"):
        net.input_jacobian(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="X must hold real numbers"):
        net.input_jacobian(np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="mode must be 'auto', 'reverse' or 'forward', got 'backward'"):
        net.input_jacobian(np.zeros((1, 3)), mode="backward")
    with pytest.raises(TypeError, match="mode must be a string, got int"):
        net.input_jacobian(np.zeros((1, 3)), mode=1)
    with pytest.raises(ValueError, match="kernel must be"):
        net._core.input_jacobian(net.params, np.zeros((1, 3)), kernel="fast")
    with pytest.raises(ValueError, match=r"params must have shape \(26,\)"):
        net._core.input_jacobian(np.zeros(3), np.zeros((1, 3)))
    # Integer and Fortran-ordered inputs are converted, not refused.
    X = np.asfortranarray(np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(net.input_jacobian(X), net.input_jacobian(np.ascontiguousarray(X, dtype=float)))
    reg = QuasiNetRegressor()
    with pytest.raises(ValueError, match="not fitted"):
        reg.input_jacobian(np.zeros((1, 3)))


def test_estimator_jacobian_of_a_committee_and_refusal_for_moderated_probabilities():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(80, 2))
    reg = QuasiNetRegressor(hidden_layer_sizes=(3,), method="BR", restarts=1, committee=2, random_state=0)
    reg.fit(X, np.sin(X[:, 0]) + X[:, 1] + 0.1 * rng.normal(size=80))
    np.testing.assert_allclose(reg.input_jacobian(X[:5]), _fd(reg.predict, X[:5]), rtol=1e-5, atol=1e-7)
    clf = QuasiNetClassifier(hidden_layer_sizes=(3,), method="BR", moderate=True, random_state=0).fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="input_jacobian needs the network's own probabilities"):
        clf.input_jacobian(X[:5])
    clf.set_params(moderate=False)
    np.testing.assert_allclose(clf.input_jacobian(X[:5]), _fd(clf.predict_proba, X[:5]), rtol=1e-5, atol=1e-7)
