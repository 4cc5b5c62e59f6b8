"""Committee model files (version 6): every member with its posterior, and hostile files refused.

A committee is built here from hand-made networks and posteriors (no fit), so that each check
knows exactly what the file must hold; tests/test_sklearn.py saves a fitted one.
"""

import json
import zipfile

import numpy as np
import pytest

from quasinet import Network, io as qio, modelfile
from quasinet.evidence import parameter_groups
from quasinet.network import GAUSS_NEWTON_MAX_PARAMS
from quasinet.posterior import Posterior, predictive_moments


def _member(hidden, seed, classifier=False, beta=2.0):
    out, loss = ("sigmoid", "binary_crossentropy") if classifier else ("identity", "mse")
    net = Network([2, *hidden, 1], activation="tanh", output_activation=out, loss=loss, seed=seed)
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(net.n_params, net.n_params))
    names = parameter_groups(net, True)[1]
    post = Posterior(covariance=A @ A.T / net.n_params * 0.01, beta=1.0 if classifier else beta,
                     alpha=np.linspace(1.0, 2.0, len(names)), group_names=names, gamma=1.5 + seed,
                     log_evidence=-10.0 - seed, ard=True, moderate=classifier)
    return net, post


def _committee_model(classifier=False, n=3):
    members = [_member((h,), seed, classifier, beta=1.0 + seed) for seed, h in enumerate((2, 3, 1, 4)[:n])]
    (net, post), others = members[0], members[1:]
    kw = dict(classes=["a", "b"]) if classifier else dict(y_offset=[1.0], y_scale=[2.0])
    return qio.Model(net, [0.5, -1.0], [2.0, 3.0], inputs=["u", "v"], posterior=post, method="BR",
                     committee=others, **kw)


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n[:-4]: np.lib.format.read_array(zf.open(n)) for n in zf.namelist()}


def _write(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _edited(path, out, edit_header=None, drop=(), add=None):
    arrays = _members(path)
    h = json.loads(arrays["header"].tobytes().decode())
    if edit_header is not None:
        edit_header(h)
    arrays["header"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
    for key in drop:
        del arrays[key]
    arrays.update(add or {})
    return _write(out, arrays)


def test_round_trip_keeps_every_member_and_predicts_the_mixture(tmp_path):
    model = _committee_model()
    model.save(tmp_path / "c.qnet")
    back = qio.load_model(tmp_path / "c.qnet")
    assert back.file_version == 6 and len(back.members) == 3
    for (a, p), (b, q) in zip(model.members, back.members):
        assert a.layer_sizes == b.layer_sizes and a.params.tobytes() == b.params.tobytes()
        assert p.covariance.tobytes() == q.covariance.tobytes()
        assert (p.beta, p.gamma, p.log_evidence) == (q.beta, q.gamma, q.log_evidence)
    X = np.random.default_rng(1).normal(size=(7, 2))
    # The mixture by hand: the mean of the members' means, the mean second moment minus its square
    # (algebraically the mean of each variance plus its squared distance from the mean).
    Xs = (X - [0.5, -1.0]) / [2.0, 3.0]
    mus = [m.forward(Xs) for m, _ in model.members]
    var = [predictive_moments([(m, p.covariance, p.beta)], Xs)[1] for m, p in model.members]
    mean = np.mean(mus, axis=0)
    mix = np.mean([v + u * u for u, v in zip(mus, var)], axis=0) - mean * mean
    got_mean, got_std = back.predict(X, return_std=True)
    np.testing.assert_allclose(got_mean, mean * 2.0 + 1.0, rtol=1e-14)
    np.testing.assert_allclose(got_std, np.sqrt(mix) * 2.0, rtol=1e-12)
    np.testing.assert_array_equal(back.predict(X), got_mean)
    J = back.input_jacobian(X)
    np.testing.assert_allclose(J, np.mean([m.input_jacobian(Xs) for m, _ in model.members], axis=0)
                               / [2.0, 3.0] * 2.0, rtol=1e-14)
    # A single network still writes the oldest version that holds it.
    qio.Model(model.net, posterior=model.posterior, method="BR").save(tmp_path / "one.qnet")
    assert qio.load_model(tmp_path / "one.qnet").file_version == 2


def test_a_classifier_committee_averages_its_members_probabilities(tmp_path):
    model = _committee_model(classifier=True, n=2)
    model.save(tmp_path / "c.qnet")
    back = qio.load_model(tmp_path / "c.qnet")
    X = np.random.default_rng(2).normal(size=(9, 2))
    one = [qio.Model(m, [0.5, -1.0], [2.0, 3.0], classes=["a", "b"], posterior=p).predict_proba(X)
           for m, p in model.members]
    np.testing.assert_allclose(back.predict_proba(X), np.mean(one, axis=0), rtol=1e-14)


@pytest.mark.parametrize("edit, message", [
    (lambda h: h.update(version=5), r"unknown header keys \['committee'\]"),
    (lambda h: h.update(committee=[]), "committee must be a list of 1 to"),
    (lambda h: h.update(committee={"a": 1}), "committee must be a list of 1 to"),
    (lambda h: h.pop("posterior"), "a committee needs a posterior on every member, the first has none"),
    (lambda h: h["committee"][0].update(extra=1), "committee member 1: must be an object with the keys"),
    (lambda h: h["committee"][0].update(layer_sizes=[3, 3, 1], n_params=16),
     "committee member 1: has 3 inputs and 1 outputs, the first member 2 and 1"),
    (lambda h: h["committee"][0].update(n_params=99), "committee member 1: n_params 99 does not match"),
    (lambda h: h["committee"][1].update(layer_sizes=[2, 10 ** 9, 1]), "committee member 2: layer_sizes must lie in"),
    (lambda h: h["committee"][0]["posterior"].update(beta="x"), "committee member 1: posterior beta must be"),
    (lambda h: h["committee"][0]["posterior"].update(group_names=["w"]), "group_names must be"),
    (lambda h: h["committee"][0]["posterior"].update(moderate=True), "moderate"),
])
def test_hostile_committee_headers_are_refused(tmp_path, edit, message):
    _committee_model().save(tmp_path / "c.qnet")
    bad = _edited(tmp_path / "c.qnet", tmp_path / "bad.qnet", edit)
    with pytest.raises(ValueError, match=message):
        qio.load_model(bad)


def test_committee_members_must_match_the_arrays(tmp_path):
    _committee_model().save(tmp_path / "c.qnet")
    for kw, message in [
        (dict(drop=["params_2"]), r"needs the members \['covariance_1', 'covariance_2', 'params_1', 'params_2'\]"),
        (dict(add={"params_3": np.zeros(5)}), "the archive has"),
        (dict(add={"params_65": np.zeros(5)}), "unexpected members"),
        (dict(add={"params_1": np.zeros(3)}), r"member 'params_1' must have shape \(13,\)"),
        (dict(add={"covariance_1": np.full((13, 13), np.nan)}), "covariance_1 holds NaN or infinity"),
        (dict(add={"params_1": np.full(13, np.inf)}), "params_1 hold NaN or infinity"),
    ]:
        bad = _edited(tmp_path / "c.qnet", tmp_path / "bad.qnet", **kw)
        with pytest.raises(ValueError, match=message):
            qio.load_model(bad)
    # A member's covariance that is not a covariance: the posterior's own check names it.
    bad = _edited(tmp_path / "c.qnet", tmp_path / "bad.qnet", add={"covariance_1": -np.eye(13)})
    with pytest.raises(ValueError, match="inconsistent model file.*negative variances"):
        qio.load_model(bad)


def test_a_hostile_committee_cannot_ask_for_unbounded_memory(tmp_path):
    _committee_model().save(tmp_path / "c.qnet")
    # 64 members each claiming the largest posterior a single file may hold: refused from the
    # header, before any array is read.
    big = int(GAUSS_NEWTON_MAX_PARAMS // 4) - 1  # hidden width of a 2-h-1 network near the limit
    member = dict(layer_sizes=[2, big, 1], n_params=4 * big + 1)

    def edit(h):
        h["committee"] = [dict(member, posterior=h["committee"][0]["posterior"])] * 64
    bad = _edited(tmp_path / "c.qnet", tmp_path / "bad.qnet", edit)
    with pytest.raises(ValueError, match="the committee's covariances hold more than"):
        qio.load_model(bad)

    def edit_many(h):
        h["committee"] = h["committee"] * 40  # 80 members: more than MAX_COMMITTEE
    bad = _edited(tmp_path / "c.qnet", tmp_path / "bad.qnet", edit_many)
    with pytest.raises(ValueError, match=f"committee must be a list of 1 to {modelfile.MAX_COMMITTEE} members"):
        qio.load_model(bad)


def test_the_model_checks_its_committee():
    (net, post), (other, opost) = _member((2,), 0), _member((3,), 1)
    with pytest.raises(ValueError, match="a committee needs a posterior on every member"):
        qio.Model(net, committee=[(other, opost)])
    with pytest.raises(TypeError, match=r"committee member 1 must be a \(Network, Posterior\) pair"):
        qio.Model(net, posterior=post, committee=[other])
    wrong = Network([2, 3, 1], activation="sigmoid", seed=1)
    with pytest.raises(ValueError, match="committee member 1 must match the first network's"):
        qio.Model(net, posterior=post, committee=[(wrong, opost)])
    wider = Network([2, 3, 2], activation="tanh", seed=1)
    with pytest.raises(ValueError, match="committee member 1 must match the first network's"):
        qio.Model(net, posterior=post, committee=[(wider, opost)])
    with pytest.raises(ValueError, match="covariance must be a float64 array of shape"):
        qio.Model(net, posterior=post, committee=[(other, post)])  # the first's posterior on a larger network
    with pytest.raises(TypeError, match="committee must be a sequence"):
        qio.Model(net, posterior=post, committee=(m for m in [(other, opost)]))


def test_corrupted_committee_files_raise_value_error_or_load(tmp_path):
    # Byte flips, truncations, insertions and zeroed runs in a version-6 file: load_model either
    # refuses it (ValueError) or returns a model whose members all predict; nothing else escapes.
    _committee_model().save(tmp_path / "c.qnet")
    good = (tmp_path / "c.qnet").read_bytes()
    rng = np.random.default_rng(6)
    X = np.zeros((2, 2))
    outcomes = {"refused": 0, "loaded": 0}
    for i in range(300):
        raw = bytearray(good)
        for _ in range(rng.integers(1, 4)):
            op, at = rng.integers(4), int(rng.integers(len(raw))) if raw else 0
            if op == 0 and raw:
                raw[at] ^= 1 << int(rng.integers(8))
            elif op == 1:
                del raw[at:]
            elif op == 2:
                raw[at:at] = rng.bytes(int(rng.integers(1, 17)))
            elif raw:
                raw[at : at + 8] = bytes(min(8, len(raw) - at))
        path = tmp_path / f"bad{i}.qnet"
        path.write_bytes(bytes(raw))
        try:
            model = qio.load_model(path)
        except ValueError:
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        mean, std = model.predict(X, return_std=True)
        assert mean.shape == std.shape == (2, 1) and len(model.members) == 3
    assert outcomes["refused"] > 200  # most damage is caught (zip CRCs, headers, shapes)
