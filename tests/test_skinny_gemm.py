"""The register-blocked products of narrow layers (cpp/skinny_gemm.cpp) against the plain-loop reference.

The Auto kernel hands the forward product and the weight gradient of every layer with at most 16
units to its own kernels; one test per width 1..16, and 17 (dgemm again), with hidden widths that
leave partial register tiles, several blocks (the weight gradient accumulates into the previous
blocks' sum, beta = 1) and two threads. Tolerance 1e-12 relative, tensor by tensor, as in
test_speed_paths.py.
"""

import numpy as np
import pytest

import quasinet as qn
from test_speed_paths import assert_close_cost, assert_close_grad, assert_close_tensor


@pytest.mark.parametrize("width", range(1, 18))
def test_narrow_layers_match_the_reference_kernel(width):
    rng = np.random.default_rng(width)
    # A narrow hidden layer and a narrow output layer; 37 and 23 leave partial tiles of rows.
    sizes = [13, width, 23, width] if width > 1 else [13, 37, width]
    net = qn.Network(sizes, activation="tanh", output_activation="identity", loss="mse", seed=rng)
    for b in net.biases:
        b[...] = rng.normal(scale=0.5, size=b.shape)
    N = 1003
    X = rng.normal(size=(N, sizes[0]))
    Y = rng.normal(size=(N, sizes[-1]))
    core, p = net._core, net.params
    J_ref, g_ref = core.cost_grad(p, X, Y, kernel="reference", threads=1)
    out_ref = core.forward(p, X, kernel="reference", threads=1)
    for kw in (dict(threads=1), dict(block_rows=77, threads=1), dict(block_rows=N, threads=1),
               dict(block_rows=101, threads=2)):
        what = f"width {width}, {kw}"
        J, g = core.cost_grad(p, X, Y, kernel="auto", **kw)
        assert_close_cost(J, J_ref, what)
        assert_close_grad(net, g, g_ref, what)
        assert_close_tensor(core.forward(p, X, kernel="auto", **kw), out_ref, f"forward, {what}")
