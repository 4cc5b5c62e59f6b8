"""Peer benchmark: one cost+gradient evaluation of the same network in quasinet and its peers.

    python bench/peers.py [--json FILE] [--sizes tiny small medium large] [--quick]
                          [--no-fit] [--no-two-threads] [--dtypes float64 float32]

The network at every size: tanh hidden layers, identity output, loss ``mse``
(J = sum_i |y_i - yhat_i|^2 / (2N), no penalty). Every peer computes the same cost and gradient
at the same parameter vector; the benchmark asserts that they agree with quasinet to 1e-10
(relative, tensor by tensor) before it times anything.

Peers: a plain-NumPy implementation written here; scikit-learn's ``MLPRegressor._loss_grad_lbfgs``
(the function its ``_fit_lbfgs`` hands to L-BFGS, with its state set up the same way);
PyTorch float64 CPU forward+backward and JAX ``jit(value_and_grad)`` float64 when they are
installed. NumPy's dgemm on large square matrices gives the machine's practical ceiling.

float32 rows (``--dtypes``, both by default): quasinet's float32 path (``Network(dtype="float32")``)
against the NumPy implementation, PyTorch and JAX all in float32, each checked against
quasinet's float64 cost and gradient to 1e-4 (the float32 accuracy target) before timing; the
ceiling for those rows is NumPy's sgemm. The L-BFGS-B fit is run from the same start with a
float32 network too, and its final cost compared with the float64 fit's.

All timings except the two-thread row use one thread: OpenBLAS, MKL, PyTorch and XLA are all
limited to one thread before they are imported. Reported figures are medians over repeats.

scikit-learn's squared_error loss averages over samples *and* outputs,
0.5 * mean_k(mean_i e_ik^2), while its gradient is that of 0.5 * mean_i sum_k e_ik^2 (the
same as quasinet's mse); the check therefore compares K * sklearn_cost with quasinet's cost.
"""

from __future__ import annotations

import os

# One thread everywhere, set before NumPy, PyTorch or JAX load their thread pools.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# And one core: JAX's CPU runtime keeps helper threads that its flags do not always limit.
# Pinning the main thread before any library starts a thread confines every thread started
# later to the same core; the two-thread row widens the set again (quasinet starts its
# workers only then, so they inherit it). QUASINET_BENCH_NO_PIN=1 turns this off.
ALL_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
PINNED = bool(ALL_CPUS) and not os.environ.get("QUASINET_BENCH_NO_PIN")
if PINNED:
    os.sched_setaffinity(0, {ALL_CPUS[-1]})
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

import quasinet as qn  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

SIZES = {
    "tiny": ([2, 3, 1], 3),
    "small": ([8, 16, 1], 200),
    "medium": ([64, 128, 128, 10], 10_000),
    "large": ([784, 256, 128, 10], 60_000),
}
HIDDEN, OUTPUT, LOSS = "tanh", "identity", "mse"
AGREE = 1e-10
AGREE32 = 1e-4  # float32 peers against quasinet's float64 result


def dense_flops(sizes, N):
    """Flops of the dense products of one cost+gradient: forward N*sum(2 n_in n_out); backward
    the weight-gradient products (same count) and the input-delta products of every layer but
    the first."""
    prods = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    fwd = 2 * N * sum(prods)
    bwd = 2 * N * sum(prods) + 2 * N * sum(prods[1:])
    return fwd + bwd


# -- data and parameters ----------------------------------------------------------------------
def problem(sizes, N, seed=0):
    rng = np.random.default_rng(seed)
    net = qn.Network(sizes, activation=HIDDEN, output_activation=OUTPUT, loss=LOSS, seed=rng)
    for b in net.biases:
        b[...] = rng.normal(scale=0.1, size=b.shape)
    X = rng.normal(size=(N, sizes[0]))
    # Targets from a random teacher network of the same shape, plus noise.
    teacher = qn.Network(sizes, activation=HIDDEN, output_activation=OUTPUT, loss=LOSS, seed=rng)
    Y = teacher.forward(X) + 0.1 * rng.normal(size=(N, sizes[-1]))
    return net, np.ascontiguousarray(X), np.ascontiguousarray(Y)


def unpack(net, p):
    """Views W_l (n_in, n_out), b_l (n_out) of a flat vector in quasinet's layout."""
    Ws, bs = [], []
    for w_off, n_in, n_out, b_off in net.layout:
        Ws.append(p[w_off : w_off + n_in * n_out].reshape(n_in, n_out))
        bs.append(p[b_off : b_off + n_out])
    return Ws, bs


# -- peers: each make_* returns fg(p) -> (cost, grad in quasinet's layout) and a timed call ----
def make_quasinet(net, X, Y, dtype="float64"):
    if dtype != net.dtype:
        other = qn.Network(**{**net.spec(), "dtype": dtype})
        other.params[...] = net.params
        net = other
    fg = net.bind(X, Y)
    return fg, fg


def make_numpy(net, X, Y, dtype="float64"):
    """A plain NumPy implementation: the layer loop a careful user would write."""
    N = X.shape[0]
    L = len(net.layout)
    X, Y = X.astype(dtype), Y.astype(dtype)

    def fg(p):
        p = p.astype(dtype, copy=False)
        Ws, bs = unpack(net, p)
        acts = [X]
        for l in range(L):
            z = acts[-1] @ Ws[l]
            z += bs[l]
            acts.append(np.tanh(z, out=z) if l < L - 1 else z)
        err = acts[-1] - Y
        J = 0.5 * np.einsum("ij,ij->", err, err) / N
        g = np.empty_like(p)
        gW, gb = unpack(net, g)
        delta = err / N
        for l in range(L - 1, -1, -1):
            np.dot(acts[l].T, delta, out=gW[l])
            np.sum(delta, axis=0, out=gb[l])
            if l:
                delta = delta @ Ws[l].T
                a = acts[l]
                delta *= 1.0 - a * a
        return float(J), g.astype(np.float64, copy=False)

    return fg, fg


def make_sklearn(net, X, Y):
    from sklearn.neural_network import MLPRegressor

    sizes = list(net.layer_sizes)
    K = sizes[-1]
    mlp = MLPRegressor(hidden_layer_sizes=tuple(sizes[1:-1]), activation=HIDDEN, solver="lbfgs", alpha=0.0)
    # The state MLPRegressor._fit builds before it calls _fit_lbfgs.
    layer_units = sizes
    mlp._random_state = np.random.RandomState(0)
    mlp._initialize(Y, layer_units, X.dtype)
    activations = [X] + [None] * (len(layer_units) - 1)
    deltas = [None] * (len(activations) - 1)
    coef_grads = [np.empty((a, b), dtype=X.dtype) for a, b in zip(layer_units[:-1], layer_units[1:])]
    intercept_grads = [np.empty(b, dtype=X.dtype) for b in layer_units[1:]]
    # _fit_lbfgs's index bookkeeping: every W first, then every b.
    mlp._coef_indptr, mlp._intercept_indptr, start = [], [], 0
    for a, b in zip(layer_units[:-1], layer_units[1:]):
        mlp._coef_indptr.append((start, start + a * b, (a, b)))
        start += a * b
    for b in layer_units[1:]:
        mlp._intercept_indptr.append((start, start + b))
        start += b
    # Permutation from quasinet's layout (W0 b0 W1 b1 ...) to scikit-learn's (W0 W1 ... b0 b1 ...).
    idx = []
    for w_off, n_in, n_out, _ in net.layout:
        idx.extend(range(w_off, w_off + n_in * n_out))
    for _, _, n_out, b_off in net.layout:
        idx.extend(range(b_off, b_off + n_out))
    perm = np.array(idx)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    args = (X, Y, None, activations, deltas, coef_grads, intercept_grads)

    def timed(q):  # q in scikit-learn's layout: exactly what L-BFGS hands it
        return mlp._loss_grad_lbfgs(q, *args)

    def fg(p):
        J, g = timed(p[perm])
        return K * J, g[inv]

    return fg, timed, perm, mlp


def make_torch(net, X, Y, dtype="float64"):
    import torch

    torch.set_num_threads(1)
    L = len(net.layout)
    Xt, Yt = torch.from_numpy(X.astype(dtype)), torch.from_numpy(Y.astype(dtype))
    N = X.shape[0]

    def tensors(p):
        Ws, bs = unpack(net, p.astype(dtype))
        return [torch.tensor(W, requires_grad=True) for W in Ws], [torch.tensor(b, requires_grad=True) for b in bs]

    def run(Ws, bs):
        a = Xt
        for l in range(L):
            z = torch.addmm(bs[l], a, Ws[l])
            a = torch.tanh(z) if l < L - 1 else z
        J = 0.5 * ((a - Yt) ** 2).sum() / N
        grads = torch.autograd.grad(J, Ws + bs)
        return J, grads

    def fg(p):
        Ws, bs = tensors(p)
        J, grads = run(Ws, bs)
        J = J.detach()
        g = np.empty_like(p)
        gW, gb = unpack(net, g)
        for l in range(L):
            gW[l][...] = grads[l].numpy()
            gb[l][...] = grads[L + l].numpy()
        return float(J), g

    state = {}

    def timed(p):  # leaf tensors made once outside the timing; forward + backward inside
        if "t" not in state:
            state["t"] = tensors(p)
        return run(*state["t"])

    return fg, timed


def make_jax(net, X, Y, dtype="float64"):
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 available; float32 arrays stay float32
    import jax.numpy as jnp

    layout = list(net.layout)
    L = len(layout)
    Xj, Yj = jnp.asarray(X, dtype=dtype), jnp.asarray(Y, dtype=dtype)
    N = X.shape[0]

    def cost(p):
        a = Xj
        for l, (w_off, n_in, n_out, b_off) in enumerate(layout):
            W = p[w_off : w_off + n_in * n_out].reshape(n_in, n_out)
            z = a @ W + p[b_off : b_off + n_out]
            a = jnp.tanh(z) if l < L - 1 else z
        e = a - Yj
        return 0.5 * jnp.sum(e * e) / N

    vg = jax.jit(jax.value_and_grad(cost))

    def fg(p):
        J, g = vg(jnp.asarray(p, dtype=dtype))
        return float(J), np.asarray(g, dtype=np.float64)

    state = {}

    def timed(p):
        if "p" not in state:
            state["p"] = jnp.asarray(p, dtype=dtype)
        J, g = vg(state["p"])
        g.block_until_ready()
        return J, g

    return fg, timed


# -- timing -------------------------------------------------------------------------------------
# "wall": time.perf_counter. "cpu": time.process_time, the CPU time of this process, which on a
# shared machine leaves out the time other processes hold the core; it equals wall time for a
# one-thread call on an idle core. Two-thread figures always use wall time.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def median_time(fn, arg, budget, min_reps=5, max_reps=100_000, timer=None):
    """Median seconds per call. Calls are batched so that one timed batch lasts >= ~2 ms."""
    now = timer or clock
    fn(arg)  # warm-up (allocations, JIT, pools)
    t0 = now()
    fn(arg)
    one = max(now() - t0, 1e-7)
    inner = max(1, int(2e-3 / one))
    reps = int(min(max_reps, max(min_reps, budget / (one * inner))))
    samples = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(reps):
            t0 = now()
            for _ in range(inner):
                fn(arg)
            samples.append((now() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(samples)


def check_agree(name, net, J, g, J0, g0, AGREE=AGREE):
    if not abs(J - J0) <= AGREE * abs(J0):
        raise AssertionError(f"{name}: cost {J!r} differs from quasinet's {J0!r}")
    for l, (W, W0) in enumerate(zip(*[unpack(net, v)[0] for v in (g, g0)])):
        err, scale = np.max(np.abs(W - W0)), np.max(np.abs(W0))
        if not err <= AGREE * scale:
            raise AssertionError(f"{name}: dJ/dW{l} differs from quasinet's by {err:.3e} (scale {scale:.3e})")
    for l, (b, b0) in enumerate(zip(*[unpack(net, v)[1] for v in (g, g0)])):
        err, scale = np.max(np.abs(b - b0)), np.max(np.abs(b0))
        if not err <= AGREE * scale:
            raise AssertionError(f"{name}: dJ/db{l} differs from quasinet's by {err:.3e} (scale {scale:.3e})")


def empty_pybind_call_time(budget):
    """A pybind11 call that does no work (returns a constant bool), for reference."""
    f = qn._core.has_blas
    return median_time(lambda _: f(), None, budget)


def dgemm_ceiling(n, budget, dtype="float64"):
    """GFLOP/s of NumPy's square matrix product in this dtype (dgemm, or sgemm for float32)."""
    A = np.random.default_rng(0).normal(size=(n, n)).astype(dtype)
    B = np.random.default_rng(1).normal(size=(n, n)).astype(dtype)
    C = np.empty((n, n), dtype=dtype)
    t = median_time(lambda _: np.dot(A, B, out=C), None, budget, min_reps=5)
    return 2.0 * n**3 / t / 1e9


def lbfgs_fit(sizes, N, maxiter, seed=1):
    """A whole L-BFGS-B fit of maxiter iterations: quasinet (bind + scipy) vs MLPRegressor."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    net, X, Y = problem(sizes, N, seed=seed)
    fg = net.bind(X, Y)
    opts = {"maxiter": maxiter, "maxfun": 10 * maxiter, "gtol": 0.0, "ftol": 0.0}
    t0 = time.perf_counter()
    res = scipy.optimize.minimize(fg, net.get_params(), jac=True, method="L-BFGS-B", options=opts)
    t_qn = time.perf_counter() - t0
    fg32 = make_quasinet(net, X, Y, "float32")[0]
    t0 = time.perf_counter()
    res32 = scipy.optimize.minimize(fg32, net.get_params(), jac=True, method="L-BFGS-B", options=opts)
    t_qn32 = time.perf_counter() - t0
    mlp = MLPRegressor(hidden_layer_sizes=tuple(sizes[1:-1]), activation=HIDDEN, solver="lbfgs", alpha=0.0,
                       max_iter=maxiter, max_fun=10 * maxiter, tol=0.0, random_state=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, Y)
    t_sk = time.perf_counter() - t0
    return {
        "quasinet_s": t_qn, "quasinet_iters": int(res.nit), "quasinet_fev": int(res.nfev),
        "quasinet_final_cost": float(res.fun),
        "quasinet_float32_s": t_qn32, "quasinet_float32_iters": int(res32.nit),
        # The float32 run's end point, costed in float64 (its own cost carries float32 rounding).
        "quasinet_float32_final_cost": float(fg.cost(res32.x)),
        "sklearn_s": t_sk, "sklearn_iters": int(mlp.n_iter_),
        # scikit-learn's loss_ averages over outputs too; times K it is quasinet's mse.
        "sklearn_final_cost": float(mlp.loss_) * sizes[-1],
        "speedup": t_sk / t_qn,
    }


# -- main ---------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    ap.add_argument("--quick", action="store_true", help="short time budgets (a smoke run, noisier)")
    ap.add_argument("--no-fit", action="store_true", help="skip the 200-iteration L-BFGS-B fit")
    ap.add_argument("--no-two-threads", action="store_true", help="skip the two-thread row")
    ap.add_argument("--dtypes", nargs="+", choices=["float64", "float32"], default=["float64", "float32"],
                    help="precisions to time (default both; float32 peers: quasinet, NumPy, PyTorch, JAX)")
    ap.add_argument("--fit-size", choices=list(SIZES), default="medium")
    ap.add_argument("--fit-iters", type=int, default=200)
    ap.add_argument("--clock", choices=list(CLOCKS), default="wall",
                    help="one-thread timings by wall time (default) or by this process's CPU time")
    args = ap.parse_args(argv)
    budget = 0.3 if args.quick else 2.0
    global clock
    clock = CLOCKS[args.clock]

    limits = threadpool_limits(1) if threadpool_limits else None
    qn.set_num_threads(1)
    peers_available = {}
    for mod in ("torch", "jax"):
        try:
            __import__(mod)
            peers_available[mod] = True
        except ImportError:
            peers_available[mod] = False

    info = {
        "python": sys.version.split()[0], "numpy": np.__version__, "quasinet": qn.__version__,
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "network": f"{HIDDEN} hidden, {OUTPUT} output, {LOSS} loss",
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "clock": args.clock,
        "loadavg_at_start": os.getloadavg(), "pinned_to_one_core": PINNED,
    }
    print(f"# quasinet peers: {info['network']}; one thread; medians by {args.clock} clock; "
          f"ratio = peer time / quasinet time; load average at start {os.getloadavg()[0]:.2f}")
    ceiling = dgemm_ceiling(2000 if not args.quick else 1000, budget)
    empty = empty_pybind_call_time(budget)
    print(f"# NumPy dgemm ceiling (1 thread, square): {ceiling:.1f} GFLOP/s; empty pybind11 call: {empty * 1e6:.3f} us")

    ceiling32 = dgemm_ceiling(2000 if not args.quick else 1000, budget, "float32") if "float32" in args.dtypes else None
    if ceiling32:
        print(f"# NumPy sgemm ceiling (1 thread, square, for the float32 rows): {ceiling32:.1f} GFLOP/s")

    rows = []
    for size in args.sizes:
        sizes, N = SIZES[size]
        net, X, Y = problem(sizes, N)
        p = net.get_params()
        flops = dense_flops(sizes, N)
        J0, g0 = make_quasinet(net, X, Y)[0](p)
        assert abs(net.cost(X, Y) - J0) <= AGREE * abs(J0)
        for dtype in args.dtypes:
            peers = {"quasinet": make_quasinet(net, X, Y, dtype), "numpy": make_numpy(net, X, Y, dtype)}
            sk_arg = None
            if dtype == "float64":  # scikit-learn's L-BFGS loss function is a float64 peer only
                sk = make_sklearn(net, X, Y)
                peers["sklearn"] = (sk[0], sk[1])
                sk_arg = p[sk[2]]
            if peers_available["torch"]:
                peers["torch"] = make_torch(net, X, Y, dtype)
            if peers_available["jax"]:
                peers["jax"] = make_jax(net, X, Y, dtype)
            # Agreement first: every peer's cost and gradient against quasinet's float64 ones.
            for name, (fg, _) in peers.items():
                J, g = fg(p)
                check_agree(f"{name} {dtype}", net, J, g, J0, g0, AGREE if dtype == "float64" else AGREE32)
            result = {"size": size, "dtype": dtype, "sizes": sizes, "N": N, "flops": flops, "cost": J0, "times": {}}
            for name, (_, timed) in peers.items():
                arg = sk_arg if name == "sklearn" else p
                result["times"][name] = median_time(timed, arg, budget)
            t_q = result["times"]["quasinet"]
            result["ratios"] = {k: v / t_q for k, v in result["times"].items()}
            result["gflops"] = {k: flops / v / 1e9 for k, v in result["times"].items()}
            result["fraction_of_ceiling"] = result["gflops"]["quasinet"] / (ceiling if dtype == "float64" else ceiling32)
            twin = [r for r in rows if r["size"] == size and r["dtype"] == "float64"]
            if dtype == "float32" and twin:
                result["speedup_over_float64"] = twin[0]["times"]["quasinet"] / t_q
            if size == "large" and dtype == "float64" and not args.no_two_threads:
                if PINNED:
                    os.sched_setaffinity(0, set(ALL_CPUS[-2:]))
                qn.set_num_threads(2)
                try:
                    t2 = median_time(peers["quasinet"][1], p, budget, timer=time.perf_counter)
                    # The one-thread time again by wall clock, right before, for the speedup.
                    qn.set_num_threads(1)
                    t1 = median_time(peers["quasinet"][1], p, budget, timer=time.perf_counter)
                finally:
                    qn.set_num_threads(1)
                    if PINNED:
                        os.sched_setaffinity(0, {ALL_CPUS[-1]})
                result["quasinet_1_thread_wall"] = t1
                result["quasinet_2_threads"] = t2
                result["two_thread_speedup"] = t1 / t2
            rows.append(result)
            print_row(result)

    fit = None
    if not args.no_fit:
        sizes, N = SIZES[args.fit_size]
        fit = lbfgs_fit(sizes, N, args.fit_iters)
        fit["size"] = args.fit_size
        print(
            f"# L-BFGS-B fit, {args.fit_size} {'-'.join(map(str, sizes))} x {N}, {args.fit_iters} iterations: "
            f"quasinet {fit['quasinet_s']:.2f} s ({fit['quasinet_iters']} it, {fit['quasinet_fev']} evals, "
            f"final mse {fit['quasinet_final_cost']:.5g}); MLPRegressor {fit['sklearn_s']:.2f} s "
            f"({fit['sklearn_iters']} it, final mse {fit['sklearn_final_cost']:.5g}); ratio {fit['speedup']:.2f}x"
        )
        print(
            f"# the same fit in float32: {fit['quasinet_float32_s']:.2f} s ({fit['quasinet_float32_iters']} it), "
            f"final mse {fit['quasinet_float32_final_cost']:.5g} (costed in float64), "
            f"{100 * (fit['quasinet_float32_final_cost'] / fit['quasinet_final_cost'] - 1):+.2f}% of the float64 fit's; "
            f"{fit['quasinet_s'] / fit['quasinet_float32_s']:.2f}x faster"
        )
    if limits is not None:
        limits.unregister() if hasattr(limits, "unregister") else None
    out = {"info": info, "dgemm_ceiling_gflops": ceiling, "sgemm_ceiling_gflops": ceiling32,
           "empty_pybind_call_s": empty, "rows": rows, "fit": fit}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


def fmt_time(t):
    if t < 1e-3:
        return f"{t * 1e6:.2f} us"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.3f} s"


_header_done = False


def print_row(r):
    global _header_done
    if not _header_done:
        print(f"{'size':<7} {'peer':<9} {'median':>11} {'ratio':>7} {'GFLOP/s':>8}")
        _header_done = True
    label = f"{r['size']}" + ("" if r["dtype"] == "float64" else "/32")
    for name, t in r["times"].items():
        print(f"{label:<7} {name:<9} {fmt_time(t):>11} {r['ratios'][name]:>6.2f}x {r['gflops'][name]:>8.2f}")
        label = ""
    gemm = "dgemm" if r["dtype"] == "float64" else "sgemm"
    print(f"{'':<7} quasinet {r['dtype']} at {100 * r['fraction_of_ceiling']:.0f}% of the {gemm} ceiling"
          f" ({'-'.join(map(str, r['sizes']))} x {r['N']}, {r['flops'] / 1e6:.4g} MFLOP per call)")
    if "speedup_over_float64" in r:
        print(f"{'':<7} quasinet float32 {r['speedup_over_float64']:.2f}x faster than quasinet float64 (same run)")
    if "quasinet_2_threads" in r:
        print(f"{'':<7} quasinet 2 threads {fmt_time(r['quasinet_2_threads'])} vs 1 thread "
              f"{fmt_time(r['quasinet_1_thread_wall'])} (wall clock): {r['two_thread_speedup']:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
