"""Coverage-guided fuzzing (atheris) of quasinet's public boundary.

Each input is decoded into one call: a network architecture, then arrays of a fuzzer-chosen
dtype, shape and memory layout (and raw bytes for the values) passed to forward / cost /
cost_grad / bind / check_gradient / Trainer.train (L-BFGS-B or LM) / jacobian / gauss_newton /
hessp (both kinds, a fuzzed direction), or a byte string loaded as a model file; or (issue 20)
fuzzed bytes as the CSV file of ``quasinet predict --out`` (exit 0 with a complete output, or
exit 1 leaving the previous output file), raw float64 columns for ``scaling.standardisation``
(finite results or FloatingPointError), and fuzzed covariance bytes in a BR model file (refused,
or positive semi-definite within the stated tolerance).
Allowed outcomes: a result, ValueError or TypeError, and FloatingPointError when the data
overflow float64 (the core's refusal of a non-finite result, or the trainer's). Anything else
-- another exception, a crash, a sanitizer report, a hang --
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
ALLOWED = (ValueError, TypeError, FloatingPointError)
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


CSV_FILE = os.path.join(os.path.dirname(MODEL_FILE), "data.csv")
OUT_FILE = os.path.join(os.path.dirname(MODEL_FILE), "out.csv")
POSTERIOR_FILE = os.path.join(os.path.dirname(MODEL_FILE), "posterior.qnet")
PREDICT_MODEL = os.path.join(os.path.dirname(MODEL_FILE), "predict.qnet")
_PREDICT_NET = qn.Network([2, 2, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
qn.io.save(PREDICT_MODEL, _PREDICT_NET, inputs=["a", "b"], targets=["y"], x_offset=[0.0, 0.0], x_scale=[1.0, 1.0],
           y_offset=[0.0], y_scale=[1.0])


def cli_predict(fdp):
    """quasinet predict on fuzzed CSV bytes: exit 0 with a complete file, or 1 leaving the old --out."""
    import contextlib
    import io

    from quasinet import cli

    with open(CSV_FILE, "wb") as f:
        f.write(fdp.ConsumeBytes(fdp.remaining_bytes()))
    with open(OUT_FILE, "wb") as f:
        f.write(b"previous")
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        rc = cli.main(["predict", PREDICT_MODEL, CSV_FILE, "--out", OUT_FILE])
    assert rc in (0, 1), sink.getvalue()
    with open(OUT_FILE, "rb") as f:
        written = f.read()
    assert (rc == 1) == (written == b"previous"), (rc, written[:100])


def standardise(fdp):
    """scaling.standardisation of raw float64 bytes: finite results or a documented refusal."""
    from quasinet.scaling import standardisation

    k = fdp.ConsumeIntInRange(1, 3)
    raw = fdp.ConsumeBytes(8 * k * fdp.ConsumeIntInRange(1, 6))
    A = np.frombuffer(raw[: len(raw) // (8 * k) * 8 * k], dtype="<f8").reshape(-1, k)
    try:
        mean, std = standardisation(A)
    except FloatingPointError:
        return
    except ValueError:
        assert A.size == 0 or not np.all(np.isfinite(A))
        return
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)
    assert np.all(np.isfinite((A - mean) / std))


def posterior(fdp):
    """A BR model file whose covariance bytes are fuzzed: refused, or positive semi-definite."""
    import json

    from quasinet.posterior import COVARIANCE_RTOL

    net = _PREDICT_NET
    P = net.n_params
    cov = np.frombuffer(fdp.ConsumeBytes(8 * P * P).ljust(8 * P * P, b"\0"), dtype="<f8").reshape(P, P)
    if fdp.ConsumeBool():
        cov = np.triu(cov) + np.triu(cov, 1).T
    header = dict(format="quasinet-model", version=2, n_params=P, method="BR", layer_sizes=[2, 2, 1],
                  activation="tanh", output_activation="identity", bias=True, loss="mse", l2=0.0)
    header["posterior"] = dict(beta=fdp.ConsumeRegularFloat(), alpha=[1.0], group_names=["all parameters"],
                               gamma=1.0, log_evidence=0.0, ard=False, feature_relevance=None, moderate=False)
    try:
        text = json.dumps(header, allow_nan=False)
    except ValueError:
        return
    with open(POSTERIOR_FILE, "wb") as f:
        np.savez(f, header=np.frombuffer(text.encode(), dtype=np.uint8), params=net.params, covariance=cov)
    try:
        model = qn.io.load_model(POSTERIOR_FILE)
    except ValueError:
        return
    c = model.posterior.covariance
    assert np.linalg.eigvalsh(c)[0] >= -10 * COVARIANCE_RTOL * np.max(np.abs(c), initial=0.0)


def one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, 12)
    if target == 0:
        with open(MODEL_FILE, "wb") as f:
            f.write(fdp.ConsumeBytes(fdp.remaining_bytes()))
        try:
            net = qn.load(MODEL_FILE)
        except ALLOWED:
            return
        assert net.params.shape == (net.n_params,)
        return
    if target in (1, 2, 3):
        {1: cli_predict, 2: standardise, 3: posterior}[target](fdp)
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
