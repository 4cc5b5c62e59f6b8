"""Input Jacobian: the core's two orders against each other and against plain NumPy.

    python bench/input_jacobian.py [--rows N] [--repeats R]

For each architecture: median seconds of ``Network.input_jacobian`` in the reverse order (one
backward pass per output) and the forward order (one tangent per input), the order ``auto``
picks, and a plain-NumPy chain rule (batched matmuls, the peer) in the same run, one thread.
Every result is checked against the NumPy one (1e-10, norm-relative) before timing.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import quasinet as qn  # noqa: E402

SHAPES = [
    ("10-64-1", [10, 64, 1]),
    ("10-64-64-10", [10, 64, 64, 10]),
    ("64-128-128-10", [64, 128, 128, 10]),
    ("4-64-64-32", [4, 64, 64, 32]),
    ("2-32-100", [2, 32, 100]),
    ("20-32-20", [20, 32, 20]),
]


def numpy_jacobian(net, X):
    """Forward-order chain rule with NumPy: dz_1/dx = W_1^T, then f'(z) and W^T per layer."""
    Ws, bs = net.weights, net.biases
    a, D = X, None
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W + b
        D = np.broadcast_to(W.T, (X.shape[0],) + W.T.shape) if D is None else np.einsum("ji,njk->nik", W, D)
        if l + 1 < len(Ws):
            a = np.tanh(z)
            D = (1.0 / np.cosh(z) ** 2)[:, :, None] * D
    return D  # identity output


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    qn.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"{args.rows} rows, 1 thread, median of {args.repeats}; seconds per call")
    print(f"{'network':16s}{'reverse':>11s}{'forward':>11s}{'auto':>9s}{'numpy':>11s}{'numpy/auto':>12s}")
    for label, sizes in SHAPES:
        net = qn.Network(sizes, activation="tanh", output_activation="identity", seed=0)
        X = rng.normal(size=(args.rows, sizes[0]))
        J_np = numpy_jacobian(net, X)
        scale = np.abs(J_np).max()
        for mode in ("reverse", "forward"):
            err = np.abs(net.input_jacobian(X, mode=mode) - J_np).max() / scale
            assert err < 1e-10, (label, mode, err)
        t = {m: median_time(lambda m=m: net.input_jacobian(X, mode=m), args.repeats) for m in ("reverse", "forward")}
        t_np = median_time(lambda: numpy_jacobian(net, X), args.repeats)
        auto = net._core.jacobian_mode
        print(f"{label:16s}{t['reverse']:11.2e}{t['forward']:11.2e}{auto:>9s}{t_np:11.2e}{t_np / t[auto]:12.1f}")


if __name__ == "__main__":
    main()
