"""Model files: exact round trips, and clear errors (never execution) for bad files."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

import quasinet
from quasinet import Network
from quasinet import io as qio
from quasinet.metrics import class_probabilities, r2_score
from quasinet.scaling import standardisation


def _net(**kw):
    spec = dict(layer_sizes=[3, 5, 2], activation="tanh", output_activation="identity", loss="mse", l2=1e-3)
    spec.update(kw)
    return Network(seed=1, **spec)


def _members(path):
    """The archive's arrays, read with NumPy's loader (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _write(path, arrays, compress=False):
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return path


def _header(path):
    return json.loads(_members(path)["header"].tobytes().decode())


def _with_header(path, out, **changes):
    arrays = _members(path)
    h = json.loads(arrays["header"].tobytes().decode())
    h.update(changes)
    h = {k: v for k, v in h.items() if v is not None}
    arrays["header"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
    return _write(out, arrays)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        dict(layer_sizes=[2, 3, 1], activation="sigmoid", output_activation="sigmoid", bias=False, loss="sse", l2=0.0),
        dict(layer_sizes=[4, 6, 6, 3], activation="relu", output_activation="softmax", loss="softmax_crossentropy"),
        dict(layer_sizes=[2, 1], activation="softplus", output_activation="sigmoid", loss="binary_crossentropy"),
    ],
)
def test_round_trip_is_bitwise_exact(tmp_path, kw):
    net = _net(**kw)
    # Values whose bits a lossy format would change: -0.0, a subnormal, the largest double.
    net.params[:3] = [-0.0, 5e-324, np.finfo(float).max / 1e300]
    path = tmp_path / "m.qnet"
    net.save(path)
    back = quasinet.load(path)
    assert back.params.tobytes() == net.params.tobytes()
    assert back.spec() == net.spec()
    X = np.random.default_rng(0).normal(size=(7, net.layer_sizes[0]))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    assert (tmp_path / "m.qnet").exists() and not (tmp_path / "m.qnet.npz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m.qnet"]  # no temporary left behind


def test_file_is_a_plain_npz_with_a_json_header(tmp_path):
    net = _net()
    net.save(tmp_path / "m.qnet")
    arrays = _members(tmp_path / "m.qnet")
    assert set(arrays) == {"header", "params"}
    assert arrays["params"].dtype == np.dtype("<f8")
    h = _header(tmp_path / "m.qnet")
    assert h == dict(format="quasinet-model", version=1, layer_sizes=[3, 5, 2], activation="tanh",
                     output_activation="identity", bias=True, loss="mse", l2=1e-3, n_params=net.n_params)


def test_model_with_scaling_names_and_info(tmp_path):
    net = _net()
    m = qio.Model(net, x_offset=[1.0, 2.0, 3.0], x_scale=[2.0, 0.5, 4.0], y_offset=[10.0, -1.0],
                  y_scale=[3.0, 0.1], inputs=["a", "b", "c"], targets=["u", "v"], info={"iterations": 12})
    m.save(tmp_path / "m.qnet")
    back = qio.load_model(tmp_path / "m.qnet")
    for key in ("x_offset", "x_scale", "y_offset", "y_scale"):
        assert getattr(back, key).tobytes() == getattr(m, key).tobytes()
    assert (back.inputs, back.targets, back.info) == (["a", "b", "c"], ["u", "v"], {"iterations": 12})
    X = np.random.default_rng(1).normal(size=(5, 3)) * 10
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    # The scaling is applied as documented.
    np.testing.assert_allclose(m.predict(X), net.forward((X - m.x_offset) / m.x_scale) * m.y_scale + m.y_offset)
    # quasinet.load gives the bare network.
    assert quasinet.load(tmp_path / "m.qnet").params.tobytes() == net.params.tobytes()


def test_classifier_model(tmp_path):
    net = Network([2, 3, 1], output_activation="sigmoid", loss="binary_crossentropy", seed=0)
    m = qio.Model(net, classes=[-1.5, 7.0])
    m.save(tmp_path / "c.qnet")
    back = qio.load_model(tmp_path / "c.qnet")
    X = np.random.default_rng(2).normal(size=(9, 2))
    p = net.forward(X)[:, 0]
    np.testing.assert_array_equal(back.predict_classes(X), np.where(p >= 0.5, 7.0, -1.5))
    np.testing.assert_allclose(back.predict_proba(X).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="needs 2 classes"):
        qio.Model(net, classes=[1, 2, 3])


# -- bad files ------------------------------------------------------------------------------------
@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.qnet"
    qio.Model(_net(), x_offset=np.zeros(3), x_scale=np.ones(3)).save(path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        quasinet.load(tmp_path / "nope.qnet")


def test_not_a_zip(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"a\.csv: not a quasinet model file \(not an \.npz/zip archive\)"):
        quasinet.load(tmp_path / "a.csv")


def test_a_pickle_is_never_unpickled(tmp_path, good):
    marker = tmp_path / "executed"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "p.qnet").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError, match="not an .npz/zip archive"):
        quasinet.load(tmp_path / "p.qnet")
    # A pickled object array inside an otherwise well-formed archive.
    arrays = _members(good)
    arrays["params"] = np.array([Boom()], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # savez pickles the object array
    (tmp_path / "o.qnet").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="holds Python objects"):
        quasinet.load(tmp_path / "o.qnet")
    assert not marker.exists()


def test_object_header(tmp_path, good):
    arrays = _members(good)
    arrays["header"] = np.array([{"format": "quasinet-model"}], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (tmp_path / "h.qnet").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="'header' holds Python objects"):
        quasinet.load(tmp_path / "h.qnet")


@pytest.mark.parametrize("cut", [10, 100, 0.5, -30, -1])
def test_truncated(tmp_path, good, cut):
    data = good.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    (tmp_path / "t.qnet").write_bytes(data[:n])
    with pytest.raises(ValueError, match="t.qnet: .*(truncated|corrupted)"):
        quasinet.load(tmp_path / "t.qnet")


def test_corrupted_parameter_bytes_fail_the_crc(tmp_path, good):
    data = bytearray(good.read_bytes())
    start = data.find(b"params.npy")
    pos = data.find(b"\n", start + 200) + 20  # inside params.npy's data, past its header
    data[pos] ^= 0xFF
    (tmp_path / "c.qnet").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated or corrupted model file.*CRC"):
        quasinet.load(tmp_path / "c.qnet")


def test_compressed_archive_is_accepted_and_checked(tmp_path, good):
    arrays = _members(good)
    _write(tmp_path / "z.qnet", arrays, compress=True)
    assert quasinet.load(tmp_path / "z.qnet").params.tobytes() == quasinet.load(good).params.tobytes()


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(version=8), r"unsupported model file version 8 \(this quasinet reads versions 1, 2, 3, 4, 5, 6, 7\)"),
        (dict(version=1.0), r"unsupported model file version 1\.0"),
        # Version 1 knows no method or posterior.
        (dict(method="BR"), r"unknown header keys \['method'\]"),
        (dict(version="1"), "unsupported model file version '1'"),
        (dict(format="something-else"), "not a quasinet model"),
        (dict(layer_sizes=[3, 10**9, 2]), r"layer_sizes must lie in \[1, 10000000\]"),
        (dict(layer_sizes=[3000000, 3000000, 2], n_params=9000006000002), "more than 100000000"),
        (dict(layer_sizes=[3, 0, 2]), r"layer_sizes must lie in"),
        (dict(layer_sizes=[3]), "at least two ints"),
        (dict(layer_sizes=[3, 5.0, 2]), "at least two ints"),
        (dict(n_params=999), "n_params 999 does not match"),
        (dict(layer_sizes=[3, 6, 2]), r"n_params 32 does not match layer_sizes \[3, 6, 2\] \(38 parameters\)"),
        (dict(activation="os.system"), "activation must be one of"),
        # Names that pass the header check but not the Network's own pairing rules:
        (dict(loss="softmax_crossentropy"), "inconsistent model file.*needs output_activation 'softmax'"),
        (dict(loss="hinge"), "loss must be one of"),
        (dict(l2=-1), r"l2 must be a finite number >= 0, got -1\.0"),
        (dict(l2="0.1"), "l2 must be a finite number, got '0.1'"),
        (dict(l2=True), "l2 must be a finite number, got True"),
        # Python's json reads any integer exactly: float() of this one overflows.
        (dict(l2=10**400), r"l2 must be a finite number, got 1000.*\(401 characters\)"),
        (dict(bias=1), "bias must be true or false"),
        (dict(extra="x"), r"unknown header keys \['extra'\]"),
        (dict(inputs=["a", "b"]), "inconsistent model file.*inputs must name 3 columns"),
        (dict(classes=[[1]]), "classes must be a list of numbers or strings"),
        (dict(info=[1]), "info must be a JSON object"),
    ],
)
def test_inconsistent_header(tmp_path, good, changes, message):
    bad = _with_header(good, tmp_path / "bad.qnet", **changes)
    with pytest.raises(ValueError, match=message):
        quasinet.load(bad)


@pytest.mark.parametrize("text, message", [
    ('"l2": 1e400', "l2 must be a finite number, got inf"),  # json reads 1e400 as inf
    ('"l2": -1e400', "l2 must be a finite number, got -inf"),
    ('"l2": ' + "9" * 400, r"l2 must be a finite number, got 9999.*\(400 characters\)"),
    ('"classes": [0, 1e400]', "classes must be finite numbers or strings, got inf"),
])
def test_huge_or_non_finite_numbers_in_the_header(tmp_path, good, text, message):
    # Numbers JSON can spell but float64 cannot hold: a ValueError naming the file and the field.
    h = _header(good)
    h.pop(text.split('"')[1], None)
    arrays = _members(good)
    arrays["header"] = np.frombuffer((json.dumps(h)[:-1] + ", " + text + "}").encode(), dtype=np.uint8)
    bad = _write(tmp_path / "bad.qnet", arrays)
    with pytest.raises(ValueError, match=str(bad).replace(".", r"\.") + ": " + message):
        qio.load_model(bad)


def test_header_not_json(tmp_path, good):
    arrays = _members(good)
    arrays["header"] = np.frombuffer(b"{not json", dtype=np.uint8)
    with pytest.raises(ValueError, match="header is not valid UTF-8 JSON"):
        quasinet.load(_write(tmp_path / "b.qnet", arrays))
    arrays["header"] = np.frombuffer(b'{"l2": NaN}', dtype=np.uint8)
    with pytest.raises(ValueError, match="header is not valid UTF-8 JSON.*NaN"):
        quasinet.load(_write(tmp_path / "b.qnet", arrays))


@pytest.mark.parametrize(
    "member, value, message",
    [
        ("params", np.zeros(31), r"'params' must have shape \(32,\), got \(31,\)"),
        ("params", np.zeros((32, 1)), r"'params' must have shape \(32,\), got \(32, 1\)"),
        ("params", np.zeros(32, dtype=np.float32), "'params' must be <f8"),
        ("params", np.zeros(32, dtype=">f8"), "'params' must be <f8"),
        ("params", np.full(32, np.nan), "params hold NaN or infinity"),
        ("x_scale", np.ones(4), r"'x_scale' must have shape \(3,\)"),
        ("x_scale", np.zeros(3), "x_scale must be non-zero"),
        ("header", np.zeros(3), "'header' must be |u1"),
        ("evil", np.zeros(1), r"unexpected members \['evil.npy'\]"),
    ],
)
def test_bad_arrays(tmp_path, good, member, value, message):
    arrays = _members(good)
    arrays[member] = value
    with pytest.raises(ValueError, match=message):
        quasinet.load(_write(tmp_path / "b.qnet", arrays))


def test_missing_members(tmp_path, good):
    arrays = _members(good)
    del arrays["x_scale"]
    with pytest.raises(ValueError, match="x_offset and x_scale must come together"):
        quasinet.load(_write(tmp_path / "b.qnet", arrays))
    with pytest.raises(ValueError, match="no 'params' member"):
        quasinet.load(_write(tmp_path / "b.qnet", {"header": _members(good)["header"]}))


def test_lying_npy_header_does_not_allocate(tmp_path, good):
    """An .npy header that claims a huge array is refused before anything is allocated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("header.npy", _npy_bytes(_members(good)["header"]))
        hdr = np.lib.format.header_data_from_array_1_0(np.zeros(32))
        hdr["shape"] = (10**12,)
        raw = io.BytesIO()
        np.lib.format.write_array_header_1_0(raw, hdr)
        zf.writestr("params.npy", raw.getvalue() + np.zeros(32).tobytes())
    (tmp_path / "l.qnet").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match=r"'params' must have shape \(32,\), got \(1000000000000,\)"):
        quasinet.load(tmp_path / "l.qnet")


def test_short_member_data(tmp_path, good):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("header.npy", _npy_bytes(_members(good)["header"]))
        zf.writestr("params.npy", _npy_bytes(np.zeros(32))[:-8])
    (tmp_path / "s.qnet").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="'params' is shorter than its header says"):
        quasinet.load(tmp_path / "s.qnet")


def _npy_bytes(a):
    raw = io.BytesIO()
    np.lib.format.write_array(raw, a, allow_pickle=False)
    return raw.getvalue()


def test_save_refuses_non_json_info(tmp_path):
    with pytest.raises(ValueError, match="not plain JSON"):
        qio.save(tmp_path / "m.qnet", _net(), info={"x": object()})
    with pytest.raises(ValueError, match="not plain JSON"):
        qio.save(tmp_path / "m.qnet", _net(), info={"x": float("nan")})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("compress", [False, True])
def test_random_damage_only_ever_raises_value_error(tmp_path, good, compress):
    """Flip bytes and cut the file at random places: every outcome is a load or a ValueError."""
    arrays = _members(good)
    data = _write(tmp_path / "src.qnet", arrays, compress=compress).read_bytes()
    rng = np.random.default_rng(7)
    loaded = 0
    for trial in range(300):
        bad = bytearray(data)
        for pos in rng.integers(0, len(bad), size=rng.integers(1, 4)):
            bad[pos] = int(rng.integers(0, 256))
        if trial % 3 == 0:
            bad = bad[: int(rng.integers(1, len(bad)))]
        path = tmp_path / "d.qnet"
        path.write_bytes(bytes(bad))
        try:
            net = quasinet.load(path)
        except ValueError as exc:
            assert str(exc).startswith(str(path))
        else:
            # A flip in a part nothing checks (zip comments, padding, timestamps) leaves the model intact.
            assert net.params.tobytes() == arrays["params"].tobytes()
            loaded += 1
    assert loaded < 300


def test_save_into_a_missing_directory_and_file_permissions(tmp_path):
    import os
    import stat

    with pytest.raises(FileNotFoundError, match="no such directory"):
        _net().save(tmp_path / "missing" / "m.qnet")
    umask = os.umask(0o022)
    try:
        _net().save(tmp_path / "m.qnet")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "m.qnet").stat().st_mode) == 0o644


# -- helpers shared with the CLI, the estimators and the plots ------------------------------------
def test_standardisation_keeps_constant_columns_and_weights_like_repetition():
    rng = np.random.default_rng(0)
    A = np.column_stack([rng.normal(3.0, 2.0, size=50), np.full(50, 7.0), np.full(50, 1e9) + 1e-6 * rng.normal(size=50)])
    mean, std = standardisation(A)
    np.testing.assert_array_equal(mean, A.mean(axis=0))
    assert std[0] == A[:, 0].std() and std[1] == 1.0 and std[2] == 1.0  # rounding noise is not scaled up
    w = rng.integers(1, 4, size=50)
    mean_w, std_w = standardisation(A, w.astype(float))
    mean_r, std_r = standardisation(np.repeat(A, w, axis=0))
    np.testing.assert_allclose(mean_w, mean_r, rtol=1e-14)
    np.testing.assert_allclose(std_w, std_r, rtol=1e-12)


def test_r2_score_per_column_and_undefined_for_constant_targets():
    y = np.array([[1.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    p = np.array([[1.5, 5.5], [2.0, 4.0], [3.0, 5.0]])
    r2 = r2_score(y, p)
    assert r2.shape == (2,) and r2[0] == pytest.approx(1 - 1.25 / (14 / 3), rel=1e-15) and np.isnan(r2[1])
    assert r2_score(y[:, 0], p[:, 0]) == r2[0] and isinstance(r2_score(y[:, 0], y[:, 0]), float)
    assert r2_score(y[:, 0], y[:, 0]) == 1.0
    with pytest.raises(ValueError, match=r"same 1-D or 2-D shape, got \(3, 2\) and \(3,\)"):
        r2_score(y, p[:, 0])


def test_class_probabilities():
    out = np.array([[0.25], [1.0]])
    np.testing.assert_array_equal(class_probabilities(out), [[0.75, 0.25], [0.0, 1.0]])
    soft = np.array([[0.2, 0.3, 0.5]])
    assert class_probabilities(soft) is soft


# -- version 2: the posterior of Bayesian regularisation ---------------------------------------------
def _br_model(tmp_path, classifier=False, ard=True):
    """A network trained by BR (Trainer) with its posterior, saved and loaded back."""
    from quasinet import Trainer, evidence
    from quasinet.posterior import Posterior

    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    if classifier:
        net = Network([3, 4, 1], output_activation="sigmoid", loss="binary_crossentropy", seed=0)
        Y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(float)[:, None]
    else:
        net = Network([3, 4, 2], loss="mse", seed=0)
        Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]]) + 0.1 * rng.normal(size=(60, 2))
    # One noise precision for both outputs: a version-2 file (one per output makes version 5,
    # tests/test_beta_per_output.py).
    res = Trainer(net, method="BR", maxiter=50, options={"ard": ard, "noise": "shared"}).train(X, Y)
    rel = 1 / res.alpha[:3] / np.sum(1 / res.alpha[:3]) if ard else None
    post = Posterior(covariance=res.covariance, beta=res.beta, alpha=res.alpha, group_names=res.group_names,
                     gamma=res.gamma, log_evidence=res.log_evidence, ard=ard, feature_relevance=rel,
                     moderate=classifier)
    kw = dict(classes=["no", "yes"]) if classifier else dict(y_offset=[1.0, -2.0], y_scale=[3.0, 0.5])
    m = qio.Model(net, x_offset=[0.5, 0.0, -1.0], x_scale=[2.0, 1.0, 0.5], posterior=post, method="BR", **kw)
    m.save(tmp_path / "br.qnet")
    assert evidence.parameter_groups(net, ard)[1] == res.group_names
    return m, qio.load_model(tmp_path / "br.qnet"), tmp_path / "br.qnet"


def _numeric_param_jacobian(net, X, eps=1e-6):
    """d outputs / d params by central differences (plain NumPy around Network.forward)."""
    w0 = net.get_params()
    J = np.empty((X.shape[0], net.layer_sizes[-1], w0.size))
    for j, e in enumerate(np.eye(w0.size) * eps):
        net.set_params(w0 + e)
        up = net.forward(X)
        net.set_params(w0 - e)
        J[:, :, j] = (up - net.forward(X)) / (2 * eps)
    net.set_params(w0)
    return J


@pytest.mark.parametrize("ard", [True, False])
def test_version_2_round_trip_and_return_std_against_finite_differences(tmp_path, ard):
    m, back, path = _br_model(tmp_path, ard=ard)
    assert _header(path)["version"] == 2 and back.file_version == 2 and back.method == "BR"
    assert set(_members(path)) == {"header", "params", "x_offset", "x_scale", "y_offset", "y_scale", "covariance"}
    p, q = m.posterior, back.posterior
    assert q.covariance.tobytes() == p.covariance.tobytes() and q.alpha.tobytes() == p.alpha.tobytes()
    assert (q.beta, q.gamma, q.log_evidence, q.ard, q.group_names, q.moderate) == (
        p.beta, p.gamma, p.log_evidence, p.ard, p.group_names, False)
    assert 0 < q.gamma < back.net.n_params
    X = np.random.default_rng(9).normal(size=(11, 3))
    mean, std = back.predict(X, return_std=True)
    np.testing.assert_array_equal(mean, back.predict(X))
    # Reference: the delta method with a finite-difference Jacobian, in target units.
    Xs = (X - m.x_offset) / m.x_scale
    G = _numeric_param_jacobian(back.net.copy(), Xs)
    var = np.einsum("nkp,pq,nkq->nk", G, p.covariance, G) + 1 / p.beta
    np.testing.assert_allclose(std, np.sqrt(var) * m.y_scale, rtol=1e-6)
    assert np.all(std > np.sqrt(1 / p.beta) * m.y_scale)  # the weights' uncertainty adds to the noise


def test_return_std_is_computed_in_bounded_row_chunks(tmp_path, monkeypatch):
    from quasinet import posterior

    _, back, _ = _br_model(tmp_path)
    X = np.random.default_rng(1).normal(size=(50, 3))
    whole = back.predict(X, return_std=True)[1]
    sizes = []
    jacobian = Network.jacobian
    monkeypatch.setattr(Network, "jacobian", lambda self, X: sizes.append(X.shape[0]) or jacobian(self, X))
    monkeypatch.setattr(posterior, "CHUNK_ENTRIES", 7 * back.net.n_params * 2)
    np.testing.assert_allclose(back.predict(X, return_std=True)[1], whole, rtol=1e-13)
    assert sizes == [7] * 7 + [1]


def test_moderated_probabilities_against_a_plain_reference(tmp_path):
    m, back, path = _br_model(tmp_path, classifier=True)
    assert back.moderated and back.posterior.beta == 1.0 and back.classes == ["no", "yes"]
    X = np.random.default_rng(4).normal(size=(13, 3)) * 2
    Xs = (X - m.x_offset) / m.x_scale
    # Reference: the logit z = log(p / (1 - p)) of the network's own output, its gradient by
    # central differences, z / sqrt(1 + pi s^2 / 8) through the sigmoid.
    net = back.net.copy()

    def logit(w):
        net.set_params(w)
        p = net.forward(Xs)[:, 0]
        return np.log(p) - np.log1p(-p)

    w0, eps = back.net.get_params(), 1e-6
    g = np.stack([(logit(w0 + eps * e) - logit(w0 - eps * e)) / (2 * eps) for e in np.eye(w0.size)], axis=1)
    s2 = np.einsum("np,pq,nq->n", g, m.posterior.covariance, g)
    pm = 1 / (1 + np.exp(-logit(w0) / np.sqrt(1 + np.pi * s2 / 8)))
    proba = back.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], pm, rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    # Moderation pulls every probability towards 1/2, never across it.
    raw = back.predict(X)[:, 0]
    assert np.all(np.abs(proba[:, 1] - 0.5) < np.abs(raw - 0.5)) and np.all((proba[:, 1] > 0.5) == (raw > 0.5))
    with pytest.raises(ValueError, match="return_std is for regression models"):
        back.predict(X, return_std=True)
    from quasinet.export.c import to_c

    # The export computes the moderated probabilities (tests/test_export_std.py compiles and compares).
    to_c(back, tmp_path / "m.c")
    assert "(moderated by the posterior)" in (tmp_path / "m.c").read_text()


def test_version_1_files_load_unchanged(tmp_path):
    """A version 1 file, built by hand as the version 1 writer wrote it, loads as before."""
    net = _net()
    header = dict(format="quasinet-model", version=1, layer_sizes=[3, 5, 2], activation="tanh",
                  output_activation="identity", bias=True, loss="mse", l2=1e-3, n_params=net.n_params,
                  inputs=["a", "b", "c"], targets=["u", "v"], info={"method": "L-BFGS-B"})
    path = _write(tmp_path / "v1.qnet", {
        "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), "params": net.params,
        "x_offset": np.zeros(3), "x_scale": np.full(3, 2.0), "y_offset": np.ones(2), "y_scale": np.full(2, 3.0)})
    m = qio.load_model(path)
    assert m.file_version == 1 and m.posterior is None and m.method is None and not m.moderated
    X = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_array_equal(m.predict(X), net.forward(X / 2.0) * 3.0 + 1.0)
    with pytest.raises(ValueError, match="return_std needs a model with a posterior"):
        m.predict(X, return_std=True)
    # Saved again without a posterior or a method, it stays version 1, byte for byte the same header.
    m.save(tmp_path / "again.qnet")
    assert _header(tmp_path / "again.qnet") == header


def _with_posterior(path, out, covariance=None, **changes):
    arrays = _members(path)
    h = json.loads(arrays["header"].tobytes().decode())
    h["posterior"].update(changes)
    for k, v in list(h["posterior"].items()):
        if v is _DROP:
            del h["posterior"][k]
    arrays["header"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
    if covariance is not None:
        if covariance is _DROP:
            del arrays["covariance"]
        else:
            arrays["covariance"] = covariance(arrays["covariance"])
    return _write(out, arrays)


_DROP = object()


def _flip_sign(c):
    c = c.copy()
    c[0, 0] = -c[0, 0]
    return c


def _asymmetric(c):
    c = c.copy()
    c[0, 1] += 1e-3 * np.abs(c).max()
    return c


def _nan(c):
    c = c.copy()
    c[2, 3] = np.nan
    return c


def _indefinite(c):
    """Symmetric, non-negative diagonal, but a 2x2 minor with a negative determinant."""
    c = c.copy()
    c[0, 1] = c[1, 0] = 2.0 * np.sqrt(c[0, 0] * c[1, 1]) + abs(c[0, 1])
    return c


def _smallest_eigenvalue_set_to(rel):
    def change(c):
        lam, U = np.linalg.eigh(c)
        c = c + (rel * np.abs(c).max() - lam[0]) * np.outer(U[:, 0], U[:, 0])
        return 0.5 * (c + c.T)

    return change


@pytest.mark.parametrize(
    "covariance, changes, message",
    [
        (lambda c: c[:-1], {}, r"'covariance' must have shape \(26, 26\), got \(25, 26\)"),
        (lambda c: c.ravel(), {}, r"'covariance' must have shape \(26, 26\), got \(676,\)"),
        (lambda c: c.astype(np.float32), {}, "'covariance' must be <f8"),
        (np.asfortranarray, {}, None),
        (_nan, {}, "covariance holds NaN or infinity"),
        (_flip_sign, {}, "covariance has negative variances"),
        (_asymmetric, {}, "covariance is not symmetric"),
        (_indefinite, {}, r"covariance is not positive semi-definite: its smallest eigenvalue -\S+ is below -1e-08"),
        (_DROP, {}, "the covariance member and the header's posterior must come together"),
        (None, dict(beta=0.0), "beta must be a finite number > 0"),
        (None, dict(beta="1"), "posterior beta must be a finite number, got '1'"),
        (None, dict(gamma=27.0), r"gamma must lie in \[0, 26\]"),
        (None, dict(gamma=-1.0), "gamma must be a finite number >= 0"),
        (None, dict(log_evidence=10**400), "posterior log_evidence must be a finite number"),
        (None, dict(alpha=[1.0, 2.0]), "alpha must be 6 finite numbers > 0"),
        (None, dict(alpha=[1.0] * 5 + [-1.0]), "alpha must be 6 finite numbers > 0"),
        (None, dict(alpha=[1.0] * 10**5), "posterior alpha must be a list of at most 26 numbers"),
        (None, dict(group_names=["all parameters"]), "group_names must be"),
        (None, dict(ard=False), "group_names must be"),
        (None, dict(ard=1), "posterior ard must be true or false"),
        (None, dict(moderate=True), "moderate applies to classifiers only"),
        (None, dict(feature_relevance=[0.5, 0.5]), "feature_relevance must be 3 finite numbers >= 0"),
        (None, dict(feature_relevance="abc"), "posterior feature_relevance must be a list"),
        (None, dict(extra=1), "posterior must have the keys"),
        (None, dict(beta=_DROP), "posterior must have the keys"),
    ],
)
def test_bad_posteriors(tmp_path, covariance, changes, message):
    _, _, path = _br_model(tmp_path)
    bad = _with_posterior(path, tmp_path / "bad.qnet", covariance, **changes)
    if message is None:  # a Fortran-ordered copy is refused like any other member
        message = "'covariance' must be <f8 in C order, got <f8 in Fortran order"
    with pytest.raises(ValueError, match=str(bad).replace(".", r"\.") + ": .*" + message):
        qio.load_model(bad)


def test_covariance_within_the_stated_tolerance_loads(tmp_path):
    """Rounding-size negative eigenvalues (below COVARIANCE_RTOL of the largest entry) are accepted."""
    from quasinet.posterior import COVARIANCE_RTOL

    _, m, path = _br_model(tmp_path)
    ok = _with_posterior(path, tmp_path / "ok.qnet", _smallest_eigenvalue_set_to(-0.01 * COVARIANCE_RTOL))
    assert np.linalg.eigvalsh(qio.load_model(ok).posterior.covariance)[0] < 0
    X = np.random.default_rng(1).normal(size=(5, 3))
    _, std = qio.load_model(ok).predict(X, return_std=True)
    np.testing.assert_allclose(std, m.predict(X, return_std=True)[1], rtol=1e-6)


def test_posterior_header_errors(tmp_path):
    _, _, path = _br_model(tmp_path)
    h = _header(path)
    arrays = _members(path)
    for changes, message in [
        (dict(posterior=[1]), "posterior must be a JSON object"),
        (dict(method=3), "method must be a string, got 3"),
        (dict(layer_sizes=[3, 100, 100, 2], n_params=10702), "a posterior needs at most 8192 parameters"),
    ]:
        arrays["header"] = np.frombuffer(json.dumps({**h, **changes}).encode(), dtype=np.uint8)
        with pytest.raises(ValueError, match=message):
            qio.load_model(_write(tmp_path / "b.qnet", arrays))
    del arrays["covariance"]
    arrays["header"] = np.frombuffer(json.dumps({k: v for k, v in h.items() if k != "posterior"}).encode(),
                                     dtype=np.uint8)
    m = qio.load_model(_write(tmp_path / "b.qnet", arrays))  # version 2 with a method and no posterior
    assert m.posterior is None and m.method == "BR" and m.file_version == 2


def test_classifier_posterior_needs_beta_1(tmp_path):
    _, _, path = _br_model(tmp_path, classifier=True)
    with pytest.raises(ValueError, match="a classifier's beta is 1, got 2.0"):
        qio.load_model(_with_posterior(path, tmp_path / "b.qnet", beta=2.0))


def test_model_refuses_a_posterior_of_the_wrong_type(tmp_path):
    with pytest.raises(TypeError, match="posterior must be a quasinet.posterior.Posterior, got dict"):
        qio.Model(_net(), posterior={"beta": 1.0})
    with pytest.raises(TypeError, match="method must be a string, got int"):
        qio.Model(_net(), method=1)


def test_random_damage_to_a_version_2_file_only_ever_raises_value_error(tmp_path):
    m, _, path = _br_model(tmp_path)
    data = path.read_bytes()
    rng = np.random.default_rng(11)
    X = np.random.default_rng(0).normal(size=(5, 3))
    want = m.predict(X, return_std=True)
    for trial in range(200):
        bad = bytearray(data)
        for pos in rng.integers(0, len(bad), size=rng.integers(1, 4)):
            bad[pos] = int(rng.integers(0, 256))
        if trial % 3 == 0:
            bad = bad[: int(rng.integers(1, len(bad)))]
        (tmp_path / "d.qnet").write_bytes(bytes(bad))
        try:
            back = qio.load_model(tmp_path / "d.qnet")
        except ValueError as exc:
            assert str(exc).startswith(str(tmp_path / "d.qnet"))
        else:  # only bytes nothing reads were hit: the model predicts as before
            for got, w in zip(back.predict(X, return_std=True), want):
                np.testing.assert_array_equal(got, w)
