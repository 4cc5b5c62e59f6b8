"""Fit time of the default ``QuasiNetRegressor()``, in one process, for changes to the model search.

    python bench/fit_speed.py --tables computers diamonds [--repeats 5]
    python bench/fit_speed.py --friedman 300x10 1000x10 1000x20 300x20 [--draws 0 1 2 3]

``--tables``: one 90/10 split (seed 0) of each ``bench/realdata.py`` table, prepared as that
benchmark does; the default regressor and ``HistGradientBoostingRegressor()`` are fitted in turn,
``--repeats`` times each, A B A B ..., in this process: the median wall time of each, and the
median and range of the paired ratios (robust to the machine's speed drifting between fits,
unlike ``--fit-times`` of ``bench/realdata.py``, which fits each once in its own process).

``--friedman``: ``make_friedman1(N, n_features=D, noise=1)`` for each ``NxD`` and each draw
(``random_state``), the default regressor once: wall time, held-out MSE on 2,000 fresh rows
(noise floor 1.0) and the committee's widths. Run it with ``PYTHONPATH`` pointing at another
checkout's ``python/`` to compare two versions of the search on the same draws.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from realdata import REGRESSION_TABLES, load_table, preprocessor  # noqa: E402

from quasinet.sklearn import QuasiNetRegressor  # noqa: E402


def timed(model, X, y) -> float:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return time.perf_counter() - t0


def paired(table: str, repeats: int) -> str:
    X, y, cats = load_table(REGRESSION_TABLES[table])
    tr = np.random.default_rng(0).permutation(len(y))[: int(0.9 * len(y))]
    Xtr = preprocessor(X, cats).fit_transform(X.iloc[tr])
    ytr = (y[tr] - y[tr].mean()) / y[tr].std()
    q, h = [], []
    for _ in range(repeats):
        q.append(timed(QuasiNetRegressor(random_state=0), Xtr, ytr))
        h.append(timed(HistGradientBoostingRegressor(random_state=0), Xtr, ytr))
    r = np.array(q) / np.array(h)
    return (f"{table} ({len(tr)} training rows): QuasiNetRegressor() median {np.median(q):.2f} s "
            f"({min(q):.2f}-{max(q):.2f}), HistGradientBoostingRegressor() median {np.median(h):.2f} s "
            f"({min(h):.2f}-{max(h):.2f}); paired ratio median {np.median(r):.1f}x ({r.min():.1f}-{r.max():.1f}x), "
            f"{repeats} pairs")


def friedman(size: str, draw: int) -> str:
    n, d = (int(v) for v in size.split("x"))
    X, y = make_friedman1(n, n_features=d, noise=1.0, random_state=draw)
    Xt, yt = make_friedman1(2000, n_features=d, noise=1.0, random_state=10_000 + draw)
    model = QuasiNetRegressor(random_state=0)
    seconds = timed(model, X, y)
    widths = [sum(m.layer_sizes[1:-1]) for m, _, _ in model.members_]
    return (f"friedman1 {n} x {d}, draw {draw}: {seconds:.2f} s, held-out MSE {np.mean((model.predict(Xt) - yt) ** 2):.4f}, "
            f"widths {widths}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", nargs="+", default=[], choices=sorted(REGRESSION_TABLES))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--friedman", nargs="+", default=[], metavar="NxD")
    ap.add_argument("--draws", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    import quasinet

    print(f"# python {' '.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}; quasinet from {os.path.dirname(quasinet.__file__)}", flush=True)
    for table in args.tables:
        print(paired(table, args.repeats), flush=True)
    for size in args.friedman:
        for draw in args.draws:
            print(friedman(size, draw), flush=True)


if __name__ == "__main__":
    main()
