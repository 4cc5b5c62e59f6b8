"""quasinet.export.c of a committee of networks: the compiled file (ctypes) against what
quasinet.io.Model computes for the committee (predict, predict(return_std=True), predict_proba,
input_jacobian), for hand-made committees (networks of different widths and depths, hand-made
posteriors, one beta or one per output) and for fitted estimators.

Tolerances: 1e-12 relative. The standard deviation is compared purely relatively (it is at
least sqrt(1/beta) of every member). Means, probabilities and Jacobian entries are sums of terms
of both signs, so an entry near zero can only be compared relative to the size the same entry
takes over the rows: |got - want| <= 1e-12 (|want| + max over the rows of |want|).
"""

import ctypes
import dataclasses
import re

import numpy as np
import pytest

import quasinet as qn
from quasinet import io as qio
from quasinet.evidence import parameter_groups
from quasinet.export import covariance_factor, to_c
from quasinet.export.c import c_source
from quasinet.posterior import Posterior
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor
from export_helpers import load_c

DP = ctypes.POINTER(ctypes.c_double)
RTOL = 1e-12
HEX = r"-?0x[0-9a-f]+\.?[0-9a-f]*p[+-]\d+"
X = np.random.default_rng(11).normal(size=(103, 3)) * 2  # 103: not a multiple of the C row block


def _member(sizes, hidden, output, seed, beta, moderate):
    """A network of its own width and depth, nudged off its initial weights, and a posterior
    with a covariance of condition 1e3."""
    rng = np.random.default_rng(seed)
    loss = {"sigmoid": "binary_crossentropy", "softmax": "softmax_crossentropy"}.get(output, "mse")
    net = qn.Network(list(sizes), activation=hidden, output_activation=output, loss=loss, seed=seed)
    net.params[...] += 0.5 * rng.normal(size=net.n_params)
    P = net.n_params
    Q, _ = np.linalg.qr(rng.normal(size=(P, P)))
    names = parameter_groups(net, False)[1]
    post = Posterior(covariance=(Q * np.geomspace(1e-4, 1e-1, P)) @ Q.T, beta=beta, alpha=np.ones(len(names)),
                     group_names=names, gamma=1.0, log_evidence=-float(seed), ard=False, moderate=moderate)
    return net, post


def _committee(hidden, output, shapes, betas, seed, classes=None, moderate=False, scaled=True):
    """A Model averaging one member per entry of ``shapes`` (the hidden layer sizes of each)."""
    n_out = 2 if classes is None else 1 if len(classes) == 2 else len(classes)
    members = [_member((3, *h, n_out), hidden, output, seed + k, b, moderate)
               for k, (h, b) in enumerate(zip(shapes, betas))]
    rng = np.random.default_rng(seed)
    kw = dict(x_offset=rng.normal(size=3), x_scale=rng.uniform(0.5, 2.0, 3)) if scaled else {}
    if classes is None and scaled:
        kw.update(y_offset=rng.normal(size=n_out), y_scale=rng.uniform(0.5, 3.0, n_out))
    (net, post), others = members[0], members[1:]
    return qio.Model(net, classes=classes, posterior=post, method="BR", committee=others, **kw)


HAND_MADE = {
    # One beta per output on some members, one for both on another; the first member has no
    # hidden layer (its softplus is needed by the others only), the last two hidden layers.
    "reg": lambda: _committee("softplus", "identity", [(), (5,), (4, 3)], [[4.0, 0.25], 9.0, [2.0, 1.0]], 1),
    # A saturating output (its derivative enters the standard deviation), no scaling, 4 members.
    "reg_tanh": lambda: _committee("tanh", "tanh", [(6,), (2,), (3,), (5,)], [20.0, 5.0, 50.0, 10.0], 2,
                                   scaled=False),
    "bin_mod": lambda: _committee("sigmoid", "sigmoid", [(4,), (2,), ()], [1.0] * 3, 3, ["no", "yes"], True),
    "bin": lambda: _committee("relu", "sigmoid", [(4,), (2,)], [1.0] * 2, 4, ["no", "yes"]),
    "soft_mod": lambda: _committee("tanh", "softmax", [(4,), (6, 2)], [1.0] * 2, 5, ["x", "y", "z"], True),
    "soft": lambda: _committee("tanh", "softmax", [(4,), (6,), (3,)], [1.0] * 3, 6, ["x", "y", "z"]),
}


def _call(lib, function, X, *shapes):
    """Call ``function(X, n, out...)`` with output arrays of the given shapes, filled with NaN first."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    outs = [np.full(shape, np.nan) for shape in shapes]
    getattr(lib, function)(X.ctypes.data_as(DP), ctypes.c_size_t(X.shape[0]), *(o.ctypes.data_as(DP) for o in outs))
    return outs if len(outs) > 1 else outs[0]


def _assert_close(got, want, what):
    """|got - want| <= RTOL (|want| + the largest |want| of that entry over the rows)."""
    assert got.shape == want.shape, (what, got.shape, want.shape)
    err = np.abs(got - want)
    ok = err <= RTOL * (np.abs(want) + np.abs(want).max(axis=0))
    assert ok.all(), f"{what}: {(~ok).sum()} entries off, worst {err[~ok].max():.3g}"


def _assert_equals_model(lib, name, model):
    """Every function the file defines against the model's own; which functions it defines."""
    n_out = model.net.layer_sizes[-1]
    if model.classes is None:
        _assert_close(_call(lib, f"{name}_predict", X, (len(X), n_out)), model.predict(X), f"{name} predict")
        Y, S = _call(lib, f"{name}_predict_std", X, (len(X), n_out), (len(X), n_out))
        mean, std = model.predict(X, return_std=True)
        _assert_close(Y, mean, f"{name} predict_std's mean")
        np.testing.assert_allclose(S, std, rtol=RTOL, atol=0, err_msg=f"{name} std")
    else:
        assert not hasattr(lib, f"{name}_predict_std")
        proba = model.predict_proba(X)
        _assert_close(_call(lib, f"{name}_predict", X, (len(X), n_out)), proba[:, -n_out:], f"{name} proba")
    if model.moderated:
        assert not hasattr(lib, f"{name}_input_jacobian")  # the networks' Jacobian is not the moderated one
    else:
        J = _call(lib, f"{name}_input_jacobian", X, (len(X), n_out, 3))
        _assert_close(J, model.input_jacobian(X), f"{name} input_jacobian")


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory):
    models = {name: make() for name, make in HAND_MADE.items()}
    source = "".join(c_source(m, name=name) for name, m in models.items())
    return models, load_c(tmp_path_factory.mktemp("hand_made"), source, "all")


def test_c_committee_equals_the_model(hand_made):
    models, lib = hand_made
    for name, model in models.items():
        assert len(model.members) > 1
        assert ctypes.c_size_t.in_dll(lib, f"{name}_n_inputs").value == 3
        assert ctypes.c_size_t.in_dll(lib, f"{name}_n_outputs").value == model.net.layer_sizes[-1]
        _assert_equals_model(lib, name, model)
    # The members' spread enters the standard deviation: the mixture's is wider than the mean
    # member's alone, somewhere.
    model = models["reg"]
    std = model.predict(X, return_std=True)[1]
    alone = np.mean([qio.Model(m, model.x_offset, model.x_scale, model.y_offset, model.y_scale,
                               posterior=p).predict(X, return_std=True)[1] for m, p in model.members], axis=0)
    assert np.max(std / alone) > 1.1
    # n = 0 touches nothing.
    Y0 = np.full((1, 3), 7.0)
    for function in ("reg_predict_std", "soft_mod_predict", "reg_input_jacobian"):
        getattr(lib, function)(*([Y0.ctypes.data_as(DP), ctypes.c_size_t(0)]
                                 + [Y0.ctypes.data_as(DP)] * (2 if function.endswith("std") else 1)))
    assert (Y0 == 7.0).all()


def test_the_first_member_alone_would_fail(hand_made):
    # What an export of model.net and model.posterior alone would compute is far from the
    # committee's answer, for every function: the comparisons above would catch it.
    models, lib = hand_made
    for name, model in models.items():
        first = qio.Model(model.net, model.x_offset, model.x_scale, model.y_offset, model.y_scale,
                          classes=model.classes, posterior=model.posterior)
        n_out = model.net.layer_sizes[-1]
        if model.classes is None:
            Y, S = _call(lib, f"{name}_predict_std", X, (len(X), n_out), (len(X), n_out))
            mean, std = first.predict(X, return_std=True)
            assert np.max(np.abs(Y - mean)) > 1e-3 * np.max(np.abs(mean)), name
            assert np.max(np.abs(S / std - 1)) > 1e-3, name
        else:
            Y = _call(lib, f"{name}_predict", X, (len(X), n_out))
            assert np.max(np.abs(Y - first.predict_proba(X)[:, -n_out:])) > 1e-3, name
        if not model.moderated:
            J = _call(lib, f"{name}_input_jacobian", X, (len(X), n_out, 3))
            assert np.max(np.abs(J - first.input_jacobian(X))) > 1e-3 * np.max(np.abs(J)), name


def test_committee_file_holds_each_member_exactly_once():
    model = HAND_MADE["reg"]()
    text = c_source(model, name="m")
    header = text[: text.index("*/")]
    assert "a committee of 3 quasinet networks" in header
    for k, (net, _) in enumerate(model.members):
        assert f"member {k}: network {'-'.join(map(str, net.layer_sizes))}, {net.n_params} parameters." in header
    # The stack promise: that of the largest member exported alone.
    stacks = [int(re.search(r"Stack use per call: at most about (\d+) bytes", t).group(1))
              for t in [text] + [c_source(qio.Model(m, model.x_offset, model.x_scale, model.y_offset, model.y_scale,
                                                    posterior=p), name="one") for m, p in model.members]]
    assert stacks[0] == max(stacks[1:])
    # Every member's weights, factor and 1/beta bit for bit, under its own prefix, and nothing
    # else of size P^2: the file's numbers are the members' own plus the scaling.
    for k, (net, post) in enumerate(model.members):
        L = covariance_factor(post.covariance)
        P = net.n_params
        assert _literals(text, f"m_m{k}_Lcols") == [L[p, j] for j in range(P) for p in range(j, P)]
        weights = [_literals(text, f"m_m{k}_W{l}") + _literals(text, f"m_m{k}_b{l}")
                   for l in range(len(net.layer_sizes) - 1)]
        assert sum(weights, []) == net.params.tolist()
        noise = np.atleast_1d(1.0 / np.asarray(post.beta)).tolist()
        assert _literals(text, f"m_m{k}_noise_var", scalar=np.ndim(post.beta) == 0) == noise
    every = [float.fromhex(s) for s in re.findall(HEX, text[text.index("*/"):])]
    sizes = [(net.n_params, 1 if np.ndim(p.beta) == 0 else 2) for net, p in model.members]
    assert len(every) == sum(P + P * (P + 1) // 2 + b for P, b in sizes) + 3 + 3 + 2 + 2  # + the scaling
    # Only the public symbols are external; the members' are static.
    external = re.findall(r"^(?:void|const size_t) (\w+)", text, flags=re.M)
    assert external == ["m_n_inputs", "m_n_outputs", "m_predict", "m_predict_std", "m_input_jacobian"]
    # No heap, no mutable state: every file-scope static that is not a function is const.
    assert "malloc" not in text and not re.findall(r"^static (?!const )[^(]*$", text, flags=re.M)


def _literals(text, symbol, scalar=False):
    """The hex literals of ``static const double symbol[...] = {...};`` (or ``symbol = x;``), [] if absent."""
    if scalar:
        match = re.search(rf"static const double {symbol} = ({HEX});", text)
        return [float.fromhex(match.group(1))]
    match = re.search(rf"static const double {symbol}\[\d+\] = \{{(.*?)\}};", text, flags=re.S)
    return [] if match is None else [float.fromhex(s) for s in re.findall(HEX, match.group(1))]


def test_committee_without_std_and_bad_requests(tmp_path):
    model = HAND_MADE["reg"]()
    lean = c_source(model, name="m", return_std=False)
    assert "Lcols" not in lean and "noise_var" not in lean and "predict_std" not in lean
    lib = load_c(tmp_path, lean, "lean")
    _assert_close(_call(lib, "m_predict", X, (len(X), 2)), model.predict(X), "lean predict")
    _assert_close(_call(lib, "m_input_jacobian", X, (len(X), 2, 3)), model.input_jacobian(X), "lean jacobian")
    with pytest.raises(ValueError, match="return_std is for regression models"):
        c_source(HAND_MADE["soft"](), name="c", return_std=True)
    # A member with a NaN is named, as the first network's would be.
    bad = HAND_MADE["bin"]()
    bad.members[1][0].params[0] = np.nan
    with pytest.raises(ValueError, match="the network's parameters of committee member 1 holds nan"):
        to_c(bad, tmp_path / "bad.c")
    assert not (tmp_path / "bad.c").exists()


def _unmoderated(model):
    """The same committee with its posteriors' ``moderate`` off (new Posterior objects: the
    model given is left as it is)."""
    members = [(m, dataclasses.replace(p, moderate=False)) for m, p in model.members]
    return qio.Model(members[0][0], model.x_offset, model.x_scale, model.y_offset, model.y_scale,
                     inputs=model.inputs, targets=model.targets, classes=model.classes, posterior=members[0][1],
                     method=model.method, committee=members[1:])


# -- fitted estimators, as the user gets them ------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    Xf = rng.normal(size=(90, 3))
    Y = np.column_stack([np.sin(Xf[:, 0]) + 0.1 * rng.normal(size=90), Xf[:, 1] * Xf[:, 2] + 0.3 * rng.normal(size=90)])
    y2 = np.where(Xf[:, 0] + 0.5 * rng.normal(size=90) > 0, "yes", "no")
    y3 = np.select([Xf[:, 0] > 0.5, Xf[:, 1] > 0], ["high", "mid"], "low")
    kw = dict(hidden_layer_sizes=(3,), method="BR", restarts=2, committee=3, random_state=0)
    return (QuasiNetRegressor(**kw).fit(Xf, Y), QuasiNetClassifier(**kw, moderate=True).fit(Xf, y2),
            QuasiNetClassifier(**kw, moderate=True).fit(Xf, y3))


def test_fitted_committees_export_as_they_predict(fitted, tmp_path):
    reg, clf2, clf3 = fitted
    models = {"reg": reg.to_model()}
    for tag, clf in (("bin", clf2), ("soft", clf3)):
        models[f"{tag}_mod"] = clf.to_model()
        models[tag] = _unmoderated(models[f"{tag}_mod"])
    lib = load_c(tmp_path, "".join(c_source(m, name=n) for n, m in models.items()), "fitted")
    for name, model in models.items():
        assert len(model.members) > 1, name
        assert model.moderated == name.endswith("_mod")
        _assert_equals_model(lib, name, model)
    # The estimators' own answers, as the user sees them.
    mean, std = reg.predict(X, return_std=True)
    Y, S = _call(lib, "reg_predict_std", X, (len(X), 2), (len(X), 2))
    _assert_close(Y, mean, "regressor's mean")
    np.testing.assert_allclose(S, std, rtol=RTOL, atol=0)
    _assert_close(_call(lib, "soft_mod_predict", X, (len(X), 3)), clf3.predict_proba(X), "classifier's proba")
