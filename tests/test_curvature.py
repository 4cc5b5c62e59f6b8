"""Curvature from the core against independent references.

- ``Network.jacobian`` against explicit per-row Jacobians (tests/reference.py) and central
  differences of ``forward``;
- ``Network.gauss_newton`` (cost, gradient, G) against G = c sum_i w_i Jz_i^T H_i Jz_i formed
  from explicit per-row Jacobians and output Hessians;
- ``Network.hessp`` (exact) against the complex-step derivative of the NumPy gradient formula and
  central differences of the core's exact gradient; ``kind="gauss-newton"`` against G v.

Cases: a pairwise covering set (tests/combos.py) of activation x loss/output pairing x bias x
shape (1 to 3 hidden layers, 1 to 4 outputs): every two of these settings meet in some case;
with and without sample weights, with l2.

Tolerance: norm-relative error <= 1e-12 per tensor (each layer's W and b block) against the
NumPy references, and for the whole vector or matrix; finite differences to 1e-6. A block whose
norm is below 1e-3 of the whole (a softmax layer's output biases: their Hessian rows nearly sum
to zero, so the block is all cancellation) is measured against 1e-3 of the whole's norm, where
rounding of the larger terms lives.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import optimize

import quasinet as qn
import reference as ref
from combos import SHAPES, case_id, cases

TOL = 1e-12
# The shared shapes (1-3 hidden layers, 1-3 outputs) and a 4-output network: the covering set
# meets every loss/output pairing with the 4-output shape.
CURVATURE_CASES = cases(SHAPES + [[3, 5, 4]])


def make(case, seed=0, l2=0.0, N=7):
    sizes, hidden, output, loss, bias = case
    rng = np.random.default_rng(seed)
    net = qn.Network(sizes, activation=hidden, output_activation=output, bias=bias, loss=loss, l2=l2, seed=rng)
    if bias:
        for b in net.biases:
            b[...] = rng.normal(scale=0.3, size=b.shape)
    X = rng.normal(size=(N, sizes[0]))
    Y = ref.targets(rng, loss, output, N, sizes[-1])
    return net, X, Y, rng


def blocks(net):
    """(name, slice) of every W and b block of the layout."""
    out = []
    for l, (w_off, n_in, n_out, b_off) in enumerate(net.layout):
        out.append((f"W{l + 1}", slice(w_off, w_off + n_in * n_out)))
        if b_off is not None:
            out.append((f"b{l + 1}", slice(b_off, b_off + n_out)))
    return out


def assert_blocks_close(net, got, want, what, tol=TOL, axis=-1):
    """Compare got and want block by block along `axis` (the parameter axis)."""
    floor = 1e-3 * np.linalg.norm(want)
    for name, sl in blocks(net):
        g = np.take(got, np.arange(sl.start, sl.stop), axis=axis)
        w = np.take(want, np.arange(sl.start, sl.stop), axis=axis)
        scale = max(np.linalg.norm(w), floor)
        err = np.linalg.norm(g - w) / scale if scale > 0 else np.linalg.norm(g - w)
        assert err <= tol, f"{what}, block {name}: relative error {err:.3g}"
    assert ref.rel_err(got, want) <= tol, what


@pytest.mark.parametrize("case", CURVATURE_CASES, ids=case_id)
def test_curvature_matches_reference(case):
    sizes, hidden, output, loss, bias = case
    l2 = 0.01
    net, X, Y, rng = make(case, l2=l2)
    args = (net.params, sizes, hidden, output, bias)
    w = rng.uniform(0.2, 2.0, size=X.shape[0])
    v = rng.normal(size=net.n_params)

    assert_blocks_close(net, net.jacobian(X), ref.jacobian(*args, X), "jacobian")
    for weights in (None, w):
        cost, grad, G = net.gauss_newton(X, Y, weights)
        assert ref.rel_err(cost, ref.cost(*args, loss, l2, X, Y, weights)) <= TOL
        assert_blocks_close(net, grad, ref.grad(*args, loss, l2, X, Y, weights), "gradient")
        G_ref = ref.gauss_newton(*args, loss, l2, X, Y, weights)
        assert_blocks_close(net, G, G_ref, "Gauss-Newton rows", axis=0)
        assert_blocks_close(net, G, G_ref, "Gauss-Newton columns", axis=1)
        assert_blocks_close(net, net.hessp(X, Y, v, weights), ref.hessp(*args, loss, l2, X, Y, v, weights), "Hv")
        assert_blocks_close(net, net.hessp(X, Y, v, weights, kind="gauss-newton"), G_ref @ v, "Gv")


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_curvature_matches_central_differences(case):
    sizes, hidden, output, loss, bias = case
    net, X, Y, rng = make(case, seed=1, l2=0.02)
    p0 = net.get_params()
    h = 1e-6
    J = net.jacobian(X)
    fg = net.bind(X, Y)
    v = rng.normal(size=net.n_params)
    J_fd = np.empty_like(J)
    for i in range(net.n_params):
        e = np.zeros(net.n_params)
        e[i] = h
        net.set_params(p0 + e)
        up = net.forward(X)
        net.set_params(p0 - e)
        J_fd[:, :, i] = (up - net.forward(X)) / (2 * h)
    net.set_params(p0)
    assert ref.rel_err(J, J_fd) < 1e-6
    hv_fd = (fg(p0 + h * v)[1] - fg(p0 - h * v)[1]) / (2 * h)
    assert ref.rel_err(net.hessp(X, Y, v), hv_fd) < 1e-6


@pytest.mark.parametrize(
    "case",
    [([3, 5, 2], "tanh", "identity", "sse", True), ([2, 4, 3], "softplus", "softmax", "softmax_crossentropy", True),
     ([4, 3, 3, 2], "sigmoid", "sigmoid", "binary_crossentropy", False), ([3, 4, 3], "relu", "softmax", "mse", True)],
    ids=case_id,
)
def test_hessian_and_gauss_newton_are_symmetric_and_g_is_psd(case):
    sizes, hidden, output, loss, bias = case
    net, X, Y, _ = make(case, seed=2, l2=0.0, N=11)
    P = net.n_params
    H = np.column_stack([net.hessp(X, Y, np.eye(P)[j]) for j in range(P)])
    H_ref = ref.hessian(net.params, sizes, hidden, output, bias, loss, 0.0, X, Y)
    assert ref.rel_err(H, H_ref) <= TOL
    assert ref.rel_err(H, H.T) <= TOL
    _, _, G = net.gauss_newton(X, Y)
    assert np.array_equal(G, G.T)
    eig = np.linalg.eigvalsh(G)
    assert eig.min() >= -1e-12 * eig.max()
    Gv = np.column_stack([net.hessp(X, Y, np.eye(P)[j], kind="gauss-newton") for j in range(P)])
    assert ref.rel_err(Gv, G) <= TOL


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax"])
def test_sse_gauss_newton_is_the_hessian_at_a_zero_residual_point(hidden, output):
    net = qn.Network([3, 5, 2], activation=hidden, output_activation=output, loss="sse", seed=3)
    X = np.random.default_rng(3).normal(size=(9, 3))
    Y = net.forward(X)  # zero residual: the second-derivative term vanishes
    _, _, G = net.gauss_newton(X, Y)
    P = net.n_params
    H = np.column_stack([net.hessp(X, Y, np.eye(P)[j]) for j in range(P)])
    assert ref.rel_err(H, G) <= TOL
    # ... and away from it they differ, so the comparison above is not vacuous. (Not a residual
    # equal in every output: the softmax outputs sum to 1, so its second derivatives cancel.)
    Y2 = Y + np.array([0.5, -0.3])
    H2 = np.column_stack([net.hessp(X, Y2, np.eye(P)[j]) for j in range(P)])
    _, _, G2 = net.gauss_newton(X, Y2)
    assert ref.rel_err(H2, G2) > 1e-3


def test_a_wrong_curvature_fails_the_comparison():
    case = ([3, 4, 2], "tanh", "identity", "mse", True)
    net, X, Y, rng = make(case)
    _, _, G = net.gauss_newton(X, Y)
    G_ref = ref.gauss_newton(net.params, *case[:3], case[4], "mse", 0.0, X, Y)
    G[2, 3] *= 1 + 1e-9
    with pytest.raises(AssertionError):
        assert_blocks_close(net, G, G_ref, "G", axis=0)


@pytest.mark.parametrize("kernel", ["auto", "reference", "blas"])
# One thread is slow (tens of seconds under the sanitizer build): two threads drive the same
# blocks and kernels, and the pool besides.
@pytest.mark.parametrize("threads", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_blocks_threads_and_kernels_agree(kernel, threads):
    # Many row blocks, two threads: the same results as one block on one thread, to rounding.
    rng = np.random.default_rng(4)
    net = qn.Network([6, 12, 9, 3], activation="tanh", output_activation="softmax", loss="softmax_crossentropy",
                     l2=1e-3, seed=rng)
    N = 3000
    X = rng.normal(size=(N, 6))
    Y = rng.dirichlet(np.ones(3), size=N)
    w = rng.uniform(0.0, 2.0, size=N)
    v = rng.normal(size=net.n_params)
    core, p = net._core, net.params
    c1, g1, G1 = core.gauss_newton(p, X, Y, w, block_rows=N, threads=1, kernel="reference")
    c2, g2, G2 = core.gauss_newton(p, X, Y, w, block_rows=37, threads=threads, kernel=kernel)
    assert ref.rel_err(c2, c1) <= TOL and ref.rel_err(g2, g1) <= TOL and ref.rel_err(G2, G1) <= TOL
    assert np.array_equal(G2, G2.T)
    for kind in ("exact", "gauss-newton"):
        h1 = core.hessp(p, X, Y, v, w, kind=kind, block_rows=N, threads=1, kernel="reference")
        h2 = core.hessp(p, X, Y, v, w, kind=kind, block_rows=37, threads=threads, kernel=kernel)
        assert ref.rel_err(h2, h1) <= TOL
    J1 = core.jacobian(p, X[:500], block_rows=500, threads=1, kernel="reference")
    J2 = core.jacobian(p, X[:500], block_rows=37, threads=threads, kernel=kernel)
    assert ref.rel_err(J2, J1) <= TOL
    assert ref.rel_err(G1 @ v, core.hessp(p, X, Y, v, w, kind="gauss-newton")) <= TOL


def test_bound_objective_offers_curvature_and_trust_krylov_uses_it():
    rng = np.random.default_rng(5)
    net = qn.Network([2, 6, 1], activation="tanh", output_activation="identity", loss="mse", seed=rng)
    X = rng.uniform(-1, 1, size=(60, 2))
    y = np.sin(2 * X[:, 0]) * X[:, 1]
    fg = net.bind(X, y)
    p = net.get_params()
    v = rng.normal(size=net.n_params)
    assert ref.rel_err(fg.hessp(p, v), net.hessp(X, y, v)) <= TOL
    assert ref.rel_err(fg.hessp(p, v, "gauss-newton"), net.hessp(X, y, v, kind="gauss-newton")) <= TOL
    c, g, G = fg.gauss_newton(p)
    c2, g2, G2 = net.gauss_newton(X, y)
    assert c == c2 and np.array_equal(g, g2) and np.array_equal(G, G2)
    res = optimize.minimize(fg, p, jac=True, hessp=fg.hessp, method="trust-krylov", options={"maxiter": 200})
    assert res.fun < 0.2 * fg.cost(p)
    assert res.nhev > 0


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda net, X, y: net.hessp(X, y, np.ones(3)), ValueError, r"v must have shape \(21,\).*got \(3,\)"),
        (lambda net, X, y: net.hessp(X, y, np.full(21, np.nan)), ValueError, "v must be finite, got nan at flat index 0"),
        (lambda net, X, y: net.hessp(X, y, np.ones((21, 1))), ValueError, r"v must have shape \(21,\)"),
        (lambda net, X, y: net.hessp(X, y, ["a"] * 21), TypeError, "v must hold real numbers"),
        (lambda net, X, y: net.hessp(X, y, np.ones(21), kind="newton"), ValueError,
         "kind must be 'exact' or 'gauss-newton', got 'newton'"),
        (lambda net, X, y: net.hessp(X, y, np.ones(21), kind=1), TypeError, "kind must be a string, got int"),
        (lambda net, X, y: net.hessp(X[:, :2], y, np.ones(21)), ValueError, "X must have 3 columns"),
        (lambda net, X, y: net.gauss_newton(X, y[:4]), ValueError, "y has 4 rows but X has 5"),
        (lambda net, X, y: net.gauss_newton(np.where(X > 0.5, np.inf, X), y), ValueError, "X must be finite"),
        (lambda net, X, y: net.gauss_newton(X, y, -np.ones(5)), ValueError, "sample_weight must be >= 0"),
        (lambda net, X, y: net.jacobian(X[:, :2]), ValueError, "X must have 3 columns"),
        (lambda net, X, y: net.jacobian(np.ones((0, 3))), ValueError, "X has 0 samples"),
        (lambda net, X, y: net.jacobian(X.ravel()), ValueError, "X must be 2-D"),
        (lambda net, X, y: net.bind(X, y).hessp(np.ones(21), np.ones(20)), ValueError, r"v must have shape \(21,\)"),
        (lambda net, X, y: net.bind(X, y).gauss_newton(np.ones(20)), ValueError, r"params must have shape \(21,\)"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call, exc, msg):
    net = qn.Network([3, 4, 1], seed=0)  # 21 parameters
    X = np.random.default_rng(0).uniform(size=(5, 3))
    y = np.ones(5)
    with pytest.raises(exc, match=msg):
        call(net, X, y)


def test_softmax_gauss_newton_refuses_negative_target_sums():
    net = qn.Network([2, 3], output_activation="softmax", loss="softmax_crossentropy", seed=0)
    Y = np.array([[0.5, 0.5, 0.0], [-1.0, 0.2, 0.1]])
    with pytest.raises(ValueError, match="rows sum to >= 0, got a row summing to -0.7"):
        net.gauss_newton(np.ones((2, 2)), Y)


def test_gauss_newton_refuses_a_matrix_that_would_not_fit():
    net = qn.Network([100, 90, 1], seed=0)  # 9,181 parameters
    with pytest.raises(ValueError, match=r"P = 9181 parameters.*1,348,6\d\d,\d\d\d bytes.*L-BFGS-B"):
        net.gauss_newton(np.ones((2, 100)), np.ones(2))


@pytest.mark.slow  # a subprocess on 200,000 rows; the sweep drives the same code, and RSS means nothing under ASan
def test_gauss_newton_memory_does_not_grow_with_rows():
    # Peak RSS of a subprocess: a call on 200,000 rows after a warm-up on 2,000. Forming the
    # (N, P) Jacobian would need N * P * 8 = 309 MB here; the core holds ~8 MiB of it at a time.
    script = textwrap.dedent(
        """
        import resource, numpy as np, quasinet as qn
        rng = np.random.default_rng(0)
        net = qn.Network([10, 16, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
        X = rng.normal(size=(200_000, 10)); y = rng.normal(size=200_000); v = rng.normal(size=net.n_params)
        net.gauss_newton(X[:2000], y[:2000]); net.hessp(X[:2000], y[:2000], v)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        net.gauss_newton(X, y); net.hessp(X, y, v); net.hessp(X, y, v, kind="gauss-newton")
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    grown_kib = int(out.stdout.strip())
    assert grown_kib < 24 * 1024, f"peak RSS grew by {grown_kib} KiB"
