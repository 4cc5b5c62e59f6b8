"""quasinet.export of what a model trained by Bayesian regularisation predicts: the predictive
standard deviation and MacKay's moderated probabilities, in ONNX (onnxruntime) and C (compiled,
loaded with ctypes), against quasinet's own predict(return_std=True) and predict_proba. Also the
hardening of the exports: hostile text, atomic writes, numbers that cannot be exported.

Tolerances. An output y computed from a sum of terms can only be compared relative to the size
of those terms; the bounds below say so explicitly:

- the variance v = g^T A^-1 g is compared as |dv| <= rtol (v + T), T = |g|^T |A^-1| |g| (the
  magnitude of the quadratic form's terms; with a covariance of condition 1e9 both quasinet's
  einsum and the factor's ||L^T g||^2 are off the exact value by up to ~1e-12 of v where v is
  far below T), so the standard deviation s = sqrt(v + 1/beta) as |ds| <= rtol (s + T / s);
- a moderated probability p = f(u), u = z / kappa, kappa = sqrt(1 + pi v / 8), as
  |dp| <= rtol (p + |f'(u)| B_u) with B_u = (|z| + T_z) / kappa + |z| pi (v + T) / (16 kappa^3)
  the first-order bound on u's error (T_z: the magnitude of the terms of z); a one-output
  classifier's first column 1 - p (formed by a subtraction, as quasinet forms it) to rtol absolute.

rtol is 1e-12 for float64 ONNX, 1e-13 for C, 1e-4 for float32 ONNX.
"""

import ctypes
import itertools
import json
import os
import re
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import quasinet as qn
from quasinet import cli
from quasinet import io as qio
from quasinet.evidence import parameter_groups
from quasinet.export import MAX_POSTERIOR_PARAMS, covariance_factor, escape_text, to_c, to_onnx, unescape_text
from quasinet.export.c import c_source
from quasinet.posterior import Posterior, logit_twin
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor
from export_helpers import compile_c, onnx_session

HIDDEN = list(qn.ACTIVATIONS)
OUTPUTS = HIDDEN + ["softmax"]
EPS = np.finfo(np.float64).eps
DP = ctypes.POINTER(ctypes.c_double)


def _covariance(P, rng, rank=None):
    """An ill-conditioned covariance like BR's (eigenvalues 1e-9 .. 1, condition 1e9), or a
    positive semi-definite one of the given rank."""
    Q, _ = np.linalg.qr(rng.normal(size=(P, P)))
    lam = np.geomspace(1e-9, 1.0, P)
    if rank is not None:
        lam[: P - rank] = 0.0
    return (Q * lam) @ Q.T


def _bayes_model(hidden, output, seed=0, classes=None, sizes=(3, 6, 5, 2), rank=None):
    rng = np.random.default_rng(seed)
    loss = {"sigmoid": "binary_crossentropy", "softmax": "softmax_crossentropy"}.get(output, "mse")
    net = qn.Network(list(sizes), activation=hidden, output_activation=output, loss=loss, seed=seed)
    net.params[...] += 0.3 * rng.normal(size=net.n_params)
    names = parameter_groups(net, False)[1]
    post = Posterior(covariance=_covariance(net.n_params, rng, rank), beta=1.0 if classes else 100.0,
                     alpha=np.ones(len(names)), group_names=names, gamma=1.0, log_evidence=0.0, ard=False,
                     moderate=classes is not None)
    x = (rng.normal(size=sizes[0]), rng.uniform(0.5, 2.0, sizes[0]))
    if classes is not None:
        return qio.Model(net, *x, classes=classes, posterior=post)
    return qio.Model(net, *x, rng.normal(size=sizes[-1]), rng.uniform(0.5, 2.0, sizes[-1]), posterior=post)


def _quadratic_form(net, cov, Xs):
    """v = g^T A^-1 g per row and output and T = |g|^T |A^-1| |g|, from quasinet's Jacobian."""
    G = net.jacobian(Xs)
    return (np.einsum("nkp,pq,nkq->nk", G, cov, G),
            np.einsum("nkp,pq,nkq->nk", np.abs(G), np.abs(cov), np.abs(G)))


def _assert_std(got, model, X, rtol):
    """``got`` (N, K) against model.predict(X, return_std=True)[1] (module docstring)."""
    want = model.predict(X, return_std=True)[1]
    p = model.posterior
    v, T = _quadratic_form(model.net, p.covariance, model.transform_inputs(X))
    s = np.sqrt(v + 1.0 / p.beta)
    scale = 1.0 if model.y_scale is None else np.abs(model.y_scale)
    err = np.abs(got - want)
    ok = err <= rtol * (s + T / s) * scale
    assert ok.all(), f"{(~ok).sum()} std off: worst relative {np.max(err / np.abs(want)):.3g}"
    return np.max(err / np.abs(want))


def _assert_proba(got, model, X, rtol):
    """``got`` against model.predict_proba(X), moderated (module docstring); got may hold the
    sigmoid's one column or both."""
    want = model.predict_proba(X)
    Xs = model.transform_inputs(X)
    twin = logit_twin(model.net)
    z, Tz = ref.output_terms(twin, Xs)
    v, T = _quadratic_form(twin, model.posterior.covariance, Xs)
    kappa = np.sqrt(1.0 + np.pi * v / 8.0)
    B_u = (np.abs(z) + Tz) / kappa + np.abs(z) * np.pi * (v + T) / (16.0 * kappa**3)
    if want.shape[1] == 2 and z.shape[1] == 1:
        p = want[:, 1:]
        # The first column is 1 - p, as quasinet forms it: absolute accuracy only.
        B = np.hstack([p * (1 - p) * B_u + p, p * (1 - p) * B_u])
    else:
        B = 2 * want * B_u.max(axis=1, keepdims=True)
    if got.shape[1] == 1:
        want, B = want[:, 1:], B[:, 1:]
    err = np.abs(got - want)
    ok = err <= rtol * (np.abs(want) + B)
    assert ok.all(), f"{(~ok).sum()} probabilities off: worst {err[~ok].max():.3g}"
    return np.max(err / np.abs(want))


def _c_predict(lib, name, X, n_out, std=False):
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.full((X.shape[0], n_out), np.nan)
    if not std:
        getattr(lib, f"{name}_predict")(X.ctypes.data_as(DP), ctypes.c_size_t(X.shape[0]), Y.ctypes.data_as(DP))
        return Y
    S = np.full_like(Y, np.nan)
    getattr(lib, f"{name}_predict_std")(X.ctypes.data_as(DP), ctypes.c_size_t(X.shape[0]), Y.ctypes.data_as(DP),
                                        S.ctypes.data_as(DP))
    return Y, S


SYNTHETIC = ([(f"r_{h}_{o}", h, o, None) for h, o in itertools.product(HIDDEN, OUTPUTS)]
             + [(f"c2_{h}", h, "sigmoid", ["no", "yes"]) for h in HIDDEN]
             + [(f"c3_{h}", h, "softmax", [3, 1, 2]) for h in HIDDEN])


def _synthetic(case, widths=(6, 5)):
    tag, hidden, output, classes = case
    sizes = (3, *widths, 2 if classes is None else 1 if len(classes) == 2 else 3)
    return _bayes_model(hidden, output, seed=SYNTHETIC.index(case), classes=classes, sizes=sizes)


# -- ONNX ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", SYNTHETIC, ids=[c[0] for c in SYNTHETIC])
def test_onnx_std_and_moderation_equal_quasinet_for_every_activation(case):
    model = _synthetic(case)
    X = np.random.default_rng(2).normal(size=(150, 3)) * 3
    proto = to_onnx(model)
    got = onnx_session(proto).run(None, {"X": X})
    if model.classes is None:
        assert [o.name for o in proto.graph.output] == ["predictions", "std"]
        np.testing.assert_array_equal(got[0], onnx_session(to_onnx(model, return_std=False)).run(None, {"X": X})[0])
        np.testing.assert_allclose(got[0], model.predict(X), rtol=1e-12, atol=1e-12)
        _assert_std(got[1], model, X, 1e-12)
        got32 = onnx_session(to_onnx(model, dtype="float32")).run(None, {"X": X.astype(np.float32)})
        assert got32[1].dtype == np.float32
        _assert_std(got32[1].astype(np.float64), model, X, 1e-4)
    else:
        assert [o.name for o in proto.graph.output] == ["probabilities", "labels"]
        _assert_proba(got[0], model, X, 1e-12)
        assert list(got[1]) == list(model.predict_classes(X))
        got32 = onnx_session(to_onnx(model, dtype="float32")).run(None, {"X": X.astype(np.float32)})
        _assert_proba(got32[0].astype(np.float64), model, X, 1e-4)


def test_the_bounds_can_fail():
    model = _bayes_model("tanh", "identity", seed=1)
    X = np.random.default_rng(0).normal(size=(30, 3))
    std = model.predict(X, return_std=True)[1]
    std[4, 1] *= 1 + 1e-10
    with pytest.raises(AssertionError, match="1 std off"):
        _assert_std(std, model, X, 1e-12)
    clf = _bayes_model("tanh", "softmax", seed=1, classes=list("abc"), sizes=(3, 4, 3))
    proba = clf.predict_proba(X)
    proba[7, 2] *= 1 + 1e-10
    with pytest.raises(AssertionError, match="1 probabilities off"):
        _assert_proba(proba, clf, X, 1e-12)


def test_moderation_and_std_are_large_enough_to_matter():
    # Otherwise the agreement above would say little about the posterior's part.
    X = np.random.default_rng(2).normal(size=(150, 3)) * 3
    reg = _synthetic(SYNTHETIC[[c[0] for c in SYNTHETIC].index("r_tanh_identity")])
    std = reg.predict(X, return_std=True)[1]
    noise = np.sqrt(1.0 / reg.posterior.beta) * reg.y_scale
    assert np.median(std / noise) > 1.5
    clf = _synthetic(SYNTHETIC[-1])
    raw = qio.Model(clf.net, clf.x_offset, clf.x_scale, classes=clf.classes).predict_proba(X)
    assert np.max(np.abs(clf.predict_proba(X) - raw)) > 0.05


# -- C ---------------------------------------------------------------------------------------------
def test_c_std_and_moderation_equal_quasinet_for_every_activation(tmp_path):
    # Narrower than in the ONNX test: 40 models with their factors in one file compile in about 2 s
    # without optimisation (the compile flags the exports promise; -O2 takes 3 times longer).
    models = {case[0]: _synthetic(case, widths=(4, 3)) for case in SYNTHETIC}
    source = "".join(c_source(m, name=n) for n, m in models.items())
    lib = ctypes.CDLL(str(compile_c(tmp_path, source, "all", optimise=False)))
    X = np.random.default_rng(5).normal(size=(103, 3)) * 3  # not a multiple of the C row block
    for name, model in models.items():
        n_out = model.net.layer_sizes[-1]
        if model.classes is None:
            Y, S = _c_predict(lib, name, X, n_out, std=True)
            np.testing.assert_array_equal(Y, _c_predict(lib, name, X, n_out))
            np.testing.assert_allclose(Y, model.predict(X), rtol=1e-13, atol=1e-13)
            _assert_std(S, model, X, 1e-13)
            assert hasattr(lib, f"{name}_input_jacobian")
        else:
            _assert_proba(_c_predict(lib, name, X, n_out), model, X, 1e-13)
            # The network's Jacobian does not describe moderated probabilities.
            assert not hasattr(lib, f"{name}_input_jacobian") and not hasattr(lib, f"{name}_predict_std")
    # n = 0 touches nothing.
    Y0 = np.full((1, 2), 7.0)
    lib.r_tanh_identity_predict_std(Y0.ctypes.data_as(DP), ctypes.c_size_t(0), Y0.ctypes.data_as(DP),
                                    Y0.ctypes.data_as(DP))
    lib.c3_tanh_predict(Y0.ctypes.data_as(DP), ctypes.c_size_t(0), Y0.ctypes.data_as(DP))
    assert (Y0 == 7.0).all()


def test_c_factor_is_exact_hex_and_return_std_false_drops_it(tmp_path):
    model = _bayes_model("relu", "identity", seed=3)
    text = c_source(model, name="m")
    block = text[text.index("m_Lcols["):]
    block = block[: block.index("};")]
    literals = [float.fromhex(s) for s in re.findall(r"-?0x[0-9a-f]+\.?[0-9a-f]*p[+-]\d+", block)]
    L = covariance_factor(model.posterior.covariance)
    P = L.shape[0]
    assert literals == [L[p, j] for j in range(P) for p in range(j, P)]  # bit for bit, column by column
    assert "malloc" not in text and "predict_std" in text
    lean = c_source(model, name="m", return_std=False)
    assert "m_Lcols[" not in lean and "predict_std" not in lean
    assert lean == c_source(qio.Model(model.net, model.x_offset, model.x_scale, model.y_offset, model.y_scale),
                            name="m")


@pytest.mark.parametrize("sizes,bias", [((3, 2), True), ((3, 2), False), ((3, 4, 2), False), ((3, 4, 4, 4, 2), True)])
def test_other_shapes_with_a_posterior(tmp_path, sizes, bias):
    # No hidden layer, no biases, three hidden layers: the backward pass and the layout.
    X = np.random.default_rng(3).normal(size=(40, 3))
    reg = _bayes_model("softplus", "tanh", seed=11, sizes=sizes)
    clf = _bayes_model("tanh", "softmax", seed=12, sizes=sizes[:-1] + (3,), classes=["a", "b", "c"])
    models = []
    for m in (reg, clf):
        net = qn.Network(list(m.net.layer_sizes), activation=m.net.activation,
                         output_activation=m.net.output_activation, loss=m.net.loss, bias=bias, seed=1)
        net.params[...] *= 2
        P = net.n_params
        post = Posterior(covariance=_covariance(P, np.random.default_rng(P)), beta=m.posterior.beta,
                         alpha=np.ones(1), group_names=parameter_groups(net, False)[1], gamma=1.0,
                         log_evidence=0.0, ard=False, moderate=m.posterior.moderate)
        models.append(qio.Model(net, m.x_offset, m.x_scale, m.y_offset, m.y_scale, classes=m.classes,
                                posterior=post))
    reg, clf = models
    _assert_std(onnx_session(to_onnx(reg)).run(None, {"X": X})[1], reg, X, 1e-12)
    _assert_proba(onnx_session(to_onnx(clf)).run(None, {"X": X})[0], clf, X, 1e-12)
    lib = ctypes.CDLL(str(compile_c(tmp_path, c_source(reg, name="r") + c_source(clf, name="c"), "shapes")))
    _assert_std(_c_predict(lib, "r", X, 2, std=True)[1], reg, X, 1e-13)
    _assert_proba(_c_predict(lib, "c", X, 3), clf, X, 1e-13)


# -- fitted estimators, as the user gets them ------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 3)) * [1.0, 10.0, 0.1]
    y = np.sin(X[:, 0]) + X[:, 1] / 10 + 0.1 * rng.normal(size=60)
    y2 = np.where(X[:, 0] + 0.5 * rng.normal(size=60) > 0, "yes", "no")
    y3 = np.select([X[:, 0] > 0.5, X[:, 1] > 0], ["high", "mid"], "low")
    out = {}
    for act in HIDDEN:
        # The classifiers moderate (not the default): their exports carry the posterior too.
        kw = dict(hidden_layer_sizes=(3,), activation=act, restarts=0, random_state=0)
        out[act] = (QuasiNetRegressor(**kw).fit(X, y), QuasiNetClassifier(moderate=True, **kw).fit(X, y2),
                    QuasiNetClassifier(moderate=True, **kw).fit(X, y3))
    return X, out


def test_default_estimators_export_as_they_predict(fitted, tmp_path):
    X, estimators = fitted
    sources = []
    for act, (reg, clf2, clf3) in estimators.items():
        assert reg.method_ == "BR" and clf2.moderate and clf3.moderate
        mean, std = reg.predict(X, return_std=True)
        got_mean, got_std = onnx_session(to_onnx(reg)).run(None, {"X": X})
        np.testing.assert_allclose(got_mean.ravel(), mean, rtol=1e-12, atol=1e-12)
        _assert_std(got_std, reg.to_model(), X, 1e-12)
        for clf in (clf2, clf3):
            proba, labels = onnx_session(to_onnx(clf)).run(None, {"X": X})
            _assert_proba(proba, clf.to_model(), X, 1e-12)
            np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-11, atol=1e-15)
            assert list(labels) == list(clf.predict(X))
        sources += [c_source(reg, name=f"r_{act}"), c_source(clf2, name=f"b_{act}"), c_source(clf3, name=f"m_{act}")]
    lib = ctypes.CDLL(str(compile_c(tmp_path, "".join(sources), "fitted", optimise=False)))
    for act, (reg, clf2, clf3) in estimators.items():
        Y, S = _c_predict(lib, f"r_{act}", X, 1, std=True)
        np.testing.assert_allclose(Y.ravel(), reg.predict(X), rtol=1e-13, atol=1e-13)
        _assert_std(S, reg.to_model(), X, 1e-13)
        _assert_proba(_c_predict(lib, f"b_{act}", X, 1), clf2.to_model(), X, 1e-13)
        _assert_proba(_c_predict(lib, f"m_{act}", X, 3), clf3.to_model(), X, 1e-13)


def test_return_std_requests(fitted):
    X, estimators = fitted
    reg, clf2, _ = estimators["tanh"]
    assert [o.name for o in to_onnx(reg, return_std=False).graph.output] == ["predictions"]
    with pytest.raises(ValueError, match="return_std is for regression models"):
        to_onnx(clf2, return_std=True)
    with pytest.raises(ValueError, match="return_std is for regression models"):
        c_source(clf2, return_std=True)
    with pytest.raises(ValueError, match="return_std needs a model with a posterior"):
        to_onnx(qn.Network([2, 3, 1], seed=0), return_std=True)
    with pytest.raises(TypeError, match="return_std must be a bool or None, got str"):
        to_onnx(reg, return_std="yes")
    # A classifier without moderation exports its network's own probabilities, without the factor.
    clf = QuasiNetClassifier(**{**clf2.get_params(), "moderate": False}).fit(X, clf2.predict(X))
    proto = to_onnx(clf)
    assert not any(i.name.startswith("L_") for i in proto.graph.initializer)
    np.testing.assert_allclose(onnx_session(proto).run(None, {"X": X})[0], clf.predict_proba(X), rtol=1e-12,
                               atol=1e-16)


def test_size_limit_is_refused_with_a_clear_message():
    n = MAX_POSTERIOR_PARAMS // 3  # 3 inputs, n hidden units, 1 output: 5 n + 1 parameters
    net = qn.Network([3, n, 1], seed=0)
    names = parameter_groups(net, False)[1]
    post = Posterior(covariance=np.eye(net.n_params), beta=1.0, alpha=np.ones(1), group_names=names, gamma=1.0,
                     log_evidence=0.0, ard=False)
    model = qio.Model(net)
    model.posterior = post  # valid, and Model's check of a 2,000 x 2,000 matrix costs a second here
    P = net.n_params
    assert P > MAX_POSTERIOR_PARAMS
    msg = (f"an export of the predictive standard deviation \\(return_std=False exports the mean only\\) stores a "
           f"{P} x {P} covariance factor; the limit is {MAX_POSTERIOR_PARAMS} parameters")
    with pytest.raises(ValueError, match=msg):
        to_onnx(model)
    with pytest.raises(ValueError, match=msg):
        c_source(model)
    assert [o.name for o in to_onnx(model, return_std=False).graph.output] == ["predictions"]


# -- the covariance factor -------------------------------------------------------------------------
@pytest.mark.parametrize("rank", [None, 20, 1])
def test_covariance_factor_is_lower_triangular_and_reproduces_the_covariance(rank):
    C = _covariance(40, np.random.default_rng(0), rank)
    L = covariance_factor(C)
    assert np.array_equal(L, np.tril(L))
    np.testing.assert_allclose(L @ L.T, C, rtol=0, atol=1e-14 * np.abs(C).max())
    if rank is None:
        np.testing.assert_array_equal(L, np.linalg.cholesky(C))


def test_a_semidefinite_posterior_exports_and_an_indefinite_one_is_refused():
    model = _bayes_model("tanh", "identity", seed=4, rank=10)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(model.posterior.covariance)
    X = np.random.default_rng(1).normal(size=(50, 3))
    _assert_std(onnx_session(to_onnx(model)).run(None, {"X": X})[1], model, X, 1e-12)
    bad = np.diag([1.0, 1.0, -0.5])
    with pytest.raises(ValueError, match=r"the posterior covariance is not positive semi-definite \(eigenvalue -0.5"):
        covariance_factor(bad)


# -- text from data: one escaping routine ---------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.text())
def test_escape_text_round_trips_and_is_safe(text):
    safe = escape_text(text)
    assert unescape_text(safe) == text
    assert re.fullmatch(r'[\x20-\x7e]*', safe) and not set('*?"') & set(safe)
    assert re.fullmatch(r'(?:[^\\]|\\\\|\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\U[0-9a-f]{8})*', safe)


def test_escape_text_examples():
    assert escape_text("plain text: a-b (c)") == "plain text: a-b (c)"
    assert (escape_text('*/ x ??/ "q" \\ \n\x00é🐍')
            == "\\x2a/ x \\x3f\\x3f/ \\x22q\\x22 \\\\ \\x0a\\x00\\xe9\\U0001f40d")
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        escape_text(b"x")


def _injection(marker):
    """Issue 20's label: closes the comment and defines a constructor that runs a command on load."""
    return ('*/ int system(const char*); __attribute__((constructor)) static void pwn(void)'
            f'{{system("touch {marker}");}} /*')


def _payloads(marker):
    return [
        _injection(marker),
        'line\n#include "/etc/passwd"\n*/ static int x = 1; /*',
        "tri ??/\nint y = 2; ??/",
        "back\\slash\\\n\\",
        "nul\x00byte",
        "naïve ünïcödé 🐍 \u2028 \ud7ff",
    ]


def _quoted(line):
    return [unescape_text(s) for s in re.findall(r'"([^"]*)"', line)]


def test_hostile_names_give_c_that_compiles_and_does_nothing(tmp_path):
    marker = tmp_path / "pwned"
    labels = _payloads(marker)
    clf = _bayes_model("tanh", "softmax", seed=5, classes=labels, sizes=(3, 4, len(labels)))
    clf = qio.Model(clf.net, clf.x_offset, clf.x_scale, inputs=labels[:3], targets=labels[3:], classes=labels,
                    posterior=clf.posterior)
    reg = _bayes_model("relu", "identity", seed=6)
    reg = qio.Model(reg.net, reg.x_offset, reg.x_scale, reg.y_offset, reg.y_scale, inputs=labels[3:],
                    targets=labels[:2], posterior=reg.posterior)
    binary = qio.Model(qn.Network([3, 2, 1], output_activation="sigmoid", loss="binary_crossentropy", seed=1),
                       classes=[labels[0], 7])
    for stem, model in (("clf", clf), ("reg", reg), ("binary", binary)):
        path = to_c(model, tmp_path / f"{stem}.c", name=stem)
        assert path == str(tmp_path / f"{stem}.c")
        raw = (tmp_path / f"{stem}.c").read_bytes()
        assert raw.isascii() and b"\x00" not in raw and b"??" not in raw and b"\\\n" not in raw
        source = raw.decode("ascii")
        # The only comment closers are the generator's own: at the end of a comment line.
        for line in source.splitlines():
            assert "*/" not in line or line.rstrip().endswith("*/"), line
        for key, names in (("Inputs", model.inputs), ("Targets", model.targets)):
            if names is not None:
                assert _quoted(next(ln for ln in source.splitlines() if ln.startswith(f" * {key}:"))) == names
        lib_path = compile_c(tmp_path, source, stem)
        symbols = subprocess.run(["nm", "-D", str(lib_path)], capture_output=True, text=True, check=True).stdout
        assert "system" not in symbols and "pwn" not in symbols
        lib = ctypes.CDLL(str(lib_path))
        X = np.random.default_rng(0).normal(size=(5, 3))
        if model.posterior is not None and model.classes is None:
            _c_predict(lib, stem, X, model.net.layer_sizes[-1], std=True)
        else:
            _c_predict(lib, stem, X, model.net.layer_sizes[-1])
    assert not marker.exists()
    classes_line = next(ln for ln in c_source(clf, name="c").splitlines() if "Classifier: classes" in ln)
    assert _quoted(classes_line) == labels


def test_hostile_names_are_plain_text_in_onnx_metadata(tmp_path):
    labels = _payloads(tmp_path / "pwned")
    base = _bayes_model("sigmoid", "softmax", seed=8, classes=labels, sizes=(3, 4, len(labels)))
    info = {"note": labels[0], labels[1]: [labels[4]]}
    model = qio.Model(base.net, base.x_offset, base.x_scale, inputs=labels[:3], targets=[labels[5]], classes=labels,
                      info=info, posterior=base.posterior)
    proto = onnx.load(to_onnx(model, tmp_path / "m.onnx") and tmp_path / "m.onnx")
    props = {p.key: p.value for p in proto.metadata_props}
    assert set(props) == {"inputs", "targets", "classes", "info"}
    for value in props.values():
        assert re.fullmatch(r"[\x20-\x7e]*", value) and "*/" not in value
    assert _quoted(props["inputs"]) == labels[:3]
    assert _quoted(props["targets"]) == [labels[5]]
    assert _quoted(props["classes"]) == labels
    assert json.loads(_quoted(props["info"])[0]) == info
    X = np.random.default_rng(1).normal(size=(40, 3))
    proba, got = onnx_session(proto).run(None, {"X": X})
    _assert_proba(proba, model, X, 1e-12)
    assert list(got) == list(model.predict_classes(X))  # the labels themselves travel unescaped


_NET3 = qn.Network([2, 3], output_activation="softmax", loss="softmax_crossentropy", seed=0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(), min_size=3, max_size=3, unique=True), st.lists(st.text(), min_size=2, max_size=2),
       st.text())
def test_fuzzed_names_stay_inside_the_comment_and_the_metadata(classes, inputs, target):
    # Without compiling (the hostile-name test above compiles): what makes C safe is that the
    # names sit on comment lines that hold no comment delimiter, trigraph, splice or non-ASCII.
    model = qio.Model(_NET3, inputs=inputs, targets=[target], classes=classes)
    source = c_source(model, name="f")
    assert source.isascii() and "??" not in source and "\\\n" not in source and "\x00" not in source
    head, code = source.split(" */\n", 1)
    assert head.startswith("/* ") and "*/" not in head and "/*" not in head[2:]
    lines = head.splitlines()
    assert _quoted(next(ln for ln in lines if ln.startswith(" * Inputs:"))) == inputs
    assert _quoted(next(ln for ln in lines if ln.startswith(" * Targets:"))) == [target]
    assert _quoted(next(ln for ln in lines if ln.startswith(" * Classifier:"))) == classes
    # The code after the comment does not depend on the names at all.
    assert code == c_source(qio.Model(_NET3, classes=["a", "b", "c"]), name="f").split(" */\n", 1)[1]
    props = {p.key: p.value for p in to_onnx(model).metadata_props}
    assert all(re.fullmatch(r"[\x20-\x7e]*", v) for v in props.values())
    assert _quoted(props["classes"]) == classes and _quoted(props["inputs"]) == inputs


def test_numeric_classes_are_written_as_numbers():
    model = _bayes_model("tanh", "sigmoid", seed=2, classes=[0.5, -3], sizes=(3, 2, 1))
    assert " * Classifier: classes 0.5, -3; one output" in c_source(model)
    props = {p.key: p.value for p in to_onnx(model).metadata_props}
    assert props["classes"] == "0.5, -3"


# -- files: atomic, never half-written -------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["c", "onnx"])
def test_interrupted_or_failed_export_leaves_the_previous_file(tmp_path, monkeypatch, fmt):
    model = _bayes_model("tanh", "identity", seed=9)
    path = tmp_path / f"m.{fmt}"
    path.write_bytes(b"previous content")

    def export(obj):
        return to_c(obj, path) if fmt == "c" else to_onnx(obj, path)

    def interrupt(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, "replace", interrupt)
        with pytest.raises(KeyboardInterrupt):
            export(model)
    assert path.read_bytes() == b"previous content" and sorted(os.listdir(tmp_path)) == [path.name]
    broken = model.net.copy()
    broken.params[5] = np.nan
    with pytest.raises(ValueError, match=r"the network's parameters holds nan \(entry 5\)"):
        export(broken)
    assert path.read_bytes() == b"previous content" and sorted(os.listdir(tmp_path)) == [path.name]
    # A non-ASCII label once failed half way through the C file; now it is escaped.
    export(qio.Model(qn.Network([2, 1], output_activation="sigmoid", loss="binary_crossentropy", seed=0),
                     classes=["é", "ü"]))
    assert path.read_bytes() != b"previous content" and sorted(os.listdir(tmp_path)) == [path.name]


# -- numbers that cannot be exported ---------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_parameters_are_refused(tmp_path, bad):
    net = qn.Network([2, 3, 1], seed=0)
    net.params[4] = bad
    for export in (lambda: to_onnx(net), lambda: to_onnx(net, dtype="float32"), lambda: to_c(net, tmp_path / "m.c"),
                   lambda: to_onnx(qio.Model(net, [0.0, 1.0], [1.0, 2.0]))):
        with pytest.raises(ValueError, match=f"the network's parameters holds {bad!r} \\(entry 4\\): a model with NaN "
                                             "or infinite numbers cannot be exported"):
            export()
    assert not (tmp_path / "m.c").exists()


@pytest.mark.parametrize("where,value,becomes", [
    ("weight", 1e300, "infinity"), ("weight", -4e38, "infinity"), ("weight", 1e-50, "zero"),
    ("x_scale", 1e-60, "zero"), ("y_offset", 1e39, "infinity"),
])
def test_float32_refuses_what_float32_cannot_hold(where, value, becomes):
    net = qn.Network([2, 3, 1], seed=0)
    x_scale, y_offset = np.ones(2), np.zeros(1)
    if where == "weight":
        net.params[2] = value
        name, entry = "the network's parameters", 2
    elif where == "x_scale":
        x_scale[1] = value
        name, entry = "x_scale", 1
    else:
        y_offset[0] = value
        name, entry = "y_offset", 0
    model = qio.Model(net, np.zeros(2), x_scale, y_offset, np.ones(1))
    msg = (f"{name} holds {value!r} (entry {entry}), which float32 cannot represent (it would become {becomes}); "
           "export with dtype='float64'")
    with pytest.raises(ValueError, match=re.escape(msg)):
        to_onnx(model, dtype="float32")
    to_onnx(model)  # float64 holds it
    # Subnormal float32 values are representable: kept.
    net.params[2] = 1e-40
    to_onnx(qio.Model(net), dtype="float32")


# -- CLI -------------------------------------------------------------------------------------------
def _run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_cli_export_of_bayesian_models(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 2))
    payload = _injection(tmp_path / "x")
    label = np.where(X[:, 0] > 0, payload, "other")
    target = np.sin(X[:, 0]) + 0.1 * rng.normal(size=60)
    data = tmp_path / "d.csv"
    lines = ["a,b\u00e9,label,t"] + [f'{float(x0)!r},{float(x1)!r},"{lab.replace(chr(34), 2 * chr(34))}",{float(t)!r}'
                                      for (x0, x1), lab, t in zip(X, label, target)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = ["--method", "BR", "--hidden", "2", "--val-fraction", "0", "--progress", "never"]
    rc, out, err = _run(capsys, "train", data, "--target", "label", "--inputs", "a,b\u00e9", "--loss",
                        "binary_crossentropy", "--moderate", "--out", tmp_path / "clf.qnet", *common)
    assert rc == 0, err
    rc, out, err = _run(capsys, "train", data, "--target", "t", "--inputs", "a,b\u00e9", "--out", tmp_path / "reg.qnet",
                        *common)
    assert rc == 0, err
    clf, reg = qio.load_model(tmp_path / "clf.qnet"), qio.load_model(tmp_path / "reg.qnet")
    assert clf.moderated and reg.posterior is not None
    rc, out, err = _run(capsys, "export", tmp_path / "clf.qnet", "--format", "c", "--name", "clf", "--out",
                        tmp_path / "clf.c")
    assert rc == 0 and "with moderated probabilities" in out
    rc, out, err = _run(capsys, "export", tmp_path / "reg.qnet", "--format", "c", "--name", "reg", "--out",
                        tmp_path / "reg.c")
    assert rc == 0 and "with the predictive standard deviation" in out
    rc, out, err = _run(capsys, "export", tmp_path / "reg.qnet", "--format", "c", "--name", "lean", "--no-std",
                        "--out", tmp_path / "lean.c")
    assert rc == 0 and "standard deviation" not in out
    source = "".join((tmp_path / f"{s}.c").read_text(encoding="ascii") for s in ("clf", "reg", "lean"))
    assert "lean_predict_std" not in source
    lib = ctypes.CDLL(str(compile_c(tmp_path, source, "cli")))
    assert not (tmp_path / "x").exists()
    _assert_proba(_c_predict(lib, "clf", X, 1), clf, X, 1e-13)
    Y, S = _c_predict(lib, "reg", X, 1, std=True)
    np.testing.assert_allclose(Y, reg.predict(X), rtol=1e-13, atol=1e-13)
    _assert_std(S, reg, X, 1e-13)
    rc, out, err = _run(capsys, "export", tmp_path / "reg.qnet", "--format", "onnx", "--out", tmp_path / "reg.onnx")
    assert rc == 0
    sess = ort.InferenceSession(str(tmp_path / "reg.onnx"), providers=["CPUExecutionProvider"])
    _assert_std(sess.run(None, {"X": X})[1], reg, X, 1e-12)


def test_cli_export_to_a_directory_is_a_clear_error(tmp_path, capsys):
    qio.Model(qn.Network([2, 3, 1], seed=0)).save(tmp_path / "m.qnet")
    (tmp_path / "out").mkdir()
    for fmt in ("c", "onnx"):
        rc, out, err = _run(capsys, "export", tmp_path / "m.qnet", "--format", fmt, "--out", tmp_path / "out")
        assert rc == 1 and out == ""
        assert err == f"quasinet export: error: cannot write {tmp_path / 'out'}: it is a directory\n"
    assert os.listdir(tmp_path / "out") == [] and sorted(os.listdir(tmp_path)) == ["m.qnet", "out"]
