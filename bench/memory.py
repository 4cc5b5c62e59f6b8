"""Peak extra memory of one cost+gradient call as the number of rows grows.

    python bench/memory.py [--rows 100000 1000000 10000000] [--sizes 8 16 1] [--threads 1 2]

Each measurement runs in a fresh subprocess: it fills X (N, n_0) and y (N, n_L) in place (no
temporaries), binds them, and reads the resident set size (RSS) just before the first call and
the process's peak RSS (getrusage ru_maxrss) after a few calls. Their difference is the peak
extra memory of the call, C++ workspaces included (tracemalloc cannot see C++ allocations).
The same is measured for a plain NumPy cost+gradient of the same network, whose activations
are N rows deep, for contrast.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import os, sys, json, resource
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
import quasinet as qn

N, sizes, threads, which = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

rng = np.random.default_rng(0)
X = np.empty((N, sizes[0])); rng.standard_normal(out=X)
Y = np.empty((N, sizes[-1])); rng.standard_normal(out=Y)
net = qn.Network(sizes, activation="tanh", output_activation="identity", loss="mse", seed=1)
p = net.get_params()
qn.set_num_threads(threads)
if which == "quasinet":
    fg = net.bind(X, Y)  # contiguous float64: held without a copy
    call = lambda: fg(p)
else:
    layout = net.layout
    def call():
        acts = [X]
        for l, (w, n_in, n_out, b) in enumerate(layout):
            z = acts[-1] @ p[w:w + n_in * n_out].reshape(n_in, n_out) + p[b:b + n_out]
            acts.append(np.tanh(z) if l < len(layout) - 1 else z)
        d = (acts[-1] - Y) / N
        g = np.empty_like(p)
        for l in range(len(layout) - 1, -1, -1):
            w, n_in, n_out, b = layout[l]
            g[w:w + n_in * n_out] = (acts[l].T @ d).ravel()
            g[b:b + n_out] = d.sum(axis=0)
            if l:
                d = (d @ p[w:w + n_in * n_out].reshape(n_in, n_out).T) * (1 - acts[l] ** 2)
        return g
before = rss()
base_peak = peak()
for _ in range(3):
    call()
print(json.dumps({"before": before, "base_peak": base_peak, "peak": peak(), "data": X.nbytes + Y.nbytes}))
"""


def measure(N, sizes, threads, which):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(N), json.dumps(sizes), str(threads), which],
        capture_output=True, text=True, check=True,
    ).stdout
    r = json.loads(out)
    # The peak before the first call can exceed the RSS at that moment (import-time
    # temporaries); count only growth above both.
    r["extra"] = max(0, r["peak"] - max(r["before"], r["base_peak"]))
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 1])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--numpy", action="store_true", help="also measure the plain NumPy implementation")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    results = []
    print(f"# peak extra RSS of cost+gradient, network {'-'.join(map(str, args.sizes))} (tanh, mse)")
    print(f"{'impl':<9} {'threads':>7} {'rows':>11} {'data MiB':>9} {'extra MiB':>10}")
    impls = [("quasinet", t) for t in args.threads] + ([("numpy", 1)] if args.numpy else [])
    for which, threads in impls:
        for N in args.rows:
            r = measure(N, args.sizes, threads, which)
            r.update(impl=which, threads=threads, rows=N)
            results.append(r)
            print(f"{which:<9} {threads:>7} {N:>11,} {r['data'] / 2**20:>9.1f} {r['extra'] / 2**20:>10.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
