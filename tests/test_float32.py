"""The float32 compute path (Network(dtype="float32")): accuracy against the float64 reference,
exactness where float32 is exact, proof that it really runs in float32, the overflow signal,
model files, the gradient check, estimators, the CLI and every bad dtype."""

import json
import zipfile

import numpy as np
import pytest
from scipy.optimize import minimize

import quasinet as qn
from quasinet import gradcheck
from quasinet.network import check_dtype

from combos import case_id, cases
from reference import cost as ref_cost
from reference import grad as ref_grad
from reference import forward as ref_forward
from reference import rel_err, targets

CASES = cases()  # pairwise covering set of activation x loss/output x bias x shape
# Gradient agreement asked of the float32 path (relative, as a vector): the target is
# 1e-4; these small networks stay near 1e-6, so 2e-5 leaves room without hiding a wrong formula
# (a wrong transpose or a missing term is off by order 1).
GRAD_TOL = 2e-5
COST_TOL = 2e-6


def pair(sizes, hidden="tanh", output="identity", loss="mse", bias=True, seed=0, l2=0.0):
    n64 = qn.Network(sizes, activation=hidden, output_activation=output, loss=loss, bias=bias, l2=l2, seed=seed)
    n32 = qn.Network(sizes, activation=hidden, output_activation=output, loss=loss, bias=bias, l2=l2, seed=seed,
                     dtype="float32")
    n32.params[...] = n64.params
    return n64, n32


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_cost_and_gradient_match_the_float64_reference(case):
    sizes, hidden, output, loss, bias = case
    rng = np.random.default_rng(7)
    _, net = pair(sizes, hidden, output, loss, bias, seed=3, l2=0.01)
    X = rng.normal(size=(67, sizes[0]))
    Y = targets(rng, loss, output, 67, sizes[-1])
    w = rng.uniform(0.5, 2.0, size=67)
    args = (net.params, sizes, hidden, output, bias, loss, 0.01, X, Y, w)
    J, g = net.cost_grad(X, Y, sample_weight=w)
    assert rel_err(J, ref_cost(*args)) < COST_TOL
    assert rel_err(g, ref_grad(*args)) < GRAD_TOL
    out = net.forward(X)
    assert rel_err(out, ref_forward(net.params, sizes, hidden, output, bias, X)[-1][1]) < COST_TOL
    assert net.cost(X, Y, sample_weight=w) == J


def test_float32_really_computes_in_float32():
    # Not a float64 pass in disguise: the results differ from float64 at float32's rounding
    # level (far above float64's 1e-16, far below the tolerance above).
    rng = np.random.default_rng(0)
    n64, n32 = pair([10, 32, 16, 3])
    X, Y = rng.normal(size=(500, 10)), rng.normal(size=(500, 3))
    J64, g64 = n64.cost_grad(X, Y)
    J32, g32 = n32.cost_grad(X, Y)
    assert 1e-10 < rel_err(g32, g64) < GRAD_TOL
    assert 1e-12 < rel_err(n32.forward(X), n64.forward(X)) < COST_TOL
    # The hidden activations are float32 numbers: a one-hidden-layer identity-output network's
    # output is an exact float64 sum of float32 products only if they were rounded, so compare
    # with a NumPy emulation of the float32 hidden layer instead of the float64 one.
    net = qn.Network([3, 5, 1], activation="tanh", output_activation="identity", loss="sse", seed=1, dtype="float32")
    Xs = rng.normal(size=(4, 3))
    W1, b1 = net.weights[0], net.biases[0]
    z = (Xs.astype(np.float32) @ W1.astype(np.float32)).astype(np.float64) + b1
    a32 = np.tanh(z).astype(np.float32).astype(np.float64)
    a64 = np.tanh(Xs @ W1 + b1)
    emulated = a32 @ net.weights[1] + net.biases[1]
    assert np.max(np.abs(net.forward(Xs) - emulated)) < 1e-6
    assert np.max(np.abs(a32 - a64)) > 1e-9  # the emulation does differ from float64


@pytest.mark.parametrize("hidden", ["relu", "identity"])
def test_float32_is_exact_where_float32_arithmetic_is(hidden):
    # Small integer weights and inputs: every product and sum is exact in float32, so the
    # float32 path must reproduce the float64 reference to the last bit of its own float64
    # arithmetic: any slip in layout, transposition or accumulation would show here.
    rng = np.random.default_rng(1)
    sizes = [4, 6, 5, 2]
    _, net = pair(sizes, hidden, "identity", "sse")
    net.params[...] = rng.integers(-3, 4, size=net.n_params)
    X = rng.integers(-4, 5, size=(40, 4)).astype(float)
    Y = rng.integers(-4, 5, size=(40, 2)).astype(float)
    J, g = net.cost_grad(X, Y)
    args = (net.params, sizes, hidden, "identity", True, "sse", 0.0, X, Y)
    assert J == ref_cost(*args)
    np.testing.assert_array_equal(g, ref_grad(*args))


def test_float32_reference_kernel_matches_blas_and_threads_agree():
    rng = np.random.default_rng(2)
    _, net = pair([20, 40, 30, 4], "sigmoid", "softmax", "softmax_crossentropy")
    X = rng.normal(size=(3000, 20))
    Y = rng.dirichlet(np.ones(4), size=3000)
    fg_ref = net._core.bind(X, Y, None)
    J, g = net.cost_grad(X, Y)
    Jr, gr = net._core.cost_grad(net.params, X, Y, None, kernel="reference")
    assert rel_err(Jr, J) < COST_TOL and rel_err(gr, g) < GRAD_TOL
    assert fg_ref.cost(net.params) == pytest.approx(J, rel=1e-14)
    # The row blocks are the same whatever the thread count; only the float64 sums of the
    # blocks' results run in another order.
    J1, g1 = net._core.cost_grad(net.params, X, Y, None, threads=1, block_rows=256)
    J2, g2 = net._core.cost_grad(net.params, X, Y, None, threads=2, block_rows=256)
    assert rel_err(J2, J1) < 1e-13 and rel_err(g2, g1) < 1e-13


def test_float32_gradient_check_uses_its_own_step_and_tolerance():
    rng = np.random.default_rng(3)
    for hidden, output, loss in [("sigmoid", "sigmoid", "sse"), ("tanh", "identity", "mse"),
                                 ("softplus", "softmax", "softmax_crossentropy")]:
        _, net = pair([3, 7, 5, 2], hidden, output, loss, seed=4)
        X = rng.normal(size=(40, 3))
        Y = targets(rng, loss, output, 40, 2)
        err = qn.check_gradient(net, X, Y)
        assert err < gradcheck.TOLERANCE["float32"]
        # With float64's step the float32 cost's rounding noise dominates the difference quotient.
        assert qn.check_gradient(net, X, Y, eps=gradcheck.DEFAULT_STEP["float64"]) > 10 * err
        # A wrong gradient (the float32 gradient at slightly different parameters) fails the check.
        _, g_wrong = net.bind(X, Y)(net.params + 0.01)
        n = qn.numerical_gradient(net, X, Y)
        assert gradcheck._relative_error(g_wrong, n) > 10 * gradcheck.TOLERANCE["float32"]


def test_float32_lbfgs_fit_ends_close_to_the_float64_fit():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 6))
    y = np.sin(X[:, :1] * 2) + X[:, 1:2] * X[:, 2:3] + 0.1 * rng.normal(size=(400, 1))
    # Both runs converge from the same start (a penalty large enough that they reach the same
    # minimum; with a tiny one non-convexity can send them to different minima).
    finals = {}
    for dtype in ("float64", "float32"):
        net = qn.Network([6, 16, 1], activation="tanh", output_activation="identity", loss="mse", l2=1e-2, seed=5,
                         dtype=dtype)
        res = qn.Trainer(net, method="L-BFGS-B", maxiter=2000).train(X, y)
        assert res.success, res.message
        finals[dtype] = res.fun
    assert abs(finals["float32"] - finals["float64"]) <= 0.01 * finals["float64"]


# -- the overflow signal ---------------------------------------------------------------------------
def test_float32_names_values_beyond_its_range():
    net = qn.Network([2, 3, 1], activation="softplus", output_activation="identity", loss="sse", seed=0,
                     dtype="float32")
    X = np.array([[1.0, 2.0], [1e39, 0.0]])
    with pytest.raises(FloatingPointError, match=r"X\[1, 0\] is 1e\+39, beyond the float32 range"):
        net.cost_grad(X, np.zeros((2, 1)))
    # The same data in float64: finite, no error.
    net64 = qn.Network([2, 3, 1], activation="softplus", output_activation="identity", loss="sse", seed=0)
    net64.params[...] = net.params
    assert np.isfinite(net64.cost(X, np.zeros((2, 1))))
    net.params[2] = 1e39
    with pytest.raises(FloatingPointError, match=r"params\[2\] \(weights\[0\]\[0, 2\]\) is 1e\+39, beyond the float32"):
        net.forward(np.ones((1, 2)))


def test_float32_refuses_out_of_range_values_even_when_the_result_would_be_finite():
    # tanh saturates, so an input rounded to infinity would pass as +-1: refused instead, in every
    # entry point.
    net = qn.Network([2, 3, 1], activation="tanh", output_activation="identity", loss="sse", seed=0,
                     dtype="float32")
    X, y = np.array([[1e39, 0.5]]), np.zeros((1, 1))
    for call in (lambda: net.forward(X), lambda: net.cost(X, y), lambda: net.cost_grad(X, y),
                 lambda: net.bind(X, y)(net.params)):
        with pytest.raises(FloatingPointError, match=r"X\[0, 0\] is 1e\+39, beyond the float32 range"):
            call()
    net.params[0] = -1e39
    with pytest.raises(FloatingPointError, match=r"params\[0\] \(weights\[0\]\[0, 0\]\) is -1e\+39, beyond"):
        net.forward(np.ones((1, 2)))
    # Just above FLT_MAX but rounding to FLT_MAX is representable: no error from the range check.
    net.params[0] = 3.4028235e38
    assert np.isfinite(net.forward(np.zeros((1, 2)))).all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_keeps_the_nan_of_an_overflowing_product(dtype):
    # 1e19 * 1e20 - 0.9e19 * 1e20 overflows to inf - inf = NaN in float32 (and 1e300-scale
    # weights do the same in float64); relu must not turn that NaN into a silent 0.
    big = {"float32": (1e19, 1e20), "float64": (1e300, 1e10)}[dtype]
    net = qn.Network([2, 1, 1], activation="relu", output_activation="identity", loss="sse", seed=0, dtype=dtype)
    net.params[...] = 0.0
    net.weights[0][:, 0] = [big[0], -0.9 * big[0]]
    net.weights[1][...] = 1e-30
    X = np.array([[big[1], big[1]]])
    with pytest.raises(FloatingPointError, match=f"{dtype} overflowed in the forward pass: the output of layer 0 "
                                                 r"\(relu\) is nan"):
        net.cost_grad(X, np.zeros((1, 1)))


def test_float32_overflow_in_the_forward_pass_is_named():
    # Finite in float32 on the way in, but the first layer's products pass 3.4e38.
    net = qn.Network([2, 2, 1], activation="relu", output_activation="identity", loss="sse", seed=0, dtype="float32")
    net.params[...] = 0.0
    net.weights[0][...] = 1e20
    net.weights[1][...] = 1.0
    X = np.array([[1e19, 1e19]])
    with pytest.raises(FloatingPointError, match=r"float32 overflowed in the forward pass: the output of layer 0 "
                                                 r"\(relu\) is inf first at row 0, unit 0"):
        net.cost(X, np.zeros((1, 1)))
    net64 = qn.Network([2, 2, 1], activation="relu", output_activation="identity", loss="sse", seed=0)
    net64.params[...] = net.params
    assert np.isfinite(net64.forward(X)).all()


# -- dtype everywhere ------------------------------------------------------------------------------
@pytest.mark.parametrize("given, name", [("float32", "float32"), (np.float32, "float32"),
                                         (np.dtype("float32"), "float32"), ("f8", "float64"), (float, "float64")])
def test_dtype_spellings(given, name):
    assert qn.Network([2, 1], dtype=given).dtype == name


@pytest.mark.parametrize("bad, exc, msg", [
    ("float16", ValueError, "dtype must be 'float64' or 'float32', got 'float16'"),
    ("f4,(2", ValueError, "dtype must be 'float64' or 'float32', got 'f4,(2'"),
    ("x" * 100, ValueError, "dtype must be 'float64' or 'float32', got 'xxxx"),
    (int, ValueError, "dtype must be 'float64' or 'float32', got <class 'int'>"),
    ("bogus", ValueError, "dtype must be 'float64' or 'float32', got 'bogus'"),
    (3, TypeError, "dtype must be 'float64' or 'float32', got int"),
    (True, TypeError, "dtype must be 'float64' or 'float32', got bool"),
    (None, TypeError, "dtype must be 'float64' or 'float32', got NoneType"),
])
def test_bad_dtype(bad, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
        qn.Network([2, 1], dtype=bad)
    with pytest.raises(exc):
        check_dtype(bad)
    from quasinet.sklearn import QuasiNetRegressor
    with pytest.raises(exc, match="dtype must be"):
        QuasiNetRegressor(dtype=bad, method="L-BFGS-B").fit(np.ones((5, 2)), np.arange(5.0))


def test_core_refuses_unknown_dtype():
    with pytest.raises(ValueError, match="unknown dtype 'float16': expected 'float64' or 'float32'"):
        qn._core.Network([2, 1], "tanh", "identity", True, "sse", 0.0, "float16")


def test_copy_pickle_repr_keep_the_dtype():
    import pickle

    net = qn.Network([3, 4, 1], seed=0, dtype="float32")
    assert net.copy().dtype == "float32"
    again = pickle.loads(pickle.dumps(net))
    assert again.dtype == "float32" and np.array_equal(again.params, net.params)
    assert "dtype='float32'" in repr(net)
    assert "dtype" not in repr(qn.Network([3, 4, 1]))


def _header(path):
    with zipfile.ZipFile(path) as z, z.open("header.npy") as f:
        return json.loads(np.lib.format.read_array(f).tobytes().decode())


def test_model_file_records_the_dtype(tmp_path):
    net = qn.Network([3, 4, 1], seed=0, dtype="float32")
    net.save(tmp_path / "a.qnet")
    h = _header(tmp_path / "a.qnet")
    assert h["version"] == 3 and h["dtype"] == "float32"
    back = qn.load(tmp_path / "a.qnet")
    assert back.dtype == "float32" and np.array_equal(back.params, net.params)
    # A float64 network's file is unchanged: version 1, no dtype key (older releases read it).
    qn.Network([3, 4, 1], seed=0).save(tmp_path / "b.qnet")
    h = _header(tmp_path / "b.qnet")
    assert h["version"] == 1 and "dtype" not in h
    assert qn.load(tmp_path / "b.qnet").dtype == "float64"


def _rewrite_header(src, dst, **changes):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "header.npy":
                with zin.open("header.npy") as f:
                    h = json.loads(np.lib.format.read_array(f).tobytes().decode())
                h.update(changes)
                import io as _io

                buf = _io.BytesIO()
                np.lib.format.write_array(buf, np.frombuffer(json.dumps(h).encode(), dtype=np.uint8))
                data = buf.getvalue()
            zout.writestr(item, data)


@pytest.mark.parametrize("changes, msg", [
    ({"dtype": "float16"}, "dtype must be one of float64, float32, got 'float16'"),
    ({"dtype": 32}, "dtype must be one of float64, float32, got 32"),
    ({"version": 2}, r"unknown header keys \['dtype'\]"),
])
def test_hostile_dtype_headers(tmp_path, changes, msg):
    qn.Network([3, 4, 1], seed=0, dtype="float32").save(tmp_path / "a.qnet")
    _rewrite_header(tmp_path / "a.qnet", tmp_path / "bad.qnet", **changes)
    with pytest.raises(ValueError, match=msg):
        qn.load(tmp_path / "bad.qnet")


def test_estimators_take_dtype():
    from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

    rng = np.random.default_rng(6)
    X = rng.normal(size=(120, 3))
    y = X[:, 0] - 2 * X[:, 1] ** 2 + 0.1 * rng.normal(size=120)
    fits = {}
    for dtype in ("float64", "float32"):
        est = QuasiNetRegressor(hidden_layer_sizes=(8,), method="L-BFGS-B", l2=1e-2, max_iter=3000, random_state=0,
                                dtype=dtype).fit(X, y)
        assert est.network_.dtype == dtype
        fits[dtype] = est.loss_
    assert fits["float32"] == pytest.approx(fits["float64"], rel=0.01)
    br = QuasiNetRegressor(hidden_layer_sizes=(4,), random_state=0, dtype="float32", restarts=0).fit(X, y)
    assert br.method_ == "BR" and br.network_.dtype == "float32"
    mean, std = br.predict(X[:5], return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    clf = QuasiNetClassifier(hidden_layer_sizes=(4,), method="L-BFGS-B", l2=1e-2, max_iter=3000, random_state=0,
                             dtype=np.float32)
    clf.fit(X, (y > 0).astype(int))
    assert clf.network_.dtype == "float32" and clf.score(X, (y > 0).astype(int)) > 0.8


def test_curvature_of_a_float32_network_runs_in_float64():
    # X = 1e39 is beyond float32 but harmless in float64: the cost (float32 path) refuses it, the
    # Gauss-Newton pass (float64) returns the float64 network's figures exactly.
    net = qn.Network([2, 3, 1], activation="softplus", output_activation="identity", loss="sse", seed=0,
                     dtype="float32")
    net64 = qn.Network([2, 3, 1], activation="softplus", output_activation="identity", loss="sse", seed=0)
    net64.params[...] = net.params
    X, y = np.array([[1e39, 1.0], [0.5, -0.5]]), np.zeros((2, 1))
    with pytest.raises(FloatingPointError, match="beyond the float32 range"):
        net.cost(X, y)
    J, g, G = net.gauss_newton(X, y)
    J64, g64, G64 = net64.gauss_newton(X, y)
    assert J == J64 and np.array_equal(g, g64) and np.array_equal(G, G64)
    np.testing.assert_array_equal(net.jacobian(X), net64.jacobian(X))
