"""Exports with the posterior: file size, compile time and per-row cost against the parameter count.

    python bench/export_size.py [--rows N] [--repeats R] [--out bench/results/export_size]

For P = 100, 1,000 and 1,999 parameters (one-hidden-layer tanh regressors 9-9-1, 7-111-1 and
16-111-1: P = h (n + 2) + 1 cannot be 2,000; the export's limit is
``quasinet.export.MAX_POSTERIOR_PARAMS`` = 2,000) with input/target scaling and a posterior
covariance like Bayesian regularisation's (random orthogonal eigenvectors, eigenvalues 1e-9 to 1):

- the size of the ONNX model (float64 and float32) and of the C source, with the predictive
  standard deviation and without it (``return_std=False``: the mean only);
- the C source's compile time (``cc -std=c99 -O2 -Wall -Wextra -Werror -shared -fPIC``);
- the per-row time, one thread, median of R runs over N rows: onnxruntime (float64, with and
  without ``std``), the compiled C (``NAME_predict_std`` and ``NAME_predict``) and quasinet's
  own ``Model.predict(X, return_std=True)`` in the same run;
- the agreement with quasinet: the largest relative difference of the standard deviation
  (ONNX float64 and float32, C) over the N rows.

Writes ``OUT.txt`` (the table and the command) and ``OUT.json``. Not a test: it takes minutes
(compiling the 48 MB C file of P = 1,999 dominates).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import quasinet as qn  # noqa: E402
from quasinet import io as qio  # noqa: E402
from quasinet.evidence import parameter_groups  # noqa: E402
from quasinet.export import MAX_POSTERIOR_PARAMS  # noqa: E402
from quasinet.export.c import c_source  # noqa: E402
from quasinet.export.onnx import to_onnx  # noqa: E402
from quasinet.posterior import Posterior  # noqa: E402

SHAPES = [[9, 9, 1], [7, 111, 1], [16, 111, 1]]
CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]
DP = ctypes.POINTER(ctypes.c_double)


def bayes_model(sizes, seed=0):
    """A scaled tanh regressor with a BR-like posterior covariance."""
    rng = np.random.default_rng(seed)
    net = qn.Network(sizes, activation="tanh", seed=seed)
    P = net.n_params
    Q, _ = np.linalg.qr(rng.normal(size=(P, P)))
    cov = (Q * np.geomspace(1e-9, 1.0, P)) @ Q.T
    cov = (cov + cov.T) / 2
    names = parameter_groups(net, False)[1]
    post = Posterior(covariance=cov, beta=100.0, alpha=np.ones(len(names)), group_names=names, gamma=1.0,
                     log_evidence=0.0, ard=False)
    n_in = sizes[0]
    return qio.Model(net, rng.normal(size=n_in), rng.uniform(0.5, 2.0, n_in), np.array([3.0]), np.array([2.0]),
                     posterior=post)


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def measure(sizes, rows, repeats, workdir):
    import onnxruntime as ort

    model = bayes_model(sizes)
    P = model.net.n_params
    X = np.random.default_rng(1).normal(size=(rows, sizes[0]))
    row = {"shape": "-".join(map(str, sizes)), "P": P}
    want_mean, want_std = model.predict(X, return_std=True)
    row["quasinet_us_per_row"] = 1e6 * median_time(lambda: model.predict(X, return_std=True), repeats) / rows

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    for dtype in ("float64", "float32"):
        proto = to_onnx(model, dtype=dtype)
        data = proto.SerializeToString()
        row[f"onnx_{dtype}_bytes"] = len(data)
        sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        Xd = X.astype(dtype)
        got = sess.run(None, {"X": Xd})
        row[f"onnx_{dtype}_std_max_rel_diff"] = float(np.max(np.abs(got[1] - want_std) / want_std))
        if dtype == "float64":
            row["onnx_float64_us_per_row"] = 1e6 * median_time(lambda: sess.run(None, {"X": Xd}), repeats) / rows
    lean = to_onnx(model, return_std=False).SerializeToString()
    row["onnx_mean_only_bytes"] = len(lean)
    sess = ort.InferenceSession(lean, opts, providers=["CPUExecutionProvider"])
    row["onnx_mean_only_us_per_row"] = 1e6 * median_time(lambda: sess.run(None, {"X": X}), repeats) / rows

    source = c_source(model, name="m")
    row["c_bytes"] = len(source)
    row["c_mean_only_bytes"] = len(c_source(model, name="m", return_std=False))
    src = os.path.join(workdir, f"m{P}.c")
    lib_path = os.path.join(workdir, f"m{P}.so")
    with open(src, "w", encoding="ascii") as f:
        f.write(source)
    cc = shutil.which("cc") or shutil.which("gcc")
    t0 = time.perf_counter()
    subprocess.run([cc, *CFLAGS, src, "-o", lib_path, "-lm"], check=True)
    row["c_compile_s"] = time.perf_counter() - t0
    row["c_library_bytes"] = os.path.getsize(lib_path)
    lib = ctypes.CDLL(lib_path)
    Y, S = np.empty((rows, 1)), np.empty((rows, 1))
    args = (X.ctypes.data_as(DP), ctypes.c_size_t(rows), Y.ctypes.data_as(DP))
    row["c_std_us_per_row"] = 1e6 * median_time(lambda: lib.m_predict_std(*args, S.ctypes.data_as(DP)),
                                                repeats) / rows
    row["c_std_max_rel_diff"] = float(np.max(np.abs(S - want_std) / want_std))
    row["c_mean_max_rel_diff"] = float(np.max(np.abs(Y - want_mean) / np.abs(want_mean)))
    row["c_mean_only_us_per_row"] = 1e6 * median_time(lambda: lib.m_predict(*args), repeats) / rows
    return row


def table(rows):
    mb = 1e6
    lines = [
        "     P  shape      ONNX f64   ONNX f32   ONNX mean   C source   C mean    C .so    cc -O2",
        "                   (MB)       (MB)       only (MB)   (MB)       only(MB)  (MB)     (s)",
    ]
    for r in rows:
        lines.append(f"{r['P']:>6}  {r['shape']:<9}  {r['onnx_float64_bytes'] / mb:>8.3f}   "
                     f"{r['onnx_float32_bytes'] / mb:>8.3f}   {r['onnx_mean_only_bytes'] / mb:>9.4f}   "
                     f"{r['c_bytes'] / mb:>8.3f}   {r['c_mean_only_bytes'] / mb:>7.4f}  "
                     f"{r['c_library_bytes'] / mb:>7.3f}  {r['c_compile_s']:>7.1f}")
    lines += ["", "Per row (microseconds, one thread):",
              "     P  ONNX f64 +std   ONNX mean   C +std   C mean   quasinet predict(return_std=True)"]
    for r in rows:
        lines.append(f"{r['P']:>6}  {r['onnx_float64_us_per_row']:>13.1f}   {r['onnx_mean_only_us_per_row']:>9.2f}   "
                     f"{r['c_std_us_per_row']:>6.1f}   {r['c_mean_only_us_per_row']:>6.2f}   "
                     f"{r['quasinet_us_per_row']:>8.1f}")
    lines += ["", "Largest relative difference of the standard deviation from quasinet's:",
              "     P  ONNX f64   ONNX f32   C"]
    for r in rows:
        lines.append(f"{r['P']:>6}  {r['onnx_float64_std_max_rel_diff']:>8.1e}   "
                     f"{r['onnx_float32_std_max_rel_diff']:>8.1e}   {r['c_std_max_rel_diff']:>8.1e}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "export_size"))
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for sizes in SHAPES:
            rows.append(measure(sizes, args.rows, args.repeats, workdir))
            print(json.dumps(rows[-1]), flush=True)
    assert max(r["P"] for r in rows) <= MAX_POSTERIOR_PARAMS
    command = "python bench/export_size.py " + " ".join(argv if argv is not None else sys.argv[1:])
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    head = (f"Command: {command.strip()}\n"
            f"Machine: {cpu}, {os.cpu_count()} cores (shared; load average at the end {load}); rows {args.rows}, "
            f"median of {args.repeats}; {time.strftime('%Y-%m-%d', time.gmtime())}\n"
            "Sizes are exact; times depend on the load (compare columns of one run only).\n\n")
    text = head + table(rows) + "\n"
    print(text)
    with open(args.out + ".txt", "w") as f:
        f.write(text)
    with open(args.out + ".json", "w") as f:
        json.dump({"command": command.strip(), "rows": args.rows, "repeats": args.repeats, "results": rows}, f,
                  indent=1)


if __name__ == "__main__":
    main()
