"""quasinet.export: ONNX models run by onnxruntime and C files compiled by the system compiler
and loaded with ctypes, compared with quasinet's own outputs; the CLI's export command."""

import ctypes
import io
import itertools
import re
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import reference as ref

import quasinet as qn
from quasinet import cli
from quasinet import io as qio
from quasinet.export import to_c, to_onnx
from quasinet.export.c import c_source
from quasinet.metrics import class_probabilities
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor
from export_helpers import CC, load_c, onnx_session

HIDDEN = list(qn.ACTIVATIONS)
OUTPUTS = HIDDEN + ["softmax"]
COMBOS = list(itertools.product(HIDDEN, OUTPUTS))


def _model(hidden, output, seed=0, scaled=True, sizes=(3, 6, 5, 2), bias=True):
    rng = np.random.default_rng(seed)
    net = qn.Network(list(sizes), activation=hidden, output_activation=output, bias=bias, seed=seed)
    net.params[...] += 0.3 * rng.normal(size=net.n_params)
    if not scaled:
        return qio.Model(net)
    return qio.Model(net, rng.normal(size=sizes[0]), rng.uniform(0.5, 2.0, sizes[0]),
                     rng.normal(size=sizes[-1]), rng.uniform(0.5, 2.0, sizes[-1]))


def _error_bound(model, X):
    """First-order bound on how much rounding can move each output: |d out / d z| times the sum
    of the magnitudes of the terms of z (plus the target offset), per output. Where an output
    is the difference of large terms its relative error is large, and only this bound is
    meaningful; everywhere else it is below |output|."""
    net = model.net
    sizes = list(net.layer_sizes)
    Xs = model.transform_inputs(X)
    layers = ref.forward(net.params, sizes, net.activation, net.output_activation, net.bias, Xs)
    Ws, bs = ref.unpack(net.params, sizes, net.bias)
    h = Xs if len(layers) == 1 else layers[-2][1]
    terms = np.abs(h) @ np.abs(Ws[-1]) + np.abs(bs[-1])  # (N, n_out)
    z, a = layers[-1]
    if net.output_activation == "softmax":
        bound = 2 * a * terms.max(axis=1, keepdims=True)
    else:
        bound = np.abs(ref.act_prime(net.output_activation, z)) * terms
    if model.y_scale is not None:
        bound = bound * np.abs(model.y_scale) + np.abs(model.y_offset)
    return bound


def _assert_outputs(got, want, bound, rtol):
    err = np.abs(got - want)
    ok = err <= rtol * (np.abs(want) + bound)
    assert ok.all(), f"{(~ok).sum()} outputs off: worst {err[~ok].max():.3g} at {np.argwhere(~ok)[:3].tolist()}"


# -- ONNX -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hidden,output", COMBOS)
@pytest.mark.parametrize("variant", ["scaled", "bare network without biases"])
def test_onnx_equals_quasinet_for_every_activation(hidden, output, variant, tmp_path):
    if variant == "scaled":
        model = _model(hidden, output, seed=1)
        obj = model
    else:
        model = _model(hidden, output, seed=1, scaled=False, bias=False)
        obj = model.net
    X = np.random.default_rng(2).normal(size=(200, 3)) * 3
    want = model.predict(X)
    bound = _error_bound(model, X)
    proto = to_onnx(obj, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"), full_check=True)
    assert [o.name for o in proto.graph.output] == ["predictions"]
    got = onnx_session(proto).run(None, {"X": X})[0]
    assert got.dtype == np.float64 and got.shape == want.shape
    _assert_outputs(got, want, bound, 1e-12)
    got32 = onnx_session(to_onnx(obj, dtype="float32")).run(None, {"X": X.astype(np.float32)})[0]
    assert got32.dtype == np.float32
    _assert_outputs(got32.astype(np.float64), want, bound, 1e-5)


@pytest.mark.parametrize("name", HIDDEN)
def test_onnx_activations_over_their_whole_range_with_relative_accuracy(name):
    # One unit with z = x exactly, hidden and output: out = f(x). Down to z = -700 the sigmoid
    # and softplus values are ~1e-304; onnxruntime's own float64 Sigmoid would be off there.
    z = np.concatenate([-np.geomspace(700, 1e-8, 300), [0.0], np.geomspace(1e-8, 700, 300)]).reshape(-1, 1)
    for sizes, hidden, output in (([1, 1], "identity", name), ([1, 1, 1], name, "identity")):
        net = qn.Network(sizes, activation=hidden, output_activation=output)
        net.params[...] = [1.0, 0.0] * (len(sizes) - 1)
        want = net.forward(z)
        got = onnx_session(to_onnx(net)).run(None, {"X": z})[0]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        # float32 where float32 has normal numbers.
        z32 = z[np.abs(z[:, 0]) <= 80]
        got32 = onnx_session(to_onnx(net, dtype="float32")).run(None, {"X": z32.astype(np.float32)})[0]
        np.testing.assert_allclose(got32, net.forward(z32), rtol=1e-5, atol=0)


def test_onnx_comparison_can_fail():
    model = _model("tanh", "sigmoid")
    X = np.random.default_rng(0).normal(size=(20, 3))
    got = onnx_session(to_onnx(model)).run(None, {"X": X})[0]
    got[3, 1] *= 1 + 1e-11
    with pytest.raises(AssertionError):
        _assert_outputs(got, model.predict(X), _error_bound(model, X), 1e-12)


@pytest.mark.parametrize("labels", [["no", "yes"], [3, 7], [0.5, 2.5], ["a", 2]])
def test_onnx_binary_classifier_outputs_probabilities_and_labels(labels):
    net = qn.Network([3, 5, 1], activation="softplus", output_activation="sigmoid", loss="binary_crossentropy",
                     seed=0)
    model = qio.Model(net, np.ones(3), [2.0, 1.0, 0.5], classes=labels)
    X = np.random.default_rng(3).normal(size=(60, 3)) * 4
    proba, got_labels = onnx_session(to_onnx(model)).run(None, {"X": X})
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-12, atol=1e-16)
    want = model.predict_classes(X)
    if all(isinstance(c, str) for c in labels) or len({type(c) for c in labels}) > 1:
        want = np.array([str(c) for c in want], dtype=object)  # mixed labels travel as strings
    assert list(got_labels) == list(want)
    assert len(set(got_labels)) == 2


def test_exports_reproduce_a_moderated_classifier_and_a_committee(tmp_path):
    # Trained by BR with moderate=True, a classifier moderates its probabilities with the
    # posterior: the exports compute the same (tests/test_export_std.py checks every
    # activation). A committee averages several networks: the exports hold every member.
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 2))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=80) > 0, "a", "b")
    clf = QuasiNetClassifier(hidden_layer_sizes=(3,), method="BR", restarts=1, moderate=True,
                             random_state=0).fit(X, y)
    proba, labels = onnx_session(to_onnx(clf)).run(None, {"X": X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-16)
    assert list(labels) == list(clf.predict(X))
    assert not np.allclose(proba, class_probabilities(clf.network_.forward(clf.to_model().transform_inputs(X))),
                           rtol=1e-6, atol=0)  # the moderation matters here
    clf.set_params(moderate=False)
    proba, _ = onnx_session(to_onnx(clf)).run(None, {"X": X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-16)
    reg = QuasiNetRegressor(hidden_layer_sizes=(3,), method="BR", restarts=1, committee=2, random_state=0)
    reg.fit(X, X[:, 0] * X[:, 1] + 0.1 * rng.normal(size=80))
    # Both exports hold the committee (what they compute: tests/test_export_c_committee.py and
    # tests/test_export_onnx_committee.py).
    mean, _ = onnx_session(to_onnx(reg)).run(None, {"X": X})
    want = reg.predict(X)
    np.testing.assert_allclose(mean[:, 0], want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    to_c(reg, tmp_path / "m.c")
    assert "a committee of 2 quasinet networks" in (tmp_path / "m.c").read_text()


def test_onnx_from_fitted_estimators():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(150, 4)) * [1, 10, 100, 0.1]
    y = np.select([X[:, 0] > 0.5, X[:, 1] > 0], ["high", "mid"], "low")
    clf = QuasiNetClassifier(hidden_layer_sizes=(6,), method="L-BFGS-B", max_iter=60, tol=1e-3, random_state=0).fit(X, y)
    m = to_onnx(clf)
    assert [o.name for o in m.graph.output] == ["probabilities", "labels"]
    proba, labels = onnx_session(m).run(None, {"X": X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-12, atol=1e-16)
    assert list(labels) == list(clf.predict(X))
    Y = np.column_stack([X[:, 0] * 3 + 100, np.sin(X[:, 1])])
    reg = QuasiNetRegressor(hidden_layer_sizes=(6,), method="L-BFGS-B", max_iter=60, tol=1e-3, random_state=0).fit(X, Y)
    got = onnx_session(to_onnx(reg)).run(None, {"X": X})[0]
    _assert_outputs(got, reg.predict(X), _error_bound(reg.to_model(), X), 1e-12)


def test_onnx_model_properties():
    proto = to_onnx(_model("relu", "softmax"), opset=13)
    assert proto.opset_import[0].version == 13
    assert proto.ir_version == onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    assert proto.ir_version <= 10  # well within what onnxruntime 1.17+ loads
    ops = {n.op_type for n in proto.graph.node}
    assert "Sigmoid" not in ops and "Softplus" not in ops
    sp = to_onnx(qn.Network([2, 3, 1], activation="softplus", output_activation="sigmoid"))
    assert {"Sigmoid", "Softplus"}.isdisjoint(n.op_type for n in sp.graph.node)
    assert {"Relu", "Exp", "Log"} <= {n.op_type for n in sp.graph.node}


def test_onnx_bad_inputs(tmp_path):
    net = qn.Network([2, 3, 1], seed=0)
    with pytest.raises(TypeError, match="expected a quasinet.Network, a quasinet.io.Model or a fitted"):
        to_onnx(object())
    with pytest.raises(TypeError, match="got MLPRegressor"):
        from sklearn.neural_network import MLPRegressor

        to_onnx(MLPRegressor())
    with pytest.raises(ValueError, match="QuasiNetRegressor is not fitted"):
        to_onnx(QuasiNetRegressor())
    with pytest.raises(ValueError, match="dtype must be 'float64' or 'float32', got 'float16'"):
        to_onnx(net, dtype="float16")
    with pytest.raises(ValueError, match=r"opset must lie in \[13, \d+\]"):
        to_onnx(net, opset=12)
    with pytest.raises(TypeError, match="opset must be an int, got str"):
        to_onnx(net, opset="17")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        to_onnx(net, tmp_path / "missing" / "m.onnx")


# -- C ---------------------------------------------------------------------------------------------
def _c_call(lib, name, X, n_out):
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, n_in = X.shape
    Y = np.full((n, n_out), np.nan)
    J = np.full((n, n_out, n_in), np.nan)
    dp = ctypes.POINTER(ctypes.c_double)
    getattr(lib, f"{name}_predict")(X.ctypes.data_as(dp), ctypes.c_size_t(n), Y.ctypes.data_as(dp))
    getattr(lib, f"{name}_input_jacobian")(X.ctypes.data_as(dp), ctypes.c_size_t(n), J.ctypes.data_as(dp))
    return Y, J


def test_c_compiler_is_available():
    assert CC is not None, "the C export tests need a C compiler (cc or gcc) on PATH"


def test_c_equals_quasinet_for_every_activation(tmp_path):
    # All 30 models in one translation unit (distinct symbol prefixes), compiled once.
    models = {f"m_{h}_{o}": _model(h, o, seed=i, scaled=i % 3 != 0) for i, (h, o) in enumerate(COMBOS)}
    lib = load_c(tmp_path, "".join(c_source(m, name=name) for name, m in models.items()), "all")
    X = np.random.default_rng(5).normal(size=(100, 3)) * 3
    for name, model in models.items():
        Y, J = _c_call(lib, name, X, 2)
        assert ctypes.c_size_t.in_dll(lib, f"{name}_n_inputs").value == 3
        assert ctypes.c_size_t.in_dll(lib, f"{name}_n_outputs").value == 2
        _assert_outputs(Y, model.predict(X), _error_bound(model, X), 1e-13)
        J_want = model.input_jacobian(X)
        scale = np.abs(J_want).max(axis=(1, 2), keepdims=True)
        err = np.abs(J - J_want)
        assert (err <= 1e-13 * (np.abs(J_want) + scale)).all(), (name, err.max())


def test_c_classifier_network_and_saturation(tmp_path):
    # A softmax classifier far into saturation, a single-layer network, no biases.
    net = qn.Network([4, 5, 3], activation="sigmoid", output_activation="softmax", loss="softmax_crossentropy",
                     seed=0)
    net.params[...] *= 20
    model = qio.Model(net, np.zeros(4), np.full(4, 0.1), classes=["x", "y", "z"])
    single = qn.Network([3, 2], output_activation="tanh", bias=False, seed=1)
    lib = load_c(tmp_path, c_source(model, name="clf") + c_source(single, name="lin"), "two")
    X = np.random.default_rng(6).normal(size=(50, 4))
    Y, J = _c_call(lib, "clf", X, 3)
    np.testing.assert_allclose(Y, model.predict_proba(X), rtol=1e-13, atol=1e-300)
    J_want = model.input_jacobian(X)
    np.testing.assert_allclose(J, J_want, rtol=1e-12, atol=1e-13 * np.abs(J_want).max())
    Y, J = _c_call(lib, "lin", X[:, :3], 2)
    np.testing.assert_allclose(Y, single.forward(X[:, :3]), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(J, single.input_jacobian(X[:, :3]), rtol=1e-13, atol=1e-15)
    # n = 0 touches nothing.
    Y0 = np.full((1, 2), 7.0)
    lib.lin_predict(Y0.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), ctypes.c_size_t(0),
                    Y0.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
    assert (Y0 == 7.0).all()


def test_c_weights_are_exact_hex_literals(tmp_path):
    model = _model("tanh", "identity", seed=7)
    path = to_c(model, tmp_path / "m.c", name="m")
    with open(path) as f:
        text = f.read()
    assert "#include <math.h>" in text and "malloc" not in text and "static double " not in text.split("{")[0]
    includes = set(re.findall(r"#include <([^>]+)>", text))
    assert includes == {"math.h", "stddef.h"}
    literals = [float.fromhex(s) for s in re.findall(r"-?0x[0-9a-f]+\.?[0-9a-f]*p[+-]\d+", text)]
    stored = np.concatenate([model.net.params, model.x_offset, model.x_scale, model.y_offset, model.y_scale])
    assert literals == stored.tolist()  # bit for bit, in order


def test_c_bad_inputs(tmp_path):
    net = qn.Network([2, 3, 1], seed=0)
    for bad in ("9lives", "has space", "int", "", "x" * 64, "a-b"):
        with pytest.raises(ValueError, match="name must be a C identifier"):
            to_c(net, tmp_path / "m.c", name=bad)
    with pytest.raises(TypeError, match="name must be a string, got bytes"):
        to_c(net, tmp_path / "m.c", name=b"m")
    with pytest.raises(TypeError, match="expected a quasinet.Network"):
        to_c({"W": 1}, tmp_path / "m.c")
    with pytest.raises(ValueError, match="QuasiNetClassifier is not fitted"):
        to_c(QuasiNetClassifier(), tmp_path / "m.c")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        to_c(net, tmp_path / "missing" / "m.c")
    assert not (tmp_path / "m.c").exists()


# -- CLI -------------------------------------------------------------------------------------------
def _run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture
def saved(tmp_path):
    net = qn.Network([2, 4, 3], activation="tanh", output_activation="softmax", loss="softmax_crossentropy", seed=0)
    path = tmp_path / "m.qnet"
    qio.Model(net, [1.0, 2.0], [3.0, 4.0], inputs=["a", "b"], targets=["label"], classes=["r", "g", "b"]).save(path)
    return path


def test_cli_export_onnx_and_c(tmp_path, saved, capsys):
    model = qio.load_model(saved)
    X = np.random.default_rng(8).normal(size=(30, 2))
    rc, out, err = _run(capsys, "export", saved, "--format", "onnx", "--out", tmp_path / "m.onnx")
    assert rc == 0 and err == "" and "2-4-3 network written to" in out
    proba, labels = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"X": X})
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-12, atol=1e-16)
    assert list(labels) == list(model.predict_classes(X))
    rc, out, err = _run(capsys, "export", saved, "--format", "onnx", "--dtype", "float32", "--out",
                        tmp_path / "m32.onnx")
    assert rc == 0 and onnx.load(tmp_path / "m32.onnx").graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    rc, out, err = _run(capsys, "export", saved, "--format", "c", "--name", "colour", "--out", tmp_path / "m.c")
    assert rc == 0 and err == ""
    source = (tmp_path / "m.c").read_text()
    lib = load_c(tmp_path, source, "cli")
    Y, _ = _c_call(lib, "colour", X, 3)
    np.testing.assert_allclose(Y, model.predict_proba(X), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("argv,message", [
    (["--format", "pdf"], "unknown format 'pdf': expected one of onnx, c"),
    (["--format", "c", "--name", "9x"], "name must be a C identifier"),
])
def test_cli_export_user_errors(tmp_path, saved, capsys, argv, message):
    rc, out, err = _run(capsys, "export", saved, *argv, "--out", tmp_path / "x.out")
    assert rc == 1 and out == "" and err.count("\n") == 1 and message in err
    assert err.startswith("quasinet export: error: ") and not (tmp_path / "x.out").exists()


def _hostile_files(tmp_path):
    files = {}
    files["missing"] = (tmp_path / "missing.qnet", "no such file")
    p = tmp_path / "text.qnet"
    p.write_text("hello")
    files["text"] = (p, "not a quasinet model file")
    p = tmp_path / "pickle.qnet"
    pickled = io.BytesIO()
    np.save(pickled, np.array([None], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("header.npy", pickled.getvalue())
        zf.writestr("params.npy", pickled.getvalue())
    files["pickle"] = (p, "Python objects")
    p = tmp_path / "huge.qnet"
    header = b'{"format": "quasinet-model", "version": 1, "layer_sizes": [100000, 100000, 100000], ' \
             b'"activation": "tanh", "output_activation": "identity", "bias": true, "loss": "mse", "l2": 0, ' \
             b'"n_params": 20000200000}'
    with open(p, "wb") as f:
        np.savez(f, header=np.frombuffer(header, dtype=np.uint8), params=np.zeros(3))
    files["huge"] = (p, "more than")
    files["directory"] = (tmp_path, "is a directory")
    return files


@pytest.mark.parametrize("kind", ["missing", "text", "pickle", "huge", "directory"])
def test_cli_export_refuses_missing_and_hostile_model_files(tmp_path, capsys, kind):
    path, message = _hostile_files(tmp_path)[kind]
    for fmt in ("onnx", "c"):
        rc, out, err = _run(capsys, "export", path, "--format", fmt, "--out", tmp_path / "out.x")
        assert rc == 1 and out == "" and err.count("\n") == 1 and message in err, err
        assert "Traceback" not in err and not (tmp_path / "out.x").exists()


def test_cli_export_subprocess_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "quasinet", "export", str(tmp_path / "none.qnet"), "--format", "c",
                           "--out", str(tmp_path / "m.c")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"quasinet export: error: no such file: {tmp_path / 'none.qnet'}\n"
