"""quasinet on Dask: per-evaluation overhead, throughput against the single-process core, out of core.

    python bench/dask_scaling.py [--rows 10000000] [--zarr-rows 2000000] [--repeats 7]
                                 [--parts overhead throughput zarr] [--json FILE]

All on one ``distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` and in
one run, so the ratios compare like with like:

1. overhead: one cost+gradient (``fg(params)``) of a 6-8-1 network on 8 partitions of 1,000
   rows, median of 50 calls, against the single-process core on the same 8,000 rows and against
   a bare round trip (two no-op tasks submitted and gathered);
2. throughput: cost+gradient of a 16-64-1 network (1,153 parameters) on ``--rows`` rows
   generated on the workers (16 partitions), against the single-process core on a NumPy array
   of the same shape with 1 and 2 threads (the cluster has 2 workers of 1 thread each);
3. out of core: the same network on a zarr array of ``--zarr-rows`` rows on local disk, re-read
   from disk at every evaluation (``persist=False``) and held in the workers' memory
   (``persist=True``).

Times are medians of ``--repeats`` evaluations (50 for the overhead), the contenders taking
turns evaluation by evaluation. The machine's load is printed with them: on shared cores only
same-run ratios mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def median_times(fns: dict, repeats: int) -> dict:
    """Median seconds of each callable, the callables taking turns (so a busy spell of the
    shared machine hits them all alike instead of whichever happened to run then)."""
    for fn in fns.values():
        fn()  # warm-up
    ts: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            ts[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in ts.items()}


def _noop(x):
    return x


def overhead(client, out):
    """1. One cost+gradient of a tiny problem: what the cluster adds to each evaluation."""
    import dask.array as da

    import quasinet as qn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((8000, 6))
    Y = np.tanh(X[:, :1])
    net = qn.Network([6, 8, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    p = net.get_params()
    fg = net.bind(da.from_array(X, chunks=(1000, 6)), da.from_array(Y, chunks=(1000, 1)))
    qn.set_num_threads(1)
    local = net.bind(X, Y)
    t = median_times({"dask": lambda: fg(p), "core": lambda: local(p),
                      "trip": lambda: client.gather([client.submit(_noop, i, pure=False) for i in range(2)])}, 50)
    t_dask, t_core, t_trip = t["dask"], t["core"], t["trip"]
    qn.set_num_threads(0)
    fg.close()
    out["overhead"] = {"dask_ms": t_dask * 1e3, "core_ms": t_core * 1e3, "round_trip_ms": t_trip * 1e3,
                       "partitions": 8, "rows": 8000, "n_params": net.n_params}
    print("\n## 1. per-evaluation overhead: 6-8-1 (65 parameters), 8 partitions x 1,000 rows, median of 50")
    print(f"dask cost+gradient        {t_dask * 1e3:8.2f} ms   (target <= 20 ms)")
    print(f"bare round trip (2 tasks) {t_trip * 1e3:8.2f} ms")
    print(f"single-process core       {t_core * 1e3:8.3f} ms")


def throughput(args, net, n_in, out):
    """2. The largest problem: rows generated on the workers against the same shape in one process."""
    import dask.array as da

    import quasinet as qn

    N = args.rows
    p = net.get_params()
    Xd = da.random.default_rng(1).standard_normal((N, n_in), chunks=(-(-N // 16), n_in))
    Yd = da.tanh(Xd[:, :1] * Xd[:, 1:2])
    t0 = time.perf_counter()
    fg = net.bind(Xd, Yd)
    t_bind = time.perf_counter() - t0
    c_cluster, _ = fg(p)
    # the same shape in this process (other random numbers: the time does not depend on them)
    Xn = np.empty((N, n_in))
    np.random.default_rng(1).standard_normal(out=Xn)
    Yn = np.tanh(Xn[:, :1] * Xn[:, 1:2])
    local = net.bind(Xn, Yn)

    def single(threads):
        def run():
            qn.set_num_threads(threads)
            local(p)
        return run

    row = median_times({"cluster (2 workers x 1 thread)": lambda: fg(p), "single process, 1 thread": single(1),
                        "single process, 2 threads": single(2)}, args.repeats)
    qn.set_num_threads(0)
    fg.close()
    out["throughput"] = {"network": "16-64-1", "n_params": net.n_params, "rows": N, "partitions": 16,
                         "bind_s": t_bind, "seconds": row, "cost_cluster": c_cluster}
    print(f"\n## 2. throughput: 16-64-1 ({net.n_params} parameters), {N:,} rows x {n_in} "
          f"({N * n_in * 8 / 1e9:.2f} GB), median of {args.repeats}")
    print(f"bind (generate on the workers, prepare, validate): {t_bind:.2f} s")
    print(f"{'':32} {'s/eval':>8} {'Mrows/s':>8} {'vs 1 thread':>11}")
    base = row["single process, 1 thread"]
    for name, t in row.items():
        print(f"{name:32} {t:8.3f} {N / t / 1e6:8.2f} {base / t:10.2f}x")


def out_of_core(args, net, n_in, out):
    """3. A zarr array on local disk, re-read at every evaluation or held in the workers' memory."""
    import dask.array as da
    import zarr

    from quasinet import dask as qd

    Nz = args.zarr_rows
    p = net.get_params()
    tmp = tempfile.mkdtemp(prefix="quasinet-zarr-")
    try:
        Xz = da.random.default_rng(2).standard_normal((Nz, n_in), chunks=(-(-Nz // 16), n_in))
        da.to_zarr(Xz, os.path.join(tmp, "X.zarr"))
        da.to_zarr(da.tanh(Xz[:, :1] * Xz[:, 1:2]), os.path.join(tmp, "y.zarr"))
        Xz, Yz = da.from_zarr(os.path.join(tmp, "X.zarr")), da.from_zarr(os.path.join(tmp, "y.zarr"))
        disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
        fgs = {persist: qd.bind(net, Xz, Yz, persist=persist) for persist in (False, True)}
        res = median_times({persist: (lambda fg=fg: fg(p)) for persist, fg in fgs.items()}, args.repeats)
        for fg in fgs.values():
            fg.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["out_of_core"] = {"rows": Nz, "bytes_on_disk": disk, "zarr": zarr.__version__,
                          "reread_s": res[False], "persisted_s": res[True]}
    print(f"\n## 3. out of core: zarr on local disk, {Nz:,} rows x {n_in} ({disk / 1e6:.0f} MB on disk, "
          f"16 chunks), 16-64-1, median of {args.repeats}")
    print(f"{'':42} {'s/eval':>8} {'Mrows/s':>8}")
    print(f"{'re-read every evaluation (persist=False)':42} {res[False]:8.3f} {Nz / res[False] / 1e6:8.2f}")
    print(f"{'held in worker memory (persist=True)':42} {res[True]:8.3f} {Nz / res[True] / 1e6:8.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--zarr-rows", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--parts", nargs="+", choices=["overhead", "throughput", "zarr"],
                    default=["overhead", "throughput", "zarr"])
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)

    from distributed import Client, LocalCluster

    import quasinet as qn

    out = {"rows": args.rows, "zarr_rows": args.zarr_rows, "repeats": args.repeats,
           "load_average_before": os.getloadavg()}
    print(f"# quasinet on Dask: LocalCluster(n_workers=2, threads_per_worker=1, processes=True); "
          f"load average {os.getloadavg()[0]:.2f} at start")
    # dashboard_address=":0": any free port (None still binds 8787 and warns when it is taken)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        n_in = 16
        net = qn.Network([n_in, 64, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
        if "overhead" in args.parts:
            overhead(client, out)
        if "throughput" in args.parts:
            throughput(args, net, n_in, out)
        if "zarr" in args.parts:
            out_of_core(args, net, n_in, out)
    out["load_average_after"] = os.getloadavg()
    print(f"\n# load average {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
