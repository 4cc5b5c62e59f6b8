"""Fit overhead of the scikit-learn estimators: everything in ``fit`` except the optimisation.

    python bench/fit_overhead.py [--rows 10000 100000 1000000] [--max-iter 30] [--repeat 3]
                                 [--out bench/results/fit_overhead.txt]

A QuasiNetRegressor with one hidden layer of 16 (a 10-16-1 network) is fitted on N x 10
Gaussian features with L-BFGS-B for --max-iter iterations (tol=1e-300: the
limit ends the run), one thread. The
optimisation is the time spent in Trainer.train (timed by wrapping it); the overhead is the
rest of fit: validation, the duplicate merge, standardisation, the final loss. Both are also
given in units of one cost+gradient evaluation on the same rows (median of 5), and the duplicate
merge is timed alone.

Variants, in the same run:
- ``before``: the duplicate merge as it was before it learned to skip (np.unique on the rows:
  a lexicographic sort and a copy of the data on every fit), patched in;
- ``after``: the current one (no repeated rows, no weights: a hash per row and a sort of the
  hashes, the data used in place);
- ``after, weights``: the current one with sample_weight=2 for every row, which takes the merge
  path (canonical order, one copy).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import quasinet as qn  # noqa: E402
from quasinet import fitting, rows  # noqa: E402
from quasinet import sklearn as qsk  # noqa: E402


def merge_before(X, Y, w):
    """The duplicate merge before this benchmark's change (reproduced for the comparison)."""
    if w is not None:
        keep = w > 0
        X, Y, w = X[keep], Y[keep], w[keep]
    rows = np.ascontiguousarray(np.hstack([X, Y]))
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if uniq.shape[0] == rows.shape[0] and w is None:
        weights = None
    else:
        weights = np.bincount(inverse, weights=w, minlength=uniq.shape[0])
        if np.all(weights == 1.0):
            weights = None
    d = X.shape[1]
    return np.ascontiguousarray(uniq[:, :d]), np.ascontiguousarray(uniq[:, d:]), weights


MERGE = {"before": merge_before, "after": rows.merge_duplicates}


class TimedTrainer(fitting.Trainer):
    seconds = 0.0

    def train(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return super().train(*args, **kwargs)
        finally:
            TimedTrainer.seconds = time.perf_counter() - t0


def one_fit(X, y, w, variant, max_iter):
    rows.merge_duplicates = MERGE[variant]
    fitting.Trainer = TimedTrainer
    est = qsk.QuasiNetRegressor(hidden_layer_sizes=(16,), max_iter=max_iter, tol=1e-300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the iteration limit is the point
        t0 = time.perf_counter()
        est.fit(X, y, sample_weight=w)
        total = time.perf_counter() - t0
    return total, TimedTrainer.seconds, est.n_iter_


def eval_seconds(X, y):
    net = qn.Network([X.shape[1], 16, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    fg = net.bind(X, y)
    p = net.get_params()
    fg(p)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fg(p)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def merge_seconds(merge, X, Y, w, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        merge(X, Y, w)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--max-iter", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    qn.set_num_threads(1)
    load0 = os.getloadavg()[0]

    lines = [
        "# python bench/fit_overhead.py " + " ".join(sys.argv[1:] if argv is None else argv),
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread; numpy {np.__version__}; "
        f"QuasiNetRegressor(hidden_layer_sizes=(16,)), 10 features, L-BFGS-B, max_iter={args.max_iter}, tol=1e-300",
        "# medians of --repeat fits; 'eval' = one cost+gradient on the same rows (median of 5);",
        "# overhead = fit - Trainer.train; merge = _merge_duplicates alone",
        f"{'rows':>9} {'variant':<16} {'fit s':>8} {'optim s':>8} {'overhead s':>10} {'overhead %':>10} "
        f"{'in evals':>8} {'merge s':>8} {'eval ms':>8} {'iters':>5}",
    ]
    print("\n".join(lines), flush=True)
    rng = np.random.default_rng(0)
    for N in args.rows:
        X = rng.normal(size=(N, 10))
        y = np.sin(X @ rng.normal(size=10)) + 0.1 * rng.normal(size=N)
        ev = eval_seconds(X, y)
        for variant, w in (("before", None), ("after", None), ("after, weights", np.full(N, 2.0))):
            runs = [one_fit(X, y, w, variant.split(",")[0], args.max_iter) for _ in range(args.repeat)]
            fit = statistics.median(r[0] for r in runs)
            opt = statistics.median(r[1] for r in runs)
            over = statistics.median(r[0] - r[1] for r in runs)
            merge = merge_seconds(MERGE[variant.split(",")[0]], X, y.reshape(-1, 1), w, args.repeat)
            line = (f"{N:>9} {variant:<16} {fit:>8.3f} {opt:>8.3f} {over:>10.3f} {100 * over / opt:>9.1f}% "
                    f"{over / ev:>8.1f} {merge:>8.3f} {1e3 * ev:>8.2f} {runs[0][2]:>5}")
            lines.append(line)
            print(line, flush=True)
    lines.insert(2, "# load average (1 min) at start %.2f, at end %.2f: other processes shared the 2 cores"
                 % (load0, os.getloadavg()[0]))
    print(lines[2])
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
