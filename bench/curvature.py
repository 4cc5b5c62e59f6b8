"""Curvature benchmarks: training time to a common target, Gauss-Newton throughput, Hv cost.

    python bench/curvature.py [--json FILE] [--quick] [--parts fits gn hv]

fits  Time to target on four problems under 1,000 weights: Levenberg-Marquardt, BFGS,
      L-BFGS-B and trust-krylov (exact Hessian-vector products) through quasinet's Trainer from
      the same start, and scikit-learn's ``MLPRegressor(solver="lbfgs")`` on the same objective
      (alpha = l2 * N makes its loss equal quasinet's ``mse`` cost with that l2). The target
      of a start is the best final cost any of them reached from it, loosened by 1e-6 of the
      way down (J_best + 1e-6 (J_0 - J_best)); for each method: in how many starts it got
      there, and the median iterations and wall time until its cost first fell to the target
      (scikit-learn, which reports no per-iteration costs, is re-run with doubling max_iter
      until it gets there). Different methods end in different local minima from the same
      start, so also: iterations and time to converge to the method's own final cost.
gn    Gauss-Newton accumulation (cost, gradient and the (P, P) matrix in one pass, one thread)
      in GFLOP/s counting N k P^2 operations (the work of a dsyrk on the (N k, P) Jacobian),
      against NumPy's one-thread 2000^3 dgemm in the same run, and NumPy's own J.T @ J on
      1024 x P blocks of a Jacobian it is handed (no Jacobian formed, unlike the core).
hv    One exact Hessian-vector product and one Gauss-Newton-vector product as multiples of one
      cost+gradient evaluation (one thread, medians).

One thread everywhere (OpenBLAS pinned before NumPy loads; quasinet.set_num_threads(1)).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import quasinet as qn  # noqa: E402
from quasinet import datasets  # noqa: E402

METHODS = ("LM", "BFGS", "L-BFGS-B", "trust-krylov")


def median_time(fn, repeat=7, min_time=0.2):
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    for i in range(repeat * 50):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= repeat and time.perf_counter() > t_end:
            break
    return statistics.median(times)


# -- problems -------------------------------------------------------------------------------------
def _standardise(X, y):
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = np.asarray(y, float).reshape(len(X), -1)
    return X, (y - y.mean(axis=0)) / y.std(axis=0)


def problems():
    from sklearn.datasets import load_diabetes, make_friedman1

    out = []
    X, y = datasets.sleep_study()
    out.append(dict(name="notebook 2-3-1 sigmoid, sse", X=X, y=y, sizes=[2, 3, 1], activation="sigmoid",
                    output="sigmoid", loss="sse", bias=False, l2=0.0, sklearn=False))
    X, y = make_friedman1(n_samples=300, noise=1.0, random_state=0)
    X, y = _standardise(X, y)
    out.append(dict(name="Friedman #1 n=300, 10-8-1 tanh", X=X, y=y, sizes=[10, 8, 1], activation="tanh",
                    output="identity", loss="mse", bias=True, l2=1e-4, sklearn=True))
    d = load_diabetes()
    X, y = _standardise(d.data, d.target)
    out.append(dict(name="diabetes n=442, 10-16-1 tanh", X=X, y=y, sizes=[10, 16, 1], activation="tanh",
                    output="identity", loss="mse", bias=True, l2=1e-3, sklearn=True))
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(500, 2))
    y = np.sin(2 * X[:, 0]) * np.cos(1.5 * X[:, 1]) + 0.05 * rng.normal(size=500)
    X, y = _standardise(X, y)
    out.append(dict(name="sine surface n=500, 2-30-1 tanh", X=X, y=y, sizes=[2, 30, 1], activation="tanh",
                    output="identity", loss="mse", bias=True, l2=1e-5, sklearn=True))
    return out


def make_net(pb):
    return qn.Network(pb["sizes"], activation=pb["activation"], output_activation=pb["output"], bias=pb["bias"],
                      loss=pb["loss"], l2=pb["l2"], seed=pb.get("seed", 0))


def run_quasinet(pb, method, maxiter):
    net = make_net(pb)
    J0 = net.cost(pb["X"], pb["y"])
    stamps = []
    t0 = time.perf_counter()
    trainer = qn.Trainer(net, method=method, maxiter=maxiter, callback=lambda p: stamps.append(time.perf_counter()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = trainer.train(pb["X"], pb["y"])
    total = time.perf_counter() - t0
    return dict(J0=J0, curve=list(trainer.J), times=[s - t0 for s in stamps], final=float(res.fun), total=total,
                nit=int(res.nit), nfev=int(res.nfev))


def sklearn_fit(pb, max_iter):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    net = make_net(pb)
    N = len(pb["X"])
    est = MLPRegressor(hidden_layer_sizes=tuple(pb["sizes"][1:-1]), activation=pb["activation"], solver="lbfgs",
                       alpha=pb["l2"] * N, max_iter=max_iter, tol=0.0, random_state=0)
    # Start from quasinet's initial parameters, like the other methods.
    est._random_state = np.random.RandomState(0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_params(warm_start=True)
        est.coefs_ = [W.copy() for W in net.weights]
        est.intercepts_ = [b.copy() for b in net.biases]
        est.n_outputs_ = 1
        est.n_layers_ = len(pb["sizes"])
        est.out_activation_ = "identity"
        est.fit(pb["X"], pb["y"].ravel())
    elapsed = time.perf_counter() - t0
    flat = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(est.coefs_, est.intercepts_)])
    net.set_params(flat)
    return float(net.cost(pb["X"], pb["y"])), elapsed, int(est.n_iter_)


def sklearn_to_target(pb, target, limit):
    it = 5
    while True:
        cost, elapsed, nit = sklearn_fit(pb, it)
        if cost <= target or it >= limit:
            return dict(final=cost, reached=cost <= target, time=elapsed, nit=nit)
        it *= 2


def first_hit(curve, times, target):
    i = next((i for i, J in enumerate(curve) if J <= target), None)
    return (None, None) if i is None else (i + 1, times[i])


def bench_fits(quick):
    """Per problem and start (seed): every method to convergence from the same start; the target
    of that start is the best final cost any method reached (+ 1e-6 of the way down)."""
    rows = []
    maxiter = 400 if quick else 3000
    seeds = range(2 if quick else 5)
    names = METHODS + ("sklearn lbfgs",)
    for pb in problems():
        row = dict(problem=pb["name"], P=make_net(pb).n_params, starts=[])
        for seed in seeds:
            pb_seed = dict(pb, seed=seed)
            runs = {m: run_quasinet(pb_seed, m, maxiter) for m in METHODS}
            finals = {m: r["final"] for m, r in runs.items()}
            if pb["sklearn"]:
                finals["sklearn lbfgs"] = sklearn_fit(pb_seed, maxiter)[0]
            J0 = runs["LM"]["J0"]
            best = min(finals.values())
            target = best + 1e-6 * (J0 - best)
            start = dict(seed=seed, J0=J0, best=best, target=target, methods={})
            for m, r in runs.items():
                it, t = first_hit(r["curve"], r["times"], target)
                # Convergence speed whatever the minimum: time to within 1e-6 of the way to its own end.
                own = r["final"] + 1e-6 * (J0 - r["final"])
                it_own, t_own = first_hit(r["curve"], r["times"], own)
                start["methods"][m] = dict(final=r["final"], iterations=it, time=t, converge_iterations=it_own,
                                           converge_time=t_own, total_iterations=r["nit"], total_time=r["total"])
            if pb["sklearn"]:
                s_ = sklearn_to_target(pb_seed, target, maxiter)
                start["methods"]["sklearn lbfgs"] = dict(final=finals["sklearn lbfgs"],
                                                         iterations=s_["nit"] if s_["reached"] else None,
                                                         time=s_["time"] if s_["reached"] else None)
            row["starts"].append(start)
        print(f"\n{pb['name']} (P={row['P']}), {len(row['starts'])} starts; per method: starts that reached the "
              "best final cost of any method, median iterations and time to it; median iterations and time "
              "to converge to its own final cost; median final cost")
        summary = {}
        for m in names:
            recs = [st["methods"][m] for st in row["starts"] if m in st["methods"]]
            if not recs:
                continue
            hit = [r for r in recs if r["iterations"] is not None]
            med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
            summary[m] = dict(
                reached=len(hit), starts=len(recs),
                iterations=med([r["iterations"] for r in hit]), time=med([r["time"] for r in hit]),
                converge_iterations=med([r["converge_iterations"] for r in recs if r.get("converge_iterations")]),
                converge_time=med([r["converge_time"] for r in recs if r.get("converge_time")]),
                final=med([r["final"] for r in recs]),
            )
            sm = summary[m]
            fmt = lambda v, f: "-" if v is None else f.format(v)  # noqa: E731
            print(f"  {m:14s} reached {sm['reached']}/{sm['starts']}  it {fmt(sm['iterations'], '{:.0f}'):>5}  "
                  f"time {fmt(sm['time'] and sm['time'] * 1e3, '{:.1f} ms'):>10}  | converge it "
                  f"{fmt(sm['converge_iterations'], '{:.0f}'):>5} time "
                  f"{fmt(sm['converge_time'] and sm['converge_time'] * 1e3, '{:.1f} ms'):>10}  | final {sm['final']:.6g}")
        row["summary"] = summary
        # LM against BFGS on the starts where both reached the common target.
        both = [st for st in row["starts"] if st["methods"]["LM"]["iterations"] and st["methods"]["BFGS"]["iterations"]]
        if both:
            row["lm_vs_bfgs"] = dict(
                starts=len(both),
                iterations=statistics.median(st["methods"]["LM"]["iterations"] / st["methods"]["BFGS"]["iterations"]
                                             for st in both),
                time=statistics.median(st["methods"]["LM"]["time"] / st["methods"]["BFGS"]["time"] for st in both))
            r = row["lm_vs_bfgs"]
            print(f"  LM / BFGS to the common target ({r['starts']} starts): iterations {r['iterations']:.3f}, "
                  f"time {r['time']:.3f}")
        conv = [st for st in row["starts"] if st["methods"]["LM"]["converge_iterations"]
                and st["methods"]["BFGS"]["converge_iterations"]]
        if conv:
            row["lm_vs_bfgs_converge"] = dict(
                iterations=statistics.median(st["methods"]["LM"]["converge_iterations"]
                                             / st["methods"]["BFGS"]["converge_iterations"] for st in conv),
                time=statistics.median(st["methods"]["LM"]["converge_time"] / st["methods"]["BFGS"]["converge_time"]
                                       for st in conv))
            r = row["lm_vs_bfgs_converge"]
            print(f"  LM / BFGS to converge: iterations {r['iterations']:.3f}, time {r['time']:.3f}")
        rows.append(row)
    return rows


def dgemm_ceiling():
    A = np.random.default_rng(0).normal(size=(2000, 2000))
    return 2 * 2000**3 / median_time(lambda: A @ A, repeat=5) / 1e9


def bench_gn(quick):
    rows = []
    N = 20_000 if quick else 100_000
    for sizes in ([20, 16, 1], [30, 30, 1], [12, 24, 4]):
        rng = np.random.default_rng(0)
        net = qn.Network(sizes, activation="tanh", output_activation="identity", loss="mse", seed=0)
        P, k = net.n_params, sizes[-1]
        X, Y = rng.normal(size=(N, sizes[0])), rng.normal(size=(N, k))
        fg = net.bind(X, Y)
        p = net.get_params()
        t = median_time(lambda: fg.gauss_newton(p), repeat=3)
        J = rng.normal(size=(1024, P))
        t_np = median_time(lambda: J.T @ J, repeat=7)
        row = dict(sizes=sizes, N=N, P=P, k=k, seconds=t, gflops=N * k * P * P / t / 1e9,
                   numpy_JtJ_gflops=1024 * P * P / t_np / 1e9)
        rows.append(row)
        print(f"GN {'-'.join(map(str, sizes))} x {N} (P={P}, k={k}): {t * 1e3:.1f} ms, {row['gflops']:.1f} GFLOP/s; "
              f"NumPy J.T @ J on 1024 x {P}: {row['numpy_JtJ_gflops']:.1f} GFLOP/s")
    return rows


def bench_hv(quick):
    rows = []
    for sizes, N in (([8, 16, 1], 200), ([64, 128, 128, 10], 2000 if quick else 10_000), ([20, 16, 1], 100_000)):
        rng = np.random.default_rng(0)
        net = qn.Network(sizes, activation="tanh", output_activation="identity", loss="mse", seed=0)
        X, Y = rng.normal(size=(N, sizes[0])), rng.normal(size=(N, sizes[-1]))
        fg = net.bind(X, Y)
        p, v = net.get_params(), rng.normal(size=net.n_params)
        cg = median_time(lambda: fg(p))
        hv = median_time(lambda: fg.hessp(p, v))
        gv = median_time(lambda: fg.hessp(p, v, "gauss-newton"))
        rows.append(dict(sizes=sizes, N=N, cost_grad=cg, hv=hv, gnv=gv, hv_ratio=hv / cg, gnv_ratio=gv / cg))
        print(f"Hv {'-'.join(map(str, sizes))} x {N}: cost+grad {cg * 1e3:.3f} ms; Hv {hv / cg:.2f}x, "
              f"GN-v {gv / cg:.2f}x")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", nargs="+", default=["fits", "gn", "hv"], choices=["fits", "gn", "hv"])
    args = ap.parse_args()
    qn.set_num_threads(1)
    out = dict(machine=platform.processor() or platform.machine(), python=platform.python_version(),
               numpy=np.__version__, load_average=os.getloadavg()[0])
    print(f"load average at start: {out['load_average']:.2f}")
    out["dgemm_gflops"] = dgemm_ceiling()
    print(f"NumPy one-thread dgemm 2000^3: {out['dgemm_gflops']:.1f} GFLOP/s")
    if "fits" in args.parts:
        out["fits"] = bench_fits(args.quick)
    if "gn" in args.parts:
        out["gn"] = bench_gn(args.quick)
        for r in out["gn"]:
            r["share_of_dgemm"] = r["gflops"] / out["dgemm_gflops"]
            print(f"  {'-'.join(map(str, r['sizes']))}: {100 * r['share_of_dgemm']:.0f}% of dgemm")
    if "hv" in args.parts:
        out["hv"] = bench_hv(args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
