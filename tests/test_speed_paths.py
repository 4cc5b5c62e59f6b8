"""The tuned paths against the plain-loop reference, and against themselves under blocking and threads.

Tolerance: 1e-12 relative, tensor by tensor: for the cost |a - b| <= 1e-12 |b|, for every weight
matrix and bias vector of the gradient (and the forward output) max|a - b| <= 1e-12 max|b|.
The reference is the core's ``kernel="reference"`` path (plain loops, std:: transcendentals),
itself checked against NumPy in test_reference.py and against central differences in
test_gradients.py.
"""

import threading

import numpy as np
import pytest

import quasinet as qn
import reference as ref
from combos import HIDDEN, LOSS_OUTPUT, covering, valid

RTOL = 1e-12
# (layer sizes, rows): single-block and multi-block calls, one and several outputs, products
# below and above the small-product threshold of the Auto kernel.
SHAPES = [
    ([2, 3, 1], 3),
    ([8, 16, 1], 200),
    ([5, 33, 17, 4], 700),
    ([20, 64, 64, 10], 2500),
]


def make(sizes, hidden, output, loss, N, seed, bias=True, l2=0.0):
    rng = np.random.default_rng(seed)
    net = qn.Network(sizes, activation=hidden, output_activation=output, loss=loss, bias=bias, l2=l2, seed=rng)
    if bias:
        for b in net.biases:
            b[...] = rng.normal(scale=0.5, size=b.shape)
    X = rng.normal(scale=1.5, size=(N, sizes[0]))
    Y = ref.targets(rng, loss, output, N, sizes[-1])
    return net, X, Y


def tensors(net, g):
    """Split a flat gradient into its named tensors using the network's layout."""
    out = {}
    for l, (w_off, n_in, n_out, b_off) in enumerate(net.layout):
        out[f"W{l}"] = g[w_off : w_off + n_in * n_out]
        if b_off is not None:
            out[f"b{l}"] = g[b_off : b_off + n_out]
    return out


def assert_close_cost(a, b, what):
    assert abs(a - b) <= RTOL * abs(b), f"{what}: cost {a!r} vs {b!r}"


def assert_close_tensor(a, b, what):
    scale = np.max(np.abs(b))
    err = np.max(np.abs(a - b))
    assert err <= RTOL * scale or (scale == 0.0 and err == 0.0), f"{what}: max err {err:.3e}, scale {scale:.3e}"


def assert_close_grad(net, a, b, what):
    ta, tb = tensors(net, a), tensors(net, b)
    assert ta.keys() == tb.keys()
    for name in tb:
        assert_close_tensor(ta[name], tb[name], f"{what}, {name}")


def cases():
    """A pairwise covering set of shape x hidden activation x (loss, output): every hidden
    activation meets every output with each loss it pairs with, and each of them every shape."""
    rows = covering([SHAPES, HIDDEN, LOSS_OUTPUT], allowed=lambda r: valid(r[0][0], r[2][1]))
    return [(sizes, N, hidden, output, loss) for (sizes, N), hidden, (loss, output) in rows]


def case_id(c):
    sizes, N, hidden, output, loss = c
    return f"{'-'.join(map(str, sizes))}x{N}-{hidden}-{output}-{loss}"


def sweep_params():
    """cases() for parametrize: on the largest shape every case but the first is slow. That first
    one keeps the many-block BLAS path in the sanitizer pass; the rest differ from it only in
    activation and loss, whose kernels the smaller shapes drive too (each meets every shape)."""
    big = max(N for _, N in SHAPES)
    out, seen_big = [], False
    for c in cases():
        slow = c[1] == big and seen_big
        seen_big = seen_big or c[1] == big
        out.append(pytest.param(c, id=case_id(c), marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize("case", sweep_params())
def test_tuned_path_matches_reference_kernel(case):
    sizes, N, hidden, output, loss = case
    net, X, Y = make(sizes, hidden, output, loss, N, seed=sum(map(ord, case_id(case))), l2=0.01)
    core, p = net._core, net.params
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=N)
    for kernel in ("auto", "blas"):
        out = core.forward(p, X, kernel=kernel)
        out_ref = core.forward(p, X, kernel="reference")
        assert_close_tensor(out, out_ref, f"forward {kernel}")
        for weights in (None, w):
            J_ref, g_ref = core.cost_grad(p, X, Y, weights, kernel="reference")
            J, g = core.cost_grad(p, X, Y, weights, kernel=kernel)
            assert_close_cost(J, J_ref, f"cost_grad {kernel}")
            assert_close_grad(net, g, g_ref, f"cost_grad {kernel}")
            assert_close_cost(core.cost(p, X, Y, weights, kernel=kernel), J_ref, f"cost {kernel}")
            fg = core.bind(X, Y, weights, kernel=kernel)
            J_b, g_b = fg(p)
            assert_close_cost(J_b, J_ref, f"bind {kernel}")
            assert_close_grad(net, g_b, g_ref, f"bind {kernel}")
            assert_close_cost(fg.cost(p), J_ref, f"bind cost {kernel}")


@pytest.mark.slow  # the 2500-row case of the sweep above drives the same many-block paths
def test_tuned_path_matches_reference_kernel_at_the_benchmark_medium_shape():
    # bench/peers.py's "medium" network (tanh, identity, mse) on 3000 rows: wide layers and
    # several row blocks of the Auto path (about 490 rows each at these widths).
    sizes, N = [64, 128, 128, 10], 3000
    net, X, Y = make(sizes, "tanh", "identity", "mse", N, seed=64, l2=0.01)
    core, p = net._core, net.params
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=N)
    out_ref = core.forward(p, X, kernel="reference")
    for kernel in ("auto", "blas"):
        assert_close_tensor(core.forward(p, X, kernel=kernel), out_ref, f"forward {kernel}")
        for weights in (None, w):
            J_ref, g_ref = core.cost_grad(p, X, Y, weights, kernel="reference")
            J, g = core.cost_grad(p, X, Y, weights, kernel=kernel)
            assert_close_cost(J, J_ref, f"cost_grad {kernel}")
            assert_close_grad(net, g, g_ref, f"cost_grad {kernel}")


def assert_norm_close_grad(net, a, b, what):
    """Per tensor: norm(a - b) <= 1e-12 norm(b)."""
    ta, tb = tensors(net, a), tensors(net, b)
    assert ta.keys() == tb.keys()
    for name in tb:
        err = ref.rel_err(ta[name], tb[name])
        assert err <= RTOL, f"{what}, {name}: norm-relative error {err:.3e}"


# One configuration per output loss, each at a size where the tuned path uses several row
# blocks (about 950 rows each at these widths) and BLAS.
NUMPY_ANCHORS = [
    ("tanh", "identity", "mse"),
    ("sigmoid", "sigmoid", "sse"),
    ("softplus", "sigmoid", "binary_crossentropy"),
    ("relu", "softmax", "softmax_crossentropy"),
]


@pytest.mark.slow  # the core's side is the sweep's 2500-row case; the time goes into the NumPy reference
@pytest.mark.parametrize("hidden,output,loss", NUMPY_ANCHORS)
def test_both_kernels_match_numpy_on_a_multi_block_call(hidden, output, loss):
    # Anchors the reference path and the tuned path to an independent implementation.
    sizes, N = [20, 64, 64, 10], 2500
    net, X, Y = make(sizes, hidden, output, loss, N, seed=7, l2=0.01)
    w = np.random.default_rng(8).uniform(0.5, 2.0, size=N)
    for weights in (None, w):
        J_np = ref.cost(net.params, sizes, hidden, output, True, loss, 0.01, X, Y, weights)
        g_np = ref.grad(net.params, sizes, hidden, output, True, loss, 0.01, X, Y, weights)
        for kernel in ("reference", "auto"):
            what = f"{kernel} vs numpy, weights {'on' if weights is not None else 'off'}"
            J, g = net._core.cost_grad(net.params, X, Y, weights, kernel=kernel)
            assert_close_cost(J, J_np, what)
            assert_norm_close_grad(net, g, g_np, what)


# Block edges and thread counts are what the sanitizer pass must see: tanh stays in it, the other
# activations (the same blocking with another elementwise kernel) are slow.
@pytest.mark.parametrize("hidden", [h if h == "tanh" else pytest.param(h, marks=pytest.mark.slow) for h in HIDDEN])
@pytest.mark.parametrize("loss,output", [("mse", "identity"), ("softmax_crossentropy", "softmax")])
def test_blocking_and_threads_do_not_change_results(hidden, loss, output):
    sizes, N = [12, 40, 24, 3], 3001
    net, X, Y = make(sizes, hidden, output, loss, N, seed=11)
    core, p = net._core, net.params
    w = np.random.default_rng(2).uniform(0.0, 2.0, size=N)
    for weights in (None, w):
        # One block of all rows on one thread is the baseline.
        J0, g0 = core.cost_grad(p, X, Y, weights, block_rows=N, threads=1)
        out0 = core.forward(p, X, block_rows=N, threads=1)
        for block_rows in (1, 7, 64, 1000, N - 1, N + 5, 0):
            for threads in (1, 2, 3):
                what = f"block_rows={block_rows} threads={threads}"
                J, g = core.cost_grad(p, X, Y, weights, block_rows=block_rows, threads=threads)
                assert_close_cost(J, J0, what)
                assert_close_grad(net, g, g0, what)
                assert_close_cost(core.cost(p, X, Y, weights, block_rows=block_rows, threads=threads), J0, what)
                out = core.forward(p, X, block_rows=block_rows, threads=threads)
                assert_close_tensor(out, out0, f"forward {what}")


def test_set_num_threads_does_not_change_results():
    net, X, Y = make([30, 50, 2], "sigmoid", "identity", "mse", 5000, seed=3)
    before = qn.get_num_threads()
    try:
        qn.set_num_threads(1)
        J1, g1 = net.cost_grad(X, Y)
        qn.set_num_threads(2)
        J2, g2 = net.cost_grad(X, Y)
        qn.set_num_threads(3)
        J3, g3 = net.cost_grad(X, Y)
    finally:
        qn.set_num_threads(0)
    assert before == qn.get_num_threads()
    for J, g, n in ((J2, g2, 2), (J3, g3, 3)):
        assert_close_cost(J, J1, f"{n} threads")
        assert_close_grad(net, g, g1, f"{n} threads")


def test_python_threads_calling_one_network_at_once():
    # Several Python threads share one network (its workspace pool and the thread pool), each
    # with its own parameter vector; every result must equal the same call made alone.
    sizes, N = [16, 48, 32, 4], 4000
    net, X, Y = make(sizes, "tanh", "softmax", "softmax_crossentropy", N, seed=5)
    rng = np.random.default_rng(6)
    params = [net.params + rng.normal(scale=0.1, size=net.n_params) for _ in range(6)]
    fg = net.bind(X, Y)
    small_X, small_Y = X[:3], Y[:3]
    expected = [net._core.cost_grad(p, X, Y, threads=1) for p in params]
    expected_small = [net._core.cost_grad(p, small_X, small_Y, threads=1) for p in params]
    expected_out = [net._core.forward(p, X, threads=1) for p in params]

    results, errors = {}, []
    start = threading.Barrier(len(params))

    def work(i):
        try:
            start.wait()
            for rep in range(4):
                results[i, rep, "fg"] = fg(params[i])
                results[i, rep, "cg"] = net._core.cost_grad(params[i], X, Y)
                results[i, rep, "small"] = net._core.cost_grad(params[i], small_X, small_Y)
                results[i, rep, "out"] = net._core.forward(params[i], X)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(params))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(len(params)):
        for rep in range(4):
            for key, (J0, g0) in (("fg", expected[i]), ("cg", expected[i]), ("small", expected_small[i])):
                J, g = results[i, rep, key]
                assert_close_cost(J, J0, f"thread {i} rep {rep} {key}")
                assert_close_grad(net, g, g0, f"thread {i} rep {rep} {key}")
            assert_close_tensor(results[i, rep, "out"], expected_out[i], f"thread {i} rep {rep} forward")


def test_the_check_fails_on_a_wrong_gradient():
    # The comparison helpers must reject a perturbation far above the tolerance.
    net, X, Y = make([4, 6, 2], "tanh", "identity", "mse", 50, seed=9)
    J, g = net._core.cost_grad(net.params, X, Y)
    bad = g.copy()
    bad[net.layout[1][0]] *= 1 + 1e-9
    with pytest.raises(AssertionError):
        assert_close_grad(net, bad, g, "perturbed")
    with pytest.raises(AssertionError):
        assert_close_cost(J * (1 + 1e-10), J, "perturbed")
    bad = g.copy()
    bad[net.layout[1][0] : net.layout[1][0] + 3] *= 1 + 1e-10
    with pytest.raises(AssertionError, match="W1: norm-relative"):
        assert_norm_close_grad(net, bad, g, "perturbed")


def ulps(a, b):
    """|a - b| in units in the last place of b (elementwise)."""
    return np.abs(a - b) / np.spacing(np.abs(b))


def activation_inputs():
    rng = np.random.default_rng(12)
    mags = np.concatenate([
        np.logspace(-310, 3, 4000),  # subnormal to beyond every saturation point
        rng.uniform(0.0, 40.0, 20000),
        np.arange(1, 60) * np.log(2) / 2,  # where the reduction changes k (tanh uses 2|x|)
        np.arange(1, 60) * np.log(2),
        [0.0, 0.34657359027997264, 19.06, 20.0, 708.39, 709.78, 744.44, 745.13, 746.0, 1e6],
    ])
    x = np.concatenate([mags, -mags])
    return np.concatenate([x, np.nextafter(x, np.inf), np.nextafter(x, -np.inf)])[:, None]


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_vectorised_activations_within_a_few_ulp_of_std(name):
    # A 1-1 network with weight 1 and no bias outputs f(x): the tuned path uses the
    # vectorised functions, the reference path std::tanh / std::exp.
    net = qn.Network([1, 1], output_activation=name, bias=False, loss="mse")
    net.params[...] = 1.0
    x = activation_inputs()
    fast = net._core.forward(net.params, x, kernel="auto")
    exact = net._core.forward(net.params, x, kernel="reference")
    assert np.all(np.isfinite(fast))
    zero = exact == 0.0
    np.testing.assert_array_equal(fast[zero], exact[zero])
    worst = np.max(ulps(fast[~zero], exact[~zero]))
    assert worst <= 4.0, f"{name}: {worst} ulp"
    # Odd / symmetric and saturating exactly as std:: does.
    assert np.all(np.sign(fast) == np.sign(exact))


def test_vectorised_softmax_within_a_few_ulp_of_std():
    net = qn.Network([1, 2], output_activation="softmax", bias=False, loss="mse")
    net.params[...] = [1.0, 0.0]  # z = (x, 0)
    x = activation_inputs()
    fast = net._core.forward(net.params, x, kernel="auto")
    exact = net._core.forward(net.params, x, kernel="reference")
    zero = exact == 0.0
    np.testing.assert_array_equal(fast[zero], exact[zero])
    assert np.max(ulps(fast[~zero], exact[~zero])) <= 4.0


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus"])
def test_vectorised_activations_do_not_depend_on_the_column(name):
    # Vectorised loops split a row into vector-wide steps and a remainder; both must compute
    # the same function, or a value would depend on where it sits in the row (and results on
    # the layout of the workspace).
    rng = np.random.default_rng(4)
    for cols in (3, 13, 17, 64):
        net = qn.Network([1, cols], output_activation=name, loss="mse")
        net.params[:cols] = 1.0
        net.params[cols:] = 0.0
        x = rng.uniform(-30, 30, size=(2000, 1))
        out = net._core.forward(net.params, x)
        np.testing.assert_array_equal(out, np.repeat(out[:, :1], cols, axis=1))
