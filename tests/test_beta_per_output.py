"""One noise precision per output: the Posterior, the model file (version 5) and the exports.

A regression with two targets whose posterior has beta = [4.0, 0.25]: the predictive variance
of output k adds 1/beta[k]. References: the same model with one shared beta of 4.0 and of
0.25 (each output must equal the shared-beta model with its own beta, bit for bit), the
quadratic form from the network's Jacobian, and the C and ONNX exports, which compute the
standard deviation by their own backward passes.
"""

import ctypes
import json
import zipfile

import numpy as np
import pytest

import quasinet as qn
from quasinet import io as qio
from quasinet import modelfile
from quasinet.evidence import parameter_groups
from quasinet.export import to_c, to_onnx
from quasinet.export.c import c_source
from quasinet.posterior import Posterior
from export_helpers import load_c, onnx_session

BETA = [4.0, 0.25]
DP = ctypes.POINTER(ctypes.c_double)


def _posterior(net, beta, classifier=False):
    rng = np.random.default_rng(7)
    P = net.n_params
    Q, _ = np.linalg.qr(rng.normal(size=(P, P)))
    cov = (Q * np.geomspace(1e-4, 1e-1, P)) @ Q.T
    names = parameter_groups(net, False)[1]
    return Posterior(covariance=cov, beta=beta, alpha=np.ones(len(names)), group_names=names, gamma=3.0,
                     log_evidence=-1.5, ard=False, moderate=classifier)


def _model(beta=BETA, n_out=2):
    net = qn.Network([3, 5, n_out], activation="tanh", output_activation="identity", loss="mse", seed=4)
    rng = np.random.default_rng(5)
    return qio.Model(net, rng.normal(size=3), rng.uniform(0.5, 2.0, 3), rng.normal(size=n_out),
                     rng.uniform(0.5, 3.0, n_out), targets=[f"y{k}" for k in range(n_out)],
                     posterior=_posterior(net, beta), method="BR")


X = np.random.default_rng(11).normal(size=(57, 3)) * 2  # 57: not a multiple of the C row block


def _rel(got, want):
    return float(np.max(np.abs(got - want) / np.abs(want)))


def test_each_output_adds_its_own_noise_variance():
    model = _model()
    assert isinstance(model.posterior.beta, np.ndarray) and model.posterior.beta.dtype == np.float64
    mean, std = model.predict(X, return_std=True)
    for k, b in enumerate(BETA):
        m_k, s_k = _model(beta=b).predict(X, return_std=True)
        np.testing.assert_array_equal(mean[:, k], m_k[:, k])
        np.testing.assert_array_equal(std[:, k], s_k[:, k])
    # In the network's units: std^2 is the quadratic form g^T A^-1 g plus 1/beta[k].
    G = model.net.jacobian(model.transform_inputs(X))
    quad = np.einsum("nkp,pq,nkq->nk", G, model.posterior.covariance, G)
    noise = (std / model.y_scale) ** 2 - quad
    np.testing.assert_allclose(noise, np.broadcast_to([0.25, 4.0], noise.shape), rtol=1e-12)
    assert np.all(quad > 1e-4 * noise)  # the parameters' uncertainty is in the figure too


def test_onnx_std_per_output_equals_predict():
    model = _model()
    proto = to_onnx(model)
    noise = [t for t in proto.graph.initializer if t.name.startswith("noise_var")]
    assert len(noise) == 1 and list(noise[0].dims) == [2]
    session = onnx_session(proto)
    got_mean, got_std = session.run(None, {"X": X})
    mean, std = model.predict(X, return_std=True)
    assert _rel(got_mean, mean) < 1e-12 and _rel(got_std, std) < 1e-12
    one_beta = onnx_session(to_onnx(_model(beta=4.0))).run(None, {"X": X})[1]
    assert _rel(got_std[:, 0], one_beta[:, 0]) < 1e-12 and np.all(got_std[:, 1] > 1.5 * one_beta[:, 1])


def test_c_std_per_output_equals_predict(tmp_path):
    model = _model()
    source = c_source(model, name="m")
    assert "static const double m_noise_var[2] = {\n  0x1.0000000000000p-2, 0x1.0000000000000p+2,\n};" in source
    assert "sqrt(q[b] + m_noise_var[k])" in source
    shared = c_source(_model(beta=4.0), name="s")
    assert "static const double s_noise_var = 0x1.0000000000000p-2;" in shared
    lib = load_c(tmp_path, source + shared, "m")
    got = {}
    for name in ("m", "s"):
        Y, S = np.full((len(X), 2), np.nan), np.full((len(X), 2), np.nan)
        getattr(lib, f"{name}_predict_std")(np.ascontiguousarray(X).ctypes.data_as(DP), ctypes.c_size_t(len(X)),
                                            Y.ctypes.data_as(DP), S.ctypes.data_as(DP))
        got[name] = Y, S
    mean, std = model.predict(X, return_std=True)
    assert _rel(got["m"][0], mean) < 1e-12 and _rel(got["m"][1], std) < 1e-12
    assert _rel(got["m"][1][:, 0], got["s"][1][:, 0]) < 1e-12 and np.all(got["m"][1][:, 1] > 1.5 * got["s"][1][:, 1])
    to_c(model, tmp_path / "written.c", name="m")
    assert (tmp_path / "written.c").read_text(encoding="ascii") == source


def _header(path):
    with np.load(path, allow_pickle=False) as z:
        return json.loads(z["header"].tobytes().decode())


def _with_header(path, out, text=None, **changes):
    """A copy of the model file ``path`` whose JSON header has ``changes`` (or is ``text``)."""
    h = {**_header(path), **changes}
    data = json.dumps(h).encode() if text is None else text(h).encode()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            payload = zin.read(item)
            if item.filename == "header.npy":
                import io as _io

                buf = _io.BytesIO()
                np.lib.format.write_array(buf, np.frombuffer(data, dtype=np.uint8))
                payload = buf.getvalue()
            zout.writestr(item, payload)
    return out


@pytest.mark.parametrize("beta, n_out, version", [(BETA, 2, 5), ([2.5], 1, 5), (2.5, 2, 2)])
def test_round_trip_keeps_beta_bitwise_and_the_version_follows_it(tmp_path, beta, n_out, version):
    model = _model(beta=beta, n_out=n_out)
    model.save(tmp_path / "m.qnet")
    assert _header(tmp_path / "m.qnet")["version"] == version
    back = qio.load_model(tmp_path / "m.qnet")
    assert back.file_version == version
    b = back.posterior.beta
    if isinstance(beta, list):
        assert isinstance(b, np.ndarray) and b.dtype == np.float64 and b.shape == (n_out,)
        assert b.tobytes() == np.array(beta).tobytes() == model.posterior.beta.tobytes()
    else:
        assert type(b) is float and b == beta
    for got, want in zip(back.predict(X, return_std=True), model.predict(X, return_std=True)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("beta, message", [
    ([4.0], r"inconsistent model file \(beta must be one number, or 2 \(one per output\) in shape \(2,\), "
            r"got shape \(1,\)\)"),
    ([4.0, 0.25, 1.0], r"or 2 \(one per output\) in shape \(2,\), got shape \(3,\)"),
    ([], r"got shape \(0,\)"),
    ([4.0, -1.0], r"beta must be finite numbers > 0, got array\(\[ 4., -1.\]\)"),
    ([4.0, 0.0], "beta must be finite numbers > 0"),
    ([4.0, "0.25"], "posterior beta must be a finite number, got '0.25'"),
    ([4.0, True], "posterior beta must be a finite number, got True"),
    ([[4.0, 0.25]], r"posterior beta must be a finite number, got \[4.0, 0.25\]"),
    ([4.0, None], "posterior beta must be a finite number, got None"),
    ({"0": 4.0}, r"posterior beta must be a finite number, got \{'0': 4.0\}"),
    ("4.0", "posterior beta must be a finite number, got '4.0'"),
])
def test_a_bad_beta_list_is_refused(tmp_path, beta, message):
    _model().save(tmp_path / "m.qnet")
    h = _header(tmp_path / "m.qnet")
    bad = _with_header(tmp_path / "m.qnet", tmp_path / "bad.qnet", posterior={**h["posterior"], "beta": beta})
    with pytest.raises(ValueError, match="bad.qnet: " + (".*" if message[0] != "i" else "") + message):
        qio.load_model(bad)


@pytest.mark.parametrize("spelling, message", [
    ("[4.0, NaN]", "non-finite number NaN in the JSON header"),
    ("[4.0, Infinity]", "non-finite number Infinity in the JSON header"),
    ("[4.0, 1e400]", "posterior beta must be a finite number, got inf"),
    ("[4.0, -1e400]", "posterior beta must be a finite number, got -inf"),
])
def test_non_finite_beta_entries_are_refused(tmp_path, spelling, message):
    _model().save(tmp_path / "m.qnet")
    bad = _with_header(tmp_path / "m.qnet", tmp_path / "bad.qnet",
                       text=lambda h: json.dumps(h).replace("[4.0, 0.25]", spelling, 1))
    with pytest.raises(ValueError, match=message):
        qio.load_model(bad)


def test_a_beta_list_needs_version_5(tmp_path):
    _model().save(tmp_path / "m.qnet")
    bad = _with_header(tmp_path / "m.qnet", tmp_path / "bad.qnet", version=4)
    with pytest.raises(ValueError, match=r"bad.qnet: posterior beta must be a number in a version 4 file, got a list "
                                         r"\(one beta per output needs version 5\)"):
        qio.load_model(bad)
    _model(beta=4.0).save(tmp_path / "one.qnet")
    newer = _with_header(tmp_path / "one.qnet", tmp_path / "v5.qnet", version=5)  # a number is fine in version 5
    assert qio.load_model(newer).posterior.beta == 4.0
    assert modelfile.VERSION == 7 and modelfile.VERSIONS == (1, 2, 3, 4, 5, 6, 7)


def test_posterior_check_takes_a_float_or_one_per_output():
    net = qn.Network([3, 4, 2], seed=0)
    assert _posterior(net, 2).check(net, False).beta == 2.0
    assert type(_posterior(net, np.float32(2.0)).check(net, False).beta) is float
    assert _posterior(net, np.array(2.0)).check(net, False).beta == 2.0
    for given in ([1.0, 2.0], (1.0, 2.0), np.array([1.0, 2.0], dtype=np.float32), np.array([1, 2])):
        b = _posterior(net, given).check(net, False).beta
        assert isinstance(b, np.ndarray) and b.dtype == np.float64 and b.shape == (2,) and list(b) == [1.0, 2.0]
    for given, exc, message in [
        ([1.0], ValueError, r"beta must be one number, or 2 \(one per output\) in shape \(2,\), got shape \(1,\)"),
        ([[1.0, 2.0]], ValueError, r"got shape \(1, 2\)"),
        ([1.0, np.nan], ValueError, "beta must be finite numbers > 0"),
        ([1.0, np.inf], ValueError, "beta must be finite numbers > 0"),
        ([1.0, -2.0], ValueError, "beta must be finite numbers > 0"),
        ([1.0, True], TypeError, "beta must hold real numbers, got bool"),
        ([1.0, "2"], TypeError, "beta must hold real numbers, got str"),
        ([[1.0], [2.0, 3.0]], TypeError, "beta must hold real numbers, got list"),
        ("2", TypeError, r"beta must be a real number or one per output \(2\), got str"),
        ({1.0, 2.0}, TypeError, "got set"),
        (-1.0, ValueError, "beta must be a finite number > 0, got -1.0"),
    ]:
        with pytest.raises(exc, match=message):
            _posterior(net, given).check(net, False)


def test_a_classifier_beta_is_one_or_all_ones():
    net = qn.Network([3, 4, 2], output_activation="softmax", loss="softmax_crossentropy", seed=0)
    ones = _posterior(net, [1.0, 1.0], classifier=True).check(net, True).beta
    assert isinstance(ones, np.ndarray) and list(ones) == [1.0, 1.0]
    assert _posterior(net, 1, classifier=True).check(net, True).beta == 1.0
    with pytest.raises(ValueError, match=r"a classifier's beta is 1, got array\(\[1., 2.\]\)"):
        _posterior(net, [1.0, 2.0], classifier=True).check(net, True)
