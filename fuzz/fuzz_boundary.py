"""Coverage-guided fuzzing (atheris) of quasinet's public boundary.

Each input is decoded into one call: a network architecture, then arrays of a fuzzer-chosen
dtype, shape and memory layout (and raw bytes for the values) passed to forward / cost /
cost_grad / bind / check_gradient / Trainer.train (L-BFGS-B or LM) / jacobian / gauss_newton /
hessp (both kinds, a fuzzed direction), or a byte string loaded as a model file.
Allowed outcomes: a result, ValueError or TypeError (FloatingPointError from the trainer when
the data overflow). Anything else -- another exception, a crash, a sanitizer report, a hang --
is a finding. When the inputs are finite float64 data, the result is also checked against
the longdouble reference of tests/test_fuzz.py (finite and within rounding unless the data
overflow float64).

Run for a bounded time (see fuzz/README.md):
    python fuzz/fuzz_boundary.py -max_total_time=300 -rss_limit_mb=4096 fuzz/corpus
"""

import os
import sys
import tempfile
import warnings

import atheris

import numpy as np
import scipy.optimize  # noqa: F401  (imported uninstrumented: only quasinet's own code is traced)

with atheris.instrument_imports(include=["quasinet"]):
    import quasinet as qn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import test_fuzz  # noqa: E402  (the reference, with its rounding-error bounds)

warnings.simplefilter("error")  # an overflow warning from quasinet's Python layer is a finding

DTYPES = ["<f8", ">f8", "<f4", ">f2", "<i1", ">i4", "<i8", "<u1", ">u8", "?", "<c16", "O", "U2", "M8[s]"]
ACTS = list(qn.ACTIVATIONS) + ["softmax", "bogus"]
LOSSES = list(qn.LOSSES) + ["bogus"]
ALLOWED = (ValueError, TypeError)
MODEL_FILE = os.path.join(tempfile.mkdtemp(prefix="qn-fuzz-"), "model.qnet")


def array(fdp, rows, cols):
    """An array of a fuzzer-chosen dtype, shape (usually the expected one) and layout."""
    dt = np.dtype(DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)])
    shape_kind = fdp.ConsumeIntInRange(0, 7)
    if cols is None:  # a vector, e.g. sample weights
        shape = {0: (rows + 1,), 1: (rows, 2), 2: (0,), 3: ()}.get(shape_kind, (rows,))
    else:
        shape = {0: (rows + 1, cols), 1: (rows, cols + 1), 2: (rows * cols,), 3: (0, cols), 4: (rows, cols, 1)}.get(
            shape_kind, (rows, cols)
        )
    n = int(np.prod(shape))
    if dt.kind in "OUM":
        a = np.zeros(shape, dtype=dt)
    else:
        raw = fdp.ConsumeBytes(n * dt.itemsize).ljust(n * dt.itemsize, b"\0")
        a = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    layout = fdp.ConsumeIntInRange(0, 4)
    if layout == 1:
        a = np.asfortranarray(a)
    elif layout == 2 and a.ndim == 2 and a.size:
        big = np.zeros((a.shape[0], a.shape[1] * 2), dtype=a.dtype)
        big[:, ::2] = a
        a = big[:, ::2]
    elif layout == 3:
        a.flags.writeable = False
    elif layout == 4 and dt.kind not in "OUM" and a.ndim:
        a = a.tolist()
    return a


def one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeIntInRange(0, 9) == 0:
        with open(MODEL_FILE, "wb") as f:
            f.write(fdp.ConsumeBytes(fdp.remaining_bytes()))
        try:
            net = qn.load(MODEL_FILE)
        except ALLOWED:
            return
        assert net.params.shape == (net.n_params,)
        return
    sizes = [fdp.ConsumeIntInRange(0, 6) for _ in range(fdp.ConsumeIntInRange(1, 4))]
    try:
        net = qn.Network(
            sizes,
            activation=ACTS[fdp.ConsumeIntInRange(0, len(ACTS) - 1)],
            output_activation=ACTS[fdp.ConsumeIntInRange(0, len(ACTS) - 1)],
            bias=fdp.ConsumeBool(),
            loss=LOSSES[fdp.ConsumeIntInRange(0, len(LOSSES) - 1)],
            l2=fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else 0.0,
        )
    except ALLOWED:
        return
    if fdp.ConsumeBool():
        p = np.frombuffer(fdp.ConsumeBytes(8 * net.n_params).ljust(8 * net.n_params, b"\0"), dtype="<f8")
        try:
            net.set_params(p)
        except ValueError:
            pass
    N = fdp.ConsumeIntInRange(1, 6)
    X = array(fdp, N, net.layer_sizes[0])
    y = array(fdp, N, net.layer_sizes[-1])
    w = array(fdp, N, None) if fdp.ConsumeBool() else None
    entry = fdp.ConsumeIntInRange(0, 8)
    try:
        if entry == 0:
            out = net.forward(X)
            assert out.shape == (np.shape(X)[0], net.layer_sizes[-1])
        elif entry == 1:
            net.cost(X, y, w)
        elif entry == 2:
            J, g = net.cost_grad(X, y, w)
            assert g.shape == (net.n_params,)
            plain = [isinstance(a, np.ndarray) and a.dtype == np.float64 and a.ndim >= 1 for a in (X, y)]
            if all(plain) and np.all(np.isfinite(X)) and np.all(np.isfinite(y)) and w is None:
                test_fuzz.check_against_reference(net, np.ascontiguousarray(X), np.ascontiguousarray(y), None)
        elif entry == 3:
            fg = net.bind(X, y, w)
            fg(net.params)
            fg.cost(net.params)
        elif entry == 4:
            qn.check_gradient(net, X, y, sample_weight=w)
        elif entry == 5:
            before = net.get_params()
            try:
                method = "LM" if fdp.ConsumeBool() else "L-BFGS-B"
                qn.Trainer(net, method=method, maxiter=3).train(X, y, sample_weight=w)
            except FloatingPointError:
                pass
            assert np.all(np.isfinite(net.params)) or not np.all(np.isfinite(before))
        elif entry == 6:
            J = net.jacobian(X)
            assert J.shape == (np.shape(X)[0], net.layer_sizes[-1], net.n_params)
        elif entry == 7:
            _, g, G = net.gauss_newton(X, y, w)
            assert G.shape == (net.n_params, net.n_params) and np.array_equal(G, G.T, equal_nan=True)
        else:
            v = array(fdp, net.n_params, None)
            kind = "exact" if fdp.ConsumeBool() else "gauss-newton"
            assert net.hessp(X, y, v, w, kind=kind).shape == (net.n_params,)
    except ALLOWED:
        return


def main():
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
