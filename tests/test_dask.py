"""quasinet on Dask (quasinet.dask): a real 2-worker distributed.LocalCluster (separate processes).

Checked here: cost and gradient equal to the core on NumPy data (1e-12 relative) and to the
plain-NumPy reference, for every loss, with and without weights, on uneven partitions;
training (every Trainer method, the estimators) against the NumPy fit; a worker killed mid-fit;
a partition that always fails; the client's memory while the data stay on the workers;
zarr-backed data; bad input.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import dask
import dask.array as da
import quasinet as qn
import reference as ref
import zarr
from quasinet import dask as qd

# Every evaluation on the cluster gives up after this many seconds instead of hanging.
TIMEOUT = 60.0

LOSS_CASES = [  # (loss, output activation, outputs)
    ("sse", "sigmoid", 2),
    ("mse", "identity", 3),
    ("binary_crossentropy", "sigmoid", 2),
    ("softmax_crossentropy", "softmax", 3),
]


@pytest.fixture
def client(dask_cluster):
    """The cluster's Client as the current one (the scheduler quasinet uses) for one test."""
    with dask_cluster.as_current(), qd.options(timeout=TIMEOUT):
        yield dask_cluster


def data(loss, output, K, N=1003, n_in=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, n_in))
    Y = ref.targets(rng, loss, output, N, K)
    w = rng.uniform(0.0, 2.0, N)
    w[::7] = 0.0
    return X, Y, w


def uneven(a, rows=(100, 1, 400, 0, 250, 252)):
    """a as a dask array with uneven row chunks (an empty one among them) and split columns."""
    rows = tuple(rows[:-1]) + (a.shape[0] - sum(rows[:-1]),)
    chunks = (rows,) + tuple(((s + 1) // 2, s // 2) if s > 1 else (s,) for s in a.shape[1:])
    return da.from_array(a, chunks=chunks)


def rel(got, want):
    return np.linalg.norm(np.subtract(got, want)) / np.linalg.norm(want)


# -- cost and gradient ---------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("loss,output,K", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_cost_grad_equal_numpy_on_cluster(client, loss, output, K, weighted):
    X, Y, w = data(loss, output, K)
    net = qn.Network([5, 7, K], activation="tanh", output_activation=output, loss=loss, l2=0.03, seed=3)
    w = w if weighted else None
    Xd, Yd = uneven(X), uneven(Y)
    wd = uneven(w) if weighted else None
    fg = net.bind(Xd, Yd, wd)
    assert isinstance(fg, qd.DaskBound) and fg.n_partitions == 6 and fg.n_samples == 1003
    for trial in range(3):
        p = net.params + 0.3 * trial
        c, g = fg(p)
        c0, g0 = net._core.cost_grad(p, X, Y, w)
        assert abs(c - c0) <= 1e-12 * abs(c0)
        assert rel(g, g0) <= 1e-12
        assert abs(fg.cost(p) - c0) <= 1e-12 * abs(c0)
        # the curvature the second-order methods use: Gauss-Newton matrix, Hessian-vector products
        c, g, G = fg.gauss_newton(p)
        c0, g0, G0 = net._core.gauss_newton(p, X, Y, w)
        assert abs(c - c0) <= 1e-12 * abs(c0) and rel(g, g0) <= 1e-12 and rel(G, G0) <= 1e-12
        v = np.random.default_rng(trial).standard_normal(net.n_params)
        for kind in ("exact", "gauss-newton"):
            assert rel(fg.hessp(p, v, kind), net._core.hessp(p, X, Y, v, w, kind=kind)) <= 1e-12
        # and the plain-NumPy reference, written from the formulas
        spec = ([5, 7, K], "tanh", output, True)
        assert abs(c - ref.cost(p, *spec, loss, 0.03, X, Y, w)) <= 1e-10 * abs(c0)
        assert rel(g, ref.grad(p, *spec, loss, 0.03, X, Y, w)) <= 1e-9
    # the one-shot calls on Network
    c, g = net.cost_grad(Xd, Yd, wd)
    c0, g0 = net.cost_grad(X, Y, w)
    assert abs(c - c0) <= 1e-12 * abs(c0) and rel(g, g0) <= 1e-12
    assert abs(net.cost(Xd, Yd, wd) - net.cost(X, Y, w)) <= 1e-12 * abs(c0)
    assert rel(net.gauss_newton(Xd, Yd, wd)[2], net.gauss_newton(X, Y, w)[2]) <= 1e-12
    assert rel(net.hessp(Xd, Yd, v, wd), net.hessp(X, Y, v, w)) <= 1e-12


@pytest.mark.parametrize("persist", [True, False])
@pytest.mark.parametrize("loss,output,K", LOSS_CASES[1:3], ids=[c[0] for c in LOSS_CASES[1:3]])
def test_local_scheduler_and_reread(loss, output, K, persist):
    """No Client: Dask's local scheduler; persist=False re-reads the partitions at each call."""
    X, Y, w = data(loss, output, K, N=501)
    net = qn.Network([5, 4, K], activation="sigmoid", output_activation=output, loss=loss, l2=0.01, seed=1)
    fg = qd.bind(net, uneven(X, (60, 200, 0, 241)), uneven(Y, (60, 200, 0, 241)), w, persist=persist)
    assert fg._client is None
    c, g = fg(net.params)
    c0, g0 = net.cost_grad(X, Y, w)
    assert abs(c - c0) <= 1e-12 * abs(c0) and rel(g, g0) <= 1e-12


def test_float32_networks_compute_in_float32_on_the_workers():
    X, Y, w = data("mse", "identity", 2, N=501)
    net = qn.Network([5, 16, 2], activation="tanh", output_activation="identity", loss="mse", seed=1,
                     dtype="float32")
    net64 = qn.Network([5, 16, 2], activation="tanh", output_activation="identity", loss="mse", seed=1)
    net64.params[...] = net.params
    fg = qd.bind(net, uneven(X, (60, 200, 0, 241)), uneven(Y, (60, 200, 0, 241)), w)
    c, g = fg(net.params)
    c32, g32 = net.cost_grad(X, Y, w)
    c64, g64 = net64.cost_grad(X, Y, w)
    # The partitions are other row blocks than the local call's, so float32 sums differ a little,
    # but far less than float32 differs from float64: the workers did compute in float32.
    assert rel(g, g32) < 1e-6 and abs(c - c32) <= 1e-6 * c32
    assert 1e-10 < rel(g, g64) < 2e-5
    # and the estimators' dask path builds the network in the dtype asked for
    from quasinet.sklearn import QuasiNetRegressor
    est = QuasiNetRegressor(hidden_layer_sizes=(4,), method="L-BFGS-B", max_iter=5, random_state=0, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 5 iterations do not converge
        est.fit(uneven(X, (60, 200, 0, 241)), uneven(Y[:, 0], (60, 200, 0, 241)))
    assert est.network_.dtype == "float32"


def test_reread_on_cluster_and_forward(client):
    X, Y, w = data("mse", "identity", 2, N=700)
    net = qn.Network([5, 6, 2], activation="relu", output_activation="identity", loss="mse", seed=2)
    with qd.options(persist=False):
        fg = net.bind(da.from_array(X, chunks=100), da.from_array(Y, chunks=100))
    assert fg._futures is None and fg._client is not None
    c, g = fg(net.params)
    c0, g0 = net.cost_grad(X, Y)
    assert abs(c - c0) <= 1e-12 * abs(c0) and rel(g, g0) <= 1e-12
    out = net.forward(da.from_array(X, chunks=(128, 3)))
    assert isinstance(out, da.Array) and out.chunks[1] == (2,)
    # the core picks its kernel by block size: equal up to rounding
    np.testing.assert_allclose(out.compute(), net.forward(X), rtol=1e-12, atol=1e-14)


def test_reweighted_shares_the_partitions(client):
    """Other weights over the same held partitions (early stopping's validation cost): the core's value."""
    X, Y, w = data("binary_crossentropy", "sigmoid", 2, N=900)
    net = qn.Network([5, 4, 2], activation="tanh", output_activation="sigmoid", loss="binary_crossentropy",
                     l2=0.1, seed=6)
    fg = net.bind(da.from_array(X, chunks=(200, 5)), da.from_array(Y, chunks=(300, 2)), da.from_array(w, chunks=100))
    v = np.where(w > 0, 0.0, 1.0 + np.arange(900) % 3)
    plain = qn.Network(**{**net.spec(), "l2": 0.0})
    plain.set_params(net.params)
    val = fg.reweighted(da.from_array(v, chunks=450), plain)
    assert val.n_partitions == fg.n_partitions == 5
    c, g = val(net.params)
    c0, g0 = plain.cost_grad(X, Y, v)
    assert abs(c - c0) <= 1e-12 * c0 and rel(g, g0) <= 1e-12
    with pytest.raises(ValueError, match="same architecture"):
        fg.reweighted(v, qn.Network([5, 3, 2], output_activation="sigmoid", loss="binary_crossentropy"))
    val.close()
    fg.close()


def test_dtypes_labels_and_numpy_mix(client):
    """Integer X, integer class labels (softmax), NumPy y next to dask X: converted as for NumPy input."""
    rng = np.random.default_rng(5)
    X = rng.integers(-3, 4, size=(600, 4)).astype(np.int32)
    labels = rng.integers(0, 3, size=600)
    net = qn.Network([4, 5, 3], activation="tanh", output_activation="softmax", loss="softmax_crossentropy", seed=0)
    c, g = net.bind(da.from_array(X, chunks=(170, 2)), da.from_array(labels, chunks=90))(net.params)
    c0, g0 = net.cost_grad(X, labels)
    assert abs(c - c0) <= 1e-12 * abs(c0) and rel(g, g0) <= 1e-12
    c1, g1 = net.bind(da.from_array(X, chunks=(170, 4)), labels)(net.params)  # y as NumPy
    assert abs(c1 - c0) <= 1e-12 * abs(c0) and rel(g1, g0) <= 1e-12
    Xb = X > 0
    Yb = (rng.random((600, 1)) > 0.5)
    net2 = qn.Network([4, 1], output_activation="sigmoid", loss="binary_crossentropy", seed=0)
    assert abs(net2.cost(da.from_array(Xb, chunks=250), da.from_array(Yb, chunks=250)) - net2.cost(Xb, Yb)) \
        <= 1e-12 * net2.cost(Xb, Yb)


# -- training ------------------------------------------------------------------------------------
def test_lbfgsb_fit_on_dask_equals_numpy_fit(client):
    X, Y, _ = data("mse", "identity", 1, N=800)
    Y = np.tanh(X[:, :1] - X[:, 1:2] * X[:, 2:3])
    net_np = qn.Network([5, 6, 1], activation="tanh", output_activation="identity", loss="mse", l2=1e-4, seed=4)
    net_dk = net_np.copy()
    r_np = qn.Trainer(net_np, method="L-BFGS-B", maxiter=60).train(X, Y)
    r_dk = qn.Trainer(net_dk, method="L-BFGS-B", maxiter=60).train(da.from_array(X, chunks=(150, 5)),
                                                                    da.from_array(Y, chunks=(150, 1)))
    assert r_dk.nit == r_np.nit
    assert abs(r_dk.fun - r_np.fun) <= 1e-8 * r_np.fun
    np.testing.assert_allclose(net_dk.params, net_np.params, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", qn.train.METHODS)
def test_every_method_runs_on_dask(client, method):
    X, Y, _ = data("sse", "sigmoid", 1, N=300)
    Xt, Yt, _ = data("sse", "sigmoid", 1, N=90, seed=1)
    net_np = qn.Network([5, 3, 1], seed=0)
    net_dk = net_np.copy()
    # BR's maxiter counts evidence cycles, the first of up to 100 Levenberg-Marquardt steps: 3 steps
    # per cycle keep its round trips to the cluster near the other methods' and still run 8 cycles.
    # (With 4 to 6 a cycle reaches steps that lower the cost only by rounding, which the partition
    # sums and the core's sum judge differently: both fits agree to 1e-15 but differ by a step.)
    options = {"inner_maxiter": (3, 3)} if method == "BR" else None
    t_np = qn.Trainer(net_np, method=method, maxiter=8, options=options)
    t_dk = qn.Trainer(net_dk, method=method, maxiter=8, options=options)
    r_np = t_np.train(X, Y, Xt, Yt)
    r_dk = t_dk.train(da.from_array(X, chunks=70), da.from_array(Y, chunks=70), da.from_array(Xt, chunks=40), Yt)
    np.testing.assert_allclose(t_dk.J, t_np.J, rtol=1e-7)
    np.testing.assert_allclose(t_dk.testJ, t_np.testJ, rtol=1e-7)
    np.testing.assert_allclose(net_dk.params, net_np.params, rtol=0, atol=1e-6)


# -- fault tolerance -----------------------------------------------------------------------------
def generated(N=24000, n_in=8, parts=8):
    """X and y generated on the workers from a seeded graph (recomputable bit for bit)."""
    X = da.random.default_rng(11).standard_normal((N, n_in), chunks=(N // parts, n_in))
    y = X.map_blocks(lambda b: np.tanh(b[:, :1] * b[:, 1:2]) + 0.1 * b[:, 2:3], chunks=(X.chunks[0], (1,)))
    return X, y


def test_worker_killed_mid_fit_gives_the_uninterrupted_fit(client):
    X, y = generated()
    net0 = qn.Network([8, 12, 1], activation="tanh", output_activation="identity", loss="mse", seed=7)
    plain = net0.copy()
    t_plain = qn.Trainer(plain, method="L-BFGS-B", maxiter=30)
    t_plain.train(X, y)

    killed, iterations = [], []

    def kill_one(params):
        iterations.append(1)
        if len(iterations) == 4:
            pids = client.run(os.getpid)  # {worker address: pid}
            addr = sorted(pids)[0]
            killed.append(pids[addr])
            # SIGKILL shortly after: lands while the next evaluations run on the cluster.
            threading.Timer(0.005, os.kill, (pids[addr], signal.SIGKILL)).start()

    killed_net = net0.copy()
    t_kill = qn.Trainer(killed_net, method="L-BFGS-B", maxiter=30, callback=kill_one)
    t_kill.train(X, y)
    client.wait_for_workers(2, timeout=60)
    assert killed and killed[0] not in client.run(os.getpid).values()  # the worker really died
    assert len(t_kill.J) > 6  # and the fit went on after it
    np.testing.assert_array_equal(killed_net.params, plain.params)
    assert t_kill.J == t_plain.J


@pytest.mark.parametrize("persist", [False, True], ids=["reread", "persisted"])
def test_poisoned_partition_fails_clearly_at_the_best_point(client, tmp_path, persist):
    """A partition whose computation fails from some moment on, every time: RuntimeError naming it."""
    from conftest import recording_bind

    flag = str(tmp_path / "poison")

    def source(b, block_info=None):
        if block_info[0]["chunk-location"][0] == 5 and os.path.exists(flag):
            raise OSError("partition source unreadable")
        return b

    rng = np.random.default_rng(3)
    X0 = rng.standard_normal((800, 4))
    Y0 = np.sin(X0[:, :1])
    X = da.from_array(X0, chunks=(100, 4)).map_blocks(source, dtype=float)
    net = qn.Network([4, 5, 1], activation="tanh", output_activation="identity", loss="mse", seed=1)
    evaluated = []
    recording_bind(net, evaluated)

    def poison(params):
        if not os.path.exists(flag) and len(evaluated) >= 3:
            open(flag, "w").close()
            if persist:  # the held blocks are lost with their worker and must be recomputed: they cannot
                pids = client.run(os.getpid)
                for addr, pid in pids.items():
                    os.kill(pid, signal.SIGKILL)

    with qd.options(persist=persist):
        with pytest.raises(RuntimeError, match=r"partition\(s\) \[5\] failed on the cluster .*OSError"):
            qn.Trainer(net, method="BFGS", maxiter=50, callback=poison).train(X, Y0)
    client.wait_for_workers(2, timeout=60)
    best_cost, best_params = min(evaluated, key=lambda e: e[0])
    np.testing.assert_array_equal(net.params, best_params)
    assert len(evaluated) >= 3 and best_cost < evaluated[0][0]


# -- bad input -----------------------------------------------------------------------------------
def _net(K=1, loss="sse", output="sigmoid"):
    return qn.Network([3, 2, K], output_activation=output, loss=loss, seed=0)


@pytest.mark.parametrize("what,row,col,message", [
    ("X", 257, 2, r"X must be finite, got nan in partition 2 at row 57 of the partition \(row 257 of X\), column 2"),
    ("X", 399, 0, r"X must be finite, got inf in partition 3 at row 99 of the partition \(row 399 of X\), column 0"),
    ("y", 5, 0, r"y must be finite, got -inf in partition 0 at row 5 of the partition \(row 5 of y\)"),
    ("w", 310, None, r"sample_weight must be finite and >= 0, got -1.0 in partition 3 at row 10 of the partition "
                     r"\(row 310 of sample_weight\)"),
], ids=["X-nan", "X-inf", "y-inf", "w-negative"])
def test_non_finite_values_name_partition_and_row(client, what, row, col, message):
    rng = np.random.default_rng(0)
    X, y, w = rng.random((400, 3)), rng.random((400, 1)), rng.random(400)
    bad = {"X": np.nan if row == 257 else np.inf, "y": -np.inf, "w": -1.0}[what]
    {"X": X, "y": y, "w": w}[what][(row, col) if col is not None else row] = bad
    args = [da.from_array(a, chunks=100) for a in (X, y, w)]
    with pytest.raises(ValueError, match=message):
        _net().bind(*args)
    with pytest.raises(ValueError, match=message):  # the one-shot cost too, and the local scheduler
        with dask.config.set(scheduler="sync"):
            qd.cost(_net(), *args)


def test_bad_shapes_dtypes_and_labels(client):
    X, y = da.ones((100, 3), chunks=30), da.ones((100, 1), chunks=30)
    net = _net()
    with pytest.raises(ValueError, match=r"y has 99 rows but X has 100"):
        net.bind(X, da.ones((99, 1), chunks=30))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(100,\), got \(101,\)"):
        net.cost(X, y, da.ones(101, chunks=50))
    with pytest.raises(ValueError, match=r"X must have 3 columns \(one per network input\), got 4"):
        net.cost(da.ones((100, 4), chunks=30), y)
    with pytest.raises(ValueError, match=r"X must be 2-D"):
        net.cost(da.ones(100, chunks=30), y)
    with pytest.raises(ValueError, match=r"y must have 1 column\(s\) \(one per network output\), got 2"):
        net.cost(X, da.ones((100, 2), chunks=30))
    with pytest.raises(ValueError, match=r"X has 0 samples"):
        net.cost(da.ones((0, 3), chunks=30), da.ones((0, 1), chunks=30))
    with pytest.raises(TypeError, match=r"X must hold real numbers \(float, int or bool\), got dtype <U1"):
        net.cost(da.from_array(np.full((100, 3), "a")), y)
    with pytest.raises(ValueError, match=r"sample weights must sum to a positive finite number, got 0"):
        qn.Network([3, 1], output_activation="identity", loss="mse").bind(X, y, da.zeros(100, chunks=30))
    soft = qn.Network([3, 3], output_activation="softmax", loss="softmax_crossentropy")
    labels = np.zeros(100, dtype=int)
    labels[77] = 3
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\], got 3 in partition 2 at row 17 "
                                         r"of the partition \(row 77 of y\)"):
        soft.bind(X, da.from_array(labels, chunks=30))
    fg = net.bind(X, y)
    with pytest.raises(ValueError, match=r"params must have shape \(11,\) \(the network's n_params\), got \(3,\)"):
        fg(np.zeros(3))
    with pytest.raises(TypeError, match=r"persist must be a bool, got str"):
        qd.bind(net, X, y, persist="no")
    with pytest.raises(ValueError, match=r"timeout must be > 0 seconds, got 0"):
        qd.bind(net, X, y, timeout=0)


def test_misaligned_and_unknown_chunks_are_rechunked(client):
    rng = np.random.default_rng(1)
    X, y, w = rng.random((500, 3)), rng.random((500, 1)), rng.random(500)
    Xd = da.from_array(X, chunks=((120, 380), (1, 1, 1)))
    Xu = Xd[da.from_array(np.ones(500, bool), chunks=100)]  # boolean indexing: unknown row chunks
    assert np.isnan(Xu.shape[0])
    net = _net()
    fg = net.bind(Xu, da.from_array(y, chunks=77), da.from_array(w, chunks=(250, 250)))
    assert fg.n_samples == 500
    c, g = fg(net.params)
    c0, g0 = net.cost_grad(X, y, w)
    assert abs(c - c0) <= 1e-12 * c0 and rel(g, g0) <= 1e-12


# -- memory and out of core ----------------------------------------------------------------------
CLIENT_SCRIPT = r"""
import json, sys
import numpy as np
import dask.array as da
from distributed import Client
import quasinet as qn

def status(field):  # kB -> bytes
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

def reset_peak():  # Linux: VmHWM (the peak RSS) restarts from the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

N, n_in = int(sys.argv[2]), 16
with Client(sys.argv[1], timeout=60) as client:
    X = da.random.default_rng(0).standard_normal((N, n_in), chunks=(N // 8, n_in))
    y = X[:, :1] * X[:, 1:2]
    net = qn.Network([n_in, 8, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    qn.Network([2, 1]).cost(np.ones((3, 2)), np.ones((3, 1)))  # warm up the core's own buffers
    reset_peak()
    before = status("VmRSS")
    fg = net.bind(X, y)
    c, g = fg(net.params)
    result = qn.Trainer(net, method="L-BFGS-B", maxiter=2).train(X, y)
    extra = status("VmHWM") - before
    reset_peak()
    before = status("VmRSS")
    Xc = X.compute()  # the trap quasinet must never fall into: the whole array on the client
    trap = status("VmHWM") - before
print(json.dumps({"extra": extra, "trap": trap, "nbytes": X.nbytes, "cost": c}))
"""


def test_large_array_generated_on_the_workers_never_reaches_the_client(dask_cluster):
    """A fresh client process binds, evaluates and trains on 1.2e6 x 16 (154 MB) generated on the workers."""
    N = 1_200_000
    out = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, dask_cluster.scheduler.address, str(N)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["nbytes"] == N * 16 * 8
    assert np.isfinite(r["cost"])
    # The client's peak RSS grew by less than 16 MiB, where computing X there costs its size.
    assert r["extra"] < 16 * 2**20, r
    assert r["trap"] > 0.9 * r["nbytes"], r


def test_zarr_backed_data_train_out_of_core(client, tmp_path):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((3000, 6))
    Y = np.sin(X[:, :2])
    zx = zarr.open_array(str(tmp_path / "X.zarr"), mode="w", shape=X.shape, chunks=(400, 6), dtype="f8")
    zy = zarr.open_array(str(tmp_path / "y.zarr"), mode="w", shape=Y.shape, chunks=(400, 2), dtype="f8")
    zx[...], zy[...] = X, Y
    Xz, Yz = da.from_zarr(str(tmp_path / "X.zarr")), da.from_zarr(str(tmp_path / "y.zarr"))
    net_np = qn.Network([6, 5, 2], activation="tanh", output_activation="identity", loss="mse", seed=3)
    net_z = net_np.copy()
    with qd.options(persist=False):  # every evaluation re-reads the zarr chunks on the workers
        fg = net_z.bind(Xz, Yz)
        assert fg._futures is None and fg.n_partitions == 8
        c, g = fg(net_z.params)
        c0, g0 = net_np.cost_grad(X, Y)
        assert abs(c - c0) <= 1e-12 * c0 and rel(g, g0) <= 1e-12
        r_z = qn.Trainer(net_z, method="L-BFGS-B", maxiter=12).train(Xz, Yz)
    r_np = qn.Trainer(net_np, method="L-BFGS-B", maxiter=12).train(X, Y)
    assert abs(r_z.fun - r_np.fun) <= 1e-8 * r_np.fun
    np.testing.assert_allclose(net_z.params, net_np.params, rtol=0, atol=1e-6)


# -- the estimators ------------------------------------------------------------------------------
# Three parts, each its own test so that pytest-xdist can run them on different workers.
@pytest.mark.parametrize("part", ["regressor", "classifier", "early-stopping-and-errors"])
def test_estimators_fit_and_predict_on_dask(client, part):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 4))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    w = rng.uniform(0.5, 1.5, 600)
    labels = np.where(X[:, 0] + X[:, 1] > 0, "a", np.where(X[:, 2] > 0, "b", "c"))
    Xd, yd, wd = da.from_array(X, chunks=(150, 2)), da.from_array(y, chunks=100), da.from_array(w, chunks=100)

    if part == "regressor":
        _estimators_regressor(X, y, w, Xd, yd, wd)
    elif part == "classifier":
        _estimators_classifier(X, labels, Xd)
    else:
        _estimators_early_stopping_and_errors(X, w, Xd, yd)


def _estimators_regressor(X, y, w, Xd, yd, wd):
    from quasinet.sklearn import QuasiNetRegressor

    kw = dict(hidden_layer_sizes=(5,), method="L-BFGS-B", random_state=0, max_iter=10, tol=1e-12)
    with pytest.warns(Warning, match="iteration limit"):
        a = QuasiNetRegressor(**kw).fit(X, y, w)
    with pytest.warns(Warning, match="iteration limit"):
        b = QuasiNetRegressor(**kw).fit(Xd, yd, wd)
    np.testing.assert_allclose(b.x_mean_, a.x_mean_, rtol=1e-12)
    np.testing.assert_allclose(b.x_scale_, a.x_scale_, rtol=1e-12)
    np.testing.assert_allclose(b.y_mean_, a.y_mean_, rtol=1e-12)
    assert b.n_features_in_ == 4 and b.n_iter_ == a.n_iter_
    assert abs(b.loss_ - a.loss_) <= 1e-6 * a.loss_
    pred = b.predict(Xd)
    assert isinstance(pred, da.Array) and pred.shape == (600,)
    np.testing.assert_allclose(pred.compute(), a.predict(X), atol=1e-5)
    np.testing.assert_allclose(pred.compute(), b.predict(X), rtol=1e-12, atol=1e-12)


def _estimators_classifier(X, labels, Xd):
    from sklearn.exceptions import ConvergenceWarning

    from quasinet.sklearn import QuasiNetClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ca = QuasiNetClassifier(hidden_layer_sizes=(5,), method="L-BFGS-B", random_state=0, max_iter=10).fit(X, labels)
        cb = QuasiNetClassifier(hidden_layer_sizes=(5,), method="L-BFGS-B", random_state=0, max_iter=10).fit(
            Xd, da.from_array(labels, chunks=150))
    assert list(cb.classes_) == ["a", "b", "c"] and cb.loss_function_ == "softmax_crossentropy"
    assert abs(cb.loss_ - ca.loss_) <= 1e-5 * ca.loss_
    assert list(cb.predict(Xd).compute()) == list(cb.predict(X))
    np.testing.assert_allclose(cb.predict_proba(Xd).compute(), ca.predict_proba(X), atol=1e-4)


def _estimators_early_stopping_and_errors(X, w, Xd, yd):
    from sklearn.exceptions import ConvergenceWarning

    from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

    # binary, with early stopping: the held-out rows get zero training weight on the same partitions
    seen = []
    es = QuasiNetClassifier(hidden_layer_sizes=(4,), random_state=1, early_stopping=True, n_iter_no_change=3,
                            max_iter=20, callback=lambda it, loss, val: seen.append((loss, val)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        es.fit(Xd, da.from_array(X[:, 0] > 0, chunks=200))
    assert list(es.classes_) == [False, True] and es.loss_function_ == "binary_crossentropy"
    assert es.validation_curve_ and es.best_validation_loss_ == min(es.validation_curve_)
    assert [v for _, v in seen] == es.validation_curve_
    assert (es.predict(X) == (X[:, 0] > 0)).mean() > 0.9

    with pytest.raises(ValueError, match=r"sample_weight must be finite and non-negative"):
        QuasiNetRegressor().fit(Xd, yd, da.from_array(-w, chunks=100))
    with pytest.raises(ValueError, match=r"y has 599 rows but X has 600"):
        QuasiNetRegressor().fit(Xd, yd[:599])
    with pytest.raises(ValueError, match=r"Unknown label type"):
        QuasiNetClassifier().fit(Xd, yd)
    with pytest.raises(ValueError, match=r"at least 2 classes"):
        QuasiNetClassifier().fit(Xd, da.zeros(600, chunks=100))


def _pair_fit(make, X, y, w=None, chunks=150):
    """The same estimator fitted on NumPy arrays and on dask arrays of the same rows (several partitions)."""
    Xd = da.from_array(X, chunks=(chunks, X.shape[1]))
    yd = da.from_array(y, chunks=chunks)
    wd = None if w is None else da.from_array(w, chunks=chunks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # iteration limits: the same on both sides
        return make().fit(X, y, w), make().fit(Xd, yd, wd)


def _close(a, b, tol):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert np.max(np.abs(a - b)) <= tol * max(1.0, np.max(np.abs(a))), np.max(np.abs(a - b))


# Three cases, each its own test so that pytest-xdist can run them on different workers.
@pytest.mark.parametrize("case", ["search-weighted", "one-width", "classifier", "committee"])
def test_one_road_numpy_and_dask_give_the_same_bayesian_model(client, case):
    """Bayesian regularisation, its model search and the posterior run on dask data by the same
    code as on NumPy (quasinet.fitting): same width, evidence, predictions and standard deviations."""
    from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (120, 2))
    y = np.tanh(X[:, 0]) + 0.3 * X[:, 1] + 0.1 * rng.standard_normal(120)
    w = rng.uniform(0.5, 2.0, 120)
    if case == "classifier":
        labels = np.where(X[:, 0] * X[:, 1] > 0, "same", "other")
        make = lambda: QuasiNetClassifier(hidden_layer_sizes=(2,), restarts=0, max_iter=3, random_state=0)  # noqa: E731
        a, b = _pair_fit(make, X, labels, chunks=40)
        assert b.method_ == "BR" and list(b.classes_) == list(a.classes_)
        _close(b.predict_proba(X), a.predict_proba(X), 1e-6)
        return
    if case == "committee":
        # Two starts of one width, weighted rows; members behind the best differ between the two
        # by what rounding decides in their three cycles (below), so: the same members, and
        # predictions to 1e-2.
        make = lambda: QuasiNetRegressor(hidden_layer_sizes=(2,), restarts=1, committee=2, max_iter=3,  # noqa: E731
                                         random_state=0)
        a, b = _pair_fit(make, X, y, w, chunks=40)
        assert len(a.members_) > 1
        assert [m.layer_sizes for m, _, _ in b.members_] == [m.layer_sizes for m, _, _ in a.members_]
        _close(b.predict(X), a.predict(X), 1e-2)
        return
    # Each evaluation is a round trip to the cluster, so the fits are kept short: three evidence
    # cycles, one start per model. With the weights, the whole search: the linear models, widths 1,
    # 2 and 4, where it stops (4's evidence is below 2's); without, one width (the search's
    # bookkeeping is the same code, and the weights only enter through the bound objective and
    # the number of targets).
    # One network (committee=1): the networks behind the best, stopped after three cycles far from
    # their optimum, differ between the two by a Levenberg-Marquardt step that rounding decides;
    # the default committee is compared below on its members' sizes and to 1e-2.
    weights, hidden = (w, "auto") if case == "search-weighted" else (None, (2,))
    make = lambda: QuasiNetRegressor(hidden_layer_sizes=hidden, restarts=0, max_iter=3, committee=1,  # noqa: E731
                                     random_state=0)
    a, b = _pair_fit(make, X, y, weights, chunks=40)
    assert b.method_ == a.method_ == "BR" and b.hidden_layer_sizes_ == a.hidden_layer_sizes_
    assert [c[:2] for c in b.evidence_candidates_] == [c[:2] for c in a.evidence_candidates_]
    assert abs(b.log_model_evidence_ - a.log_model_evidence_) <= 1e-6 * abs(a.log_model_evidence_)
    pa, sa = a.predict(X, return_std=True)
    pb, sb = b.predict(X, return_std=True)
    _close(pb, pa, 1e-6)
    _close(sb, sa, 1e-6)
    if weights is not None:  # the search really compared several models and stopped early
        assert [c[:2] for c in a.evidence_candidates_] == [((2,), True), ((4,), True), ((1,), True), ((), True),
                                                            ((), False)]


def test_one_road_numpy_and_dask_early_stopping_hold_out_the_same_rows(client):
    from quasinet.sklearn import QuasiNetRegressor

    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 3))
    y = np.tanh(X[:, 0]) + 0.5 * X[:, 2] + 0.05 * rng.standard_normal(300)
    make = lambda: QuasiNetRegressor(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.2,  # noqa: E731
                                     n_iter_no_change=5, max_iter=60, random_state=2)
    a, b = _pair_fit(make, X, y, chunks=100)
    assert a.method_ == b.method_ == "L-BFGS-B" and len(b.validation_curve_) == len(a.validation_curve_)
    _close(b.validation_curve_, a.validation_curve_, 1e-6)
    _close(b.predict(X), a.predict(X), 1e-6)


def test_numpy_paths_never_import_dask():
    """Without dask input nothing changes: quasinet, its Trainer and estimators do not import dask."""
    script = (
        "import sys, warnings, numpy as np, quasinet as qn\n"
        "from quasinet.sklearn import QuasiNetRegressor\n"
        "X = np.random.default_rng(0).random((40, 2)); y = X.sum(axis=1)\n"
        "net = qn.Network([2, 3, 1], output_activation='identity', seed=0)\n"
        "net.cost(X, y[:, None]); qn.Trainer(net, maxiter=3).train(X, y[:, None])\n"
        "warnings.simplefilter('ignore'); QuasiNetRegressor(max_iter=3).fit(X, y).predict(X)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed') or m == 'quasinet.dask'))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_rows_subset_after_a_split_picks_the_kept_rows():
    """A split keeps every row and gives the held-out ones weight 0: a subset of the training part
    must index the training rows (not the first rows of the whole array)."""
    X = da.from_array(np.arange(20.0).reshape(10, 2), chunks=4)
    y = da.from_array(np.arange(10.0), chunks=4)
    held_out = np.zeros(10, dtype=bool)
    held_out[:4] = True
    train, val = qd.DaskRows(X, y).split(held_out)
    assert (train.n_rows, val.n_rows) == (6, 4)
    sub = train.subset(np.array([0, 1, 5]))
    np.testing.assert_array_equal(sub.Y.compute(), [4.0, 5.0, 9.0])
    np.testing.assert_array_equal(sub.w.compute(), [1.0, 1.0, 1.0])
    assert sub.n_rows == 3 and val.subset(np.array([3])).Y.compute()[0] == 3.0
