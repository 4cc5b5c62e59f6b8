"""The predictive distribution's shape: Student-t noise fitted from the residuals, densities,
quantiles and intervals (quasinet.predictive), in estimators, model files and the CLI."""

import csv
import io as textio
import json
import zipfile

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import quasinet as qn
from quasinet import cli, fitting, predictive
from quasinet import io as qio
from quasinet.posterior import Posterior, check_dof
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor, load_estimator

NUS = [2.5, 3.0, 5.0, 30.0, np.inf]


def _scipy_unit(nu):
    """The zero-mean unit-variance distribution as scipy builds it."""
    return stats.norm() if np.isinf(nu) else stats.t(nu, scale=np.sqrt((nu - 2) / nu))


@pytest.mark.parametrize("nu", NUS)
def test_unit_log_density_is_scipys_unit_variance_t(nu):
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(predictive.unit_log_density(z, nu), _scipy_unit(nu).logpdf(z), rtol=1e-12, atol=1e-12)
    pdf = lambda x: np.exp(predictive.unit_log_density(np.array([x]), nu))[0]  # noqa: E731
    mass = integrate.quad(pdf, -np.inf, np.inf)[0]
    var = 2 * integrate.quad(lambda x: x * x * pdf(x), 0, np.inf, limit=200)[0]
    assert abs(mass - 1) < 1e-8 and abs(var - 1) < 1e-4


def _fixed_member(sigma, n_out=1):
    """A member whose prediction is 0 everywhere and whose posterior is nearly certain: its
    standardised residuals are the targets over sigma."""
    net = qn.Network([1, n_out], seed=0)
    net.params[:] = 0.0
    return net, 1e-12 * np.eye(net.n_params), 1.0 / sigma ** 2


def test_fit_noise_dof_finds_heavy_tails_and_leaves_gaussian_noise_gaussian():
    X = np.zeros((3000, 1))
    for seed in range(10):
        rng = np.random.default_rng(seed)
        gauss = 2.0 * rng.normal(size=(3000, 1))
        assert np.isinf(predictive.fit_noise_dof([_fixed_member(2.0)], X, gauss))[0]
        t3 = 2.0 * rng.standard_t(3, size=(3000, 1)) / np.sqrt(3.0)  # variance 4
        dof = predictive.fit_noise_dof([_fixed_member(2.0)], X, t3)[0]
        assert 2.5 <= dof <= 4.0, (seed, dof)


def test_fit_noise_dof_counts_a_weight_as_copies_and_fits_each_output():
    rng = np.random.default_rng(0)
    Y = np.column_stack([rng.normal(size=400), rng.standard_t(3, size=400) / np.sqrt(3)])
    X = np.zeros((400, 1))
    w = rng.integers(1, 4, size=400).astype(float)
    member = _fixed_member(1.0, n_out=2)
    weighted = predictive.fit_noise_dof([member], X, Y, w)
    repeated = predictive.fit_noise_dof([member], np.repeat(X, w.astype(int), 0), np.repeat(Y, w.astype(int), 0))
    np.testing.assert_allclose(weighted, repeated, rtol=1e-6)
    assert np.isinf(weighted[0]) and np.isfinite(weighted[1])


def test_standardised_residuals_divide_by_the_leverage_corrected_std():
    """Against a finite-difference Jacobian of the parameters: z = r / sqrt(1/beta - g A^-1 g)."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 1))
    net = qn.Network([2, 3, 1], seed=2)
    A = rng.normal(size=(net.n_params, net.n_params))
    cov = 0.01 * A @ A.T / net.n_params
    beta = 4.0
    h = 1e-6
    G = np.empty((30, net.n_params))
    for j in range(net.n_params):
        up, down = net.copy(), net.copy()
        up.params[j] += h
        down.params[j] -= h
        G[:, j] = (up.forward(X) - down.forward(X))[:, 0] / (2 * h)
    v = np.einsum("ip,pq,iq->i", G, cov, G)
    want = (y[:, 0] - net.forward(X)[:, 0]) / np.sqrt(1 / beta - v)
    (z,) = predictive.standardised_residuals([(net, cov, beta)], X, y)
    np.testing.assert_allclose(z[:, 0], want, rtol=1e-7)
    # A row the fit pins down (leverage above MAX_LEVERAGE) says nothing of the noise: NaN.
    (z,) = predictive.standardised_residuals([(net, cov, 1.0 / (0.9 * v.max()))], X, y)
    assert np.isnan(z[np.argmax(v), 0])


def _mixture():
    """Two members, two outputs, three rows: Gaussian output 0, Student-t (nu 3.5) output 1."""
    means = [np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]]), np.array([[1.0, 1.5], [2.0, 3.0], [-0.5, 0.0]])]
    variances = [np.array([[1.0, 0.5], [4.0, 1.0], [0.2, 2.0]]), np.array([[2.0, 1.0], [1.0, 0.3], [0.2, 1.0]])]
    return means, variances, np.array([np.inf, 3.5])


def _sd(variances):
    """The members' standard deviations, as :class:`quasinet.predictive.Predictive` takes them."""
    return [np.sqrt(v) for v in variances]


def _scipy_members(means, variances, dof):
    """scipy's member distributions of output k at row i: a list over members."""
    return lambda i, k: [stats.norm(m[i, k], np.sqrt(v[i, k])) if np.isinf(dof[k])
                         else stats.t(dof[k], m[i, k], np.sqrt(v[i, k] * (dof[k] - 2) / dof[k]))
                         for m, v in zip(means, variances)]


def test_a_mixture_predictive_agrees_with_scipys_members():
    means, variances, dof = _mixture()
    d = predictive.Predictive(means, _sd(variances), dof)
    members = _scipy_members(means, variances, dof)
    y = np.array([[0.3, -2.0], [5.0, 1.0], [0.0, 0.1]])
    for i in range(3):
        for k in range(2):
            ms = members(i, k)
            assert d.mean[i, k] == pytest.approx(np.mean([m.mean() for m in ms]), rel=1e-14)
            second = np.mean([m.var() + m.mean() ** 2 for m in ms])
            assert d.std[i, k] == pytest.approx(np.sqrt(second - d.mean[i, k] ** 2), rel=1e-12)
            assert d.logpdf(y)[i, k] == pytest.approx(np.log(np.mean([m.pdf(y[i, k]) for m in ms])), rel=1e-12)
            assert d.cdf(y)[i, k] == pytest.approx(np.mean([m.cdf(y[i, k]) for m in ms]), rel=1e-12)
    for q in (1e-6, 0.025, 0.16, 0.5, 0.9, 0.999):
        np.testing.assert_allclose(d.cdf(d.ppf(q)), q, rtol=1e-9)
    lower, upper = d.interval(0.9)
    np.testing.assert_array_equal(lower, d.ppf(0.05))
    np.testing.assert_array_equal(upper, d.ppf(0.95))


def test_a_single_members_quantiles_are_closed_form():
    means, variances, dof = _mixture()
    d = predictive.Predictive(means[:1], _sd(variances[:1]), dof)
    members = _scipy_members(means[:1], variances[:1], dof)
    for q in (0.01, 0.3, 0.84):
        want = np.array([[members(i, k)[0].ppf(q) for k in range(2)] for i in range(3)])
        np.testing.assert_allclose(d.ppf(q), want, rtol=1e-12, atol=1e-14)


def test_mixture_intervals_hold_their_coverage_by_monte_carlo():
    means, variances, dof = _mixture()
    d = predictive.Predictive(means, _sd(variances), dof)
    members = _scipy_members(means, variances, dof)
    rng = np.random.default_rng(3)
    lower, upper = d.interval(0.68)
    for i in range(3):
        for k in range(2):
            draws = np.concatenate([m.rvs(size=100_000, random_state=rng) for m in members(i, k)])
            inside = np.mean((draws >= lower[i, k]) & (draws <= upper[i, k]))
            assert abs(inside - 0.68) < 0.005


def test_predictive_refuses_bad_arguments():
    means, variances, dof = _mixture()
    d = predictive.Predictive(means, _sd(variances), dof)
    for q in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="q must lie strictly between 0 and 1"):
            d.ppf(q)
    for q in (True, "0.5", None):
        with pytest.raises(TypeError, match="q must be a real number"):
            d.ppf(q)
    with pytest.raises(ValueError, match="coverage must lie strictly between 0 and 1"):
        d.interval(1.0)
    with pytest.raises(ValueError, match=r"y must have shape \(3, 2\).*got \(3,\)"):
        d.logpdf(np.zeros(3))
    with pytest.raises(ValueError, match="y must be finite"):
        d.cdf(np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="y must be an array of numbers, got list"):
        d.logpdf([["a", "b"]] * 3)
    for bad, message in [([2.0], "numbers > 2"), ([np.nan], "numbers > 2"), ([3.0, 4.0], "hold 1 numbers"),
                         ([[3.0]], "hold 1 numbers")]:
        with pytest.raises(ValueError, match=message):
            check_dof(bad, 1)
    with pytest.raises(TypeError, match="noise_dof must be numbers"):
        check_dof("3", 1)
    with pytest.raises(ValueError, match="noise must be one of 'auto', 'gaussian', got 't'"):
        QuasiNetRegressor(noise="t").fit(np.zeros((5, 1)), np.arange(5.0))


def _two_noises(n, seed):
    """Two targets of one smooth function: Gaussian noise on the first, Student-t (nu 3) on the second."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 2))
    f = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    return X, np.column_stack([f + 0.3 * rng.normal(size=n), 2 * f + 0.3 * rng.standard_t(3, size=n)])


@pytest.mark.slow
def test_each_target_gets_its_shape_and_its_intervals_cover_held_out_rows():
    X, Y = _two_noises(1500, 0)
    Xt, Yt = _two_noises(20_000, 1)
    reg = QuasiNetRegressor(hidden_layer_sizes=(4,), method="BR", random_state=0).fit(X, Y)
    assert np.isinf(reg.noise_dof_[0]) and 2.5 <= reg.noise_dof_[1] <= 5.0
    d = reg.predict_distribution(Xt)
    mean, std = reg.predict(Xt, return_std=True)
    np.testing.assert_array_equal(d.mean, mean)  # computed as predict computes them
    np.testing.assert_array_equal(d.std, std)
    for coverage in (0.68, 0.95):
        lower, upper = d.interval(coverage)
        inside = np.mean((Yt >= lower) & (Yt <= upper), axis=0)
        assert np.all(np.abs(inside - coverage) < 0.03), (coverage, inside)
    # The Gaussian with the same std over-covers the heavy-tailed target's 68% interval.
    gauss = np.mean(np.abs(Yt[:, 1] - mean[:, 1]) <= std[:, 1])
    assert gauss > 0.72
    # The Student-t is the better density of the second target, the same of the first.
    lp = d.logpdf(Yt).mean(axis=0)
    gauss_lp = stats.norm(mean, std).logpdf(Yt).mean(axis=0)
    assert lp[0] == pytest.approx(gauss_lp[0], rel=1e-12) and lp[1] > gauss_lp[1] + 0.02


def _heavy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.standard_t(3, size=n)


def test_one_target_shapes_and_the_gaussian_setting():
    X, y = _heavy()
    reg = QuasiNetRegressor(random_state=0).fit(X, y)
    assert reg.noise_dof_.shape == (1,) and np.isfinite(reg.noise_dof_[0])
    d = reg.predict_distribution(X[:7])
    assert d.mean.shape == d.std.shape == d.logpdf(y[:7]).shape == d.ppf(0.5).shape == (7,)
    mean, std = reg.predict(X[:7], return_std=True)
    np.testing.assert_array_equal(d.mean, mean)
    np.testing.assert_array_equal(d.std, std)
    g = QuasiNetRegressor(random_state=0, noise="gaussian").fit(X, y)
    assert np.isinf(g.noise_dof_[0])
    np.testing.assert_array_equal(g.predict(X), reg.predict(X))  # the shape changes no prediction
    # One Gaussian member: the closed-form interval. (The default committee has 3 members here,
    # so this check sat under "if len(g.members_) == 1" and never ran.)
    one = QuasiNetRegressor(random_state=0, noise="gaussian", committee=1).fit(X, y)
    assert len(one.members_) == 1
    gd = one.predict_distribution(X[:7])
    lower, upper = gd.interval(0.95)
    np.testing.assert_allclose(upper - gd.mean, 1.959963984540054 * gd.std, rtol=1e-12)
    np.testing.assert_allclose(gd.mean - lower, 1.959963984540054 * gd.std, rtol=1e-12)
    with pytest.raises(ValueError, match="predict_distribution needs a model trained by Bayesian regularisation"):
        QuasiNetRegressor(method="LM", hidden_layer_sizes=(2,), random_state=0).fit(X, y).predict_distribution(X)
    assert not hasattr(QuasiNetClassifier(), "predict_distribution")
    assert not hasattr(QuasiNetClassifier(hidden_layer_sizes=(2,), random_state=0).fit(X, y > 0), "noise_dof_")


def test_model_files_keep_the_shape_and_gaussian_models_their_version(tmp_path):
    X, y = _heavy()
    reg = QuasiNetRegressor(random_state=0).fit(X, y)
    reg.save(tmp_path / "t.qnet")
    model = qio.load_model(tmp_path / "t.qnet")
    assert model.file_version == 7
    for _, p in model.members:
        np.testing.assert_array_equal(p.noise_dof, reg.noise_dof_)
    np.testing.assert_array_equal(model.predict_distribution(X).logpdf(y[:, None])[:, 0],
                                  reg.predict_distribution(X).logpdf(y))
    back = load_estimator(tmp_path / "t.qnet")
    np.testing.assert_array_equal(back.predict_distribution(X).interval(0.9)[0], reg.predict_distribution(X).interval(0.9)[0])
    gauss = QuasiNetRegressor(random_state=0, noise="gaussian", committee=1).fit(X, y)
    gauss.save(tmp_path / "g.qnet")
    assert qio.load_model(tmp_path / "g.qnet").file_version == 2
    assert "noise_dof" not in _header(tmp_path / "g.qnet")["posterior"]
    assert np.isinf(load_estimator(tmp_path / "g.qnet").noise_dof_[0])


def _header(path):
    with np.load(path, allow_pickle=False) as z:
        return json.loads(z["header"].tobytes().decode())


def _with_header(path, out, h):
    return _with_header_text(path, out, json.dumps(h))


def _with_header_text(path, out, text):
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            payload = zin.read(item)
            if item.filename == "header.npy":
                buf = textio.BytesIO()
                np.lib.format.write_array(buf, np.frombuffer(text.encode(), dtype=np.uint8))
                payload = buf.getvalue()
            zout.writestr(item, payload)
    return out


def test_hostile_noise_dof_in_a_model_file_is_refused(tmp_path):
    X, y = _heavy()
    QuasiNetRegressor(random_state=0, committee=2).fit(X, y).save(tmp_path / "t.qnet")
    h = _header(tmp_path / "t.qnet")
    assert h["version"] == 7 and "committee" in h and "noise_dof" in h["committee"][0]["posterior"]

    def edited(change, name):
        g = json.loads(json.dumps(h))
        change(g)
        return _with_header(tmp_path / "t.qnet", tmp_path / name, g)

    cases = [
        (lambda g: g["posterior"].update(noise_dof=[2.0]), "noise_dof must be numbers > 2"),
        # JSON's 1e400 reads as infinity (json.dumps would write Infinity, which the reader refuses
        # before noise_dof is looked at: see the raw text below).
        (lambda g: g["posterior"].update(noise_dof=[-3.0]), "noise_dof must be numbers > 2"),
        (lambda g: g["posterior"].update(noise_dof=[True]), "posterior noise_dof must be a finite number"),
        (lambda g: g["posterior"].update(noise_dof=[[3.0]]), "posterior noise_dof must be a finite number"),
        (lambda g: g["posterior"].update(noise_dof=[]), r"noise_dof must hold 1 numbers"),
        (lambda g: g["posterior"].update(noise_dof=[None] * 100_000), r"noise_dof must hold 1 numbers"),
        (lambda g: g["posterior"].update(noise_dof=None), "posterior noise_dof must be a list"),
        (lambda g: g["posterior"].update(noise_dof=["3"]), "posterior noise_dof"),
        (lambda g: g["posterior"].update(noise_dof=3.0), "posterior noise_dof must be a list"),
        (lambda g: g["posterior"].update(noise_dof=[3.0, 4.0]), r"noise_dof must hold 1 numbers"),
        (lambda g: g["committee"][0]["posterior"].update(noise_dof=[9.0]), "committee member 1 has noise_dof"),
        (lambda g: g["committee"][0]["posterior"].pop("noise_dof"), "committee member 1 has noise_dof"),
        (lambda g: g.update(version=6), r"posterior must have the keys"),
    ]
    for k, (change, message) in enumerate(cases):
        with pytest.raises(ValueError, match=message):
            qio.load_model(edited(change, f"bad{k}.qnet"))
    raw = json.dumps(h).replace('"noise_dof": [', '"noise_dof": [1e400, ', 1)
    with pytest.raises(ValueError, match=r"posterior noise_dof must be a finite number, got inf"):
        qio.load_model(_with_header_text(tmp_path / "t.qnet", tmp_path / "raw.qnet", raw))
    # null is a Gaussian output, as a list of one.
    ok = edited(lambda g: [p.update(noise_dof=[None]) for p in [g["posterior"], g["committee"][0]["posterior"]]],
                "null.qnet")
    assert np.isinf(qio.load_model(ok).posterior.noise_dof[0])


def test_a_classifier_posterior_takes_no_noise_dof():
    net = qn.Network([2, 1], output_activation="sigmoid", loss="binary_crossentropy", seed=0)
    p = Posterior(covariance=np.eye(net.n_params), beta=1.0, alpha=np.ones(1), group_names=["all parameters"],
                  gamma=1.0, log_evidence=0.0, ard=False, noise_dof=np.array([3.0]))
    with pytest.raises(ValueError, match="noise_dof applies to regressors only"):
        p.check(net, classifier=True)


def test_cli_predict_interval_and_info(tmp_path, capsys):
    X, y = _heavy(200)
    data = tmp_path / "d.csv"
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,y", comments="")
    assert cli.main(["train", str(data), "--target", "y", "--out", str(tmp_path / "m.qnet")]) == 0
    trained = capsys.readouterr().out
    dof = qio.load_model(tmp_path / "m.qnet").posterior.noise_dof[0]
    assert f"predictive distribution: Student-t, {dof:.3g} degrees of freedom\n" in trained
    assert cli.main(["predict", str(tmp_path / "m.qnet"), str(data), "--interval", "0.9", "--std"]) == 0
    rows = list(csv.reader(textio.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["y", "y_std", "y_lower", "y_upper"]
    got = np.array(rows[1:], dtype=float)
    d = qio.load_model(tmp_path / "m.qnet").predict_distribution(X)
    lower, upper = d.interval(0.9)
    np.testing.assert_array_equal(got, np.column_stack([d.mean, d.std, lower, upper]))
    assert cli.main(["info", str(tmp_path / "m.qnet")]) == 0
    dof = qio.load_model(tmp_path / "m.qnet").posterior.noise_dof[0]
    assert f"Student-t, {dof:.3g} degrees of freedom" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["predict", str(tmp_path / "m.qnet"), str(data), "--interval", "1"])
    assert "expected a number in (0, 1), got '1'" in capsys.readouterr().err
    assert cli.main(["train", str(data), "--target", "y", "--noise", "gaussian", "--out", str(tmp_path / "g.qnet")]) == 0
    assert np.isinf(qio.load_model(tmp_path / "g.qnet").posterior.dofs(1)[0])


def test_the_settings_carry_the_noise_shape():
    assert fitting.Settings().noise == "auto" and fitting.NOISE_SHAPES == ("auto", "gaussian")
    with pytest.raises(ValueError, match="noise must be one of"):
        fitting.Settings(noise=None)


@pytest.mark.parametrize("nu", [1e6, 1e8, 1e12, 1e16, 1e300])
def test_unit_log_density_stays_right_for_many_degrees_of_freedom(nu):
    """A file may hold any finite dof > 2; log Gamma((nu + 1) / 2) - log Gamma(nu / 2) taken as a
    difference of two huge numbers lost everything beyond 1e12 (18 nats off at 1e16)."""
    z = np.linspace(-8, 8, 33)
    np.testing.assert_allclose(predictive.unit_log_density(z, nu), _scipy_unit(nu).logpdf(z), rtol=1e-9, atol=1e-9)
    # and tends to the standard normal's (their difference is about (z^4 - 2 z^2 - 1) / (4 nu))
    np.testing.assert_allclose(predictive.unit_log_density(z, nu), stats.norm.logpdf(z), rtol=0, atol=z.max() ** 4 / nu + 1e-12)


def test_a_model_file_with_a_huge_finite_dof_gives_the_gaussian_density(tmp_path):
    X, y = _heavy()
    reg = QuasiNetRegressor(random_state=0, committee=1, hidden_layer_sizes=(2,), restarts=0).fit(X, y)
    reg.save(tmp_path / "t.qnet")
    h = _header(tmp_path / "t.qnet")
    h["posterior"]["noise_dof"] = [1e16]
    model = qio.load_model(_with_header(tmp_path / "t.qnet", tmp_path / "big.qnet", h))
    d = model.predict_distribution(X[:20])
    np.testing.assert_allclose(d.logpdf(y[:20, None]), stats.norm(d.mean, d.std).logpdf(y[:20, None]), atol=1e-9)


def test_predictive_refuses_dof_and_moments_that_do_not_fit():
    """Before, a dof of the wrong length was broadcast (one output's shape used for all) or
    indexed out of range, and a dof <= 2 or NaN gave NaN densities and quantiles."""
    means, variances, _ = _mixture()
    for bad, error, message in [([3.0], ValueError, r"noise_dof must hold 2 numbers"),
                                ([3.0, 4.0, 5.0], ValueError, r"noise_dof must hold 2 numbers"),
                                ([1.5, np.inf], ValueError, "numbers > 2"), ([np.nan, 3.0], ValueError, "numbers > 2"),
                                ("ab", TypeError, "noise_dof must be numbers")]:
        with pytest.raises(error, match=message):
            predictive.Predictive(means, _sd(variances), bad)
    with pytest.raises(ValueError, match="needs at least one member"):
        predictive.Predictive([], [], [3.0, 3.0])
    with pytest.raises(ValueError, match=r"each member's means and standard deviations must have shape \(3, 2\), got "
                                         r"\(3, 3\)"):
        predictive.Predictive(means, [np.sqrt(variances[0]), np.ones((3, 3))], [3.0, 3.0])
    with pytest.raises(ValueError, match=r"each member's means and standard deviations must have shape \(3, 2\), got "
                                         r"\(2, 2\)"):
        predictive.Predictive([means[0], means[1][:2]], _sd(variances), [3.0, 3.0])
    with pytest.raises(ValueError, match="means and standard deviations must be finite"):
        predictive.Predictive(means, [np.sqrt(variances[0]), np.full((3, 2), np.nan)], [3.0, 3.0])
    with pytest.raises(ValueError, match="standard deviations must be >= 0"):
        predictive.Predictive(means, [np.sqrt(variances[0]), -np.sqrt(variances[1])], [3.0, 3.0])
    with pytest.raises(ValueError, match="squeeze needs one output"):
        predictive.Predictive(means, _sd(variances), [3.0, 3.0], squeeze=True)
    X, y = _heavy()
    reg = QuasiNetRegressor(random_state=0, committee=1, hidden_layer_sizes=(2,), restarts=0).fit(X, y)
    reg.noise_dof_ = np.array([np.nan])
    with pytest.raises(ValueError, match="numbers > 2"):
        reg.predict_distribution(X)


def test_an_estimator_pickled_before_noise_dof_has_a_gaussian_predictive():
    X, y = _heavy()
    reg = QuasiNetRegressor(random_state=0, committee=1, hidden_layer_sizes=(2,), restarts=0).fit(X, y)
    del reg.noise_dof_  # as an older quasinet left it (AttributeError before)
    d = reg.predict_distribution(X[:5])
    assert np.all(np.isinf(d.dof))
    np.testing.assert_allclose(d.logpdf(y[:5]), stats.norm(d.mean, d.std).logpdf(y[:5]), rtol=1e-12)


def test_a_classifier_file_with_noise_dof_is_refused(tmp_path):
    X, y = _heavy()
    QuasiNetClassifier(hidden_layer_sizes=(2,), method="BR", random_state=0).fit(X, np.where(y > 0, "up", "down")).save(tmp_path / "c.qnet")
    h = _header(tmp_path / "c.qnet")
    for dof in ([None], [3.0]):
        h.update(version=7)
        h["posterior"]["noise_dof"] = dof
        with pytest.raises(ValueError, match="noise_dof applies to regressors only"):
            qio.load_model(_with_header(tmp_path / "c.qnet", tmp_path / "bad.qnet", h))


def test_a_br_fit_interrupted_before_any_posterior_says_so(tmp_path, monkeypatch, capsys):
    """It keeps its network and method 'BR' but has no posterior; the message said "needs a model
    trained by Bayesian regularisation ... this one was trained by BR"."""
    def interrupted(make_net, candidates, X, *args, **kwargs):
        raise fitting.FitInterrupted([], qn.Network([X.shape[1], 1], seed=0))

    monkeypatch.setattr(fitting, "search", interrupted)
    X, y = _heavy()
    with pytest.warns(UserWarning, match="interrupted"):
        reg = QuasiNetRegressor(method="BR", random_state=0).fit(X, y)
    assert reg.method_ == "BR" and not reg.members_ and reg.noise_dof_ is None
    message = "BR fit was interrupted before it had a posterior"
    for call in (lambda: reg.predict_distribution(X), lambda: reg.predict(X, return_std=True)):
        with pytest.raises(ValueError, match=message):
            call()
    reg.save(tmp_path / "m.qnet")
    model = qio.load_model(tmp_path / "m.qnet")
    for call in (lambda: model.predict_distribution(X), lambda: model.predict(X, return_std=True)):
        with pytest.raises(ValueError, match=message):
            call()
    data = tmp_path / "d.csv"
    np.savetxt(data, X, delimiter=",", header="x0,x1", comments="")  # the estimator's input names
    assert cli.main(["predict", str(tmp_path / "m.qnet"), str(data), "--interval", "0.9"]) == 1
    assert message in capsys.readouterr().err


def test_the_noise_fit_on_a_subset_of_rows_keeps_each_rows_weight(monkeypatch):
    """Above DOF_ROWS training rows the noise shape is fitted on a random subset: the rows
    passed are training rows (standardised) with their own weights."""
    seen = []
    fit = predictive.fit_noise_dof

    def spy(members, Xs, Ys, w=None):
        seen.append((Xs, Ys, w))
        return fit(members, Xs, Ys, w)

    monkeypatch.setattr(predictive, "fit_noise_dof", spy)
    monkeypatch.setattr(predictive, "DOF_ROWS", 60)
    X, y = _heavy(200)
    w = np.arange(1.0, 201.0)  # every row its own weight
    reg = QuasiNetRegressor(hidden_layer_sizes=(2,), committee=1, restarts=0, random_state=0).fit(X, y, w)
    (Xs, Ys, ws), = seen
    assert Xs.shape == (60, 2) and Ys.shape == (60, 1) and ws.shape == (60,)
    # Each row back in original units is one of X's (the nearest, to rounding), with its weight and target.
    index = np.argmin(np.abs((Xs * reg.x_scale_ + reg.x_mean_)[:, None, :] - X[None]).sum(axis=2), axis=1)
    np.testing.assert_allclose(Xs * reg.x_scale_ + reg.x_mean_, X[index], rtol=1e-12, atol=1e-12)
    assert len(set(index)) == 60
    np.testing.assert_array_equal(ws, w[index])
    np.testing.assert_allclose(Ys[:, 0] * reg.y_scale_[0] + reg.y_mean_[0], y[index], rtol=1e-12, atol=1e-12)


def test_fit_noise_dof_refuses_rows_and_weights_that_do_not_fit():
    """A (5, 2) target for a one-output network was broadcast against it and fitted; a negative
    weight was taken."""
    member = _fixed_member(1.0)
    X = np.zeros((5, 1))
    for Y in (np.zeros(5), np.zeros((4, 1)), np.zeros((5, 2))):
        with pytest.raises(ValueError, match=r"Xs and Ys must have shapes \(N, 1\) and \(N, 1\)"):
            predictive.fit_noise_dof([member], X, Y)
    with pytest.raises(ValueError, match=r"Xs and Ys must have shapes"):
        predictive.standardised_residuals([member], np.zeros((5, 2)), np.zeros((5, 1)))
    for w in (-np.ones(5), np.ones(4), np.full(5, np.nan)):
        with pytest.raises(ValueError, match="sample_weight must be 5 finite numbers >= 0"):
            predictive.fit_noise_dof([member], X, np.zeros((5, 1)), w)
    with pytest.raises(ValueError, match="members must hold at least one"):
        predictive.fit_noise_dof([], X, np.zeros((5, 1)))


def test_targets_of_any_scale_get_the_same_distribution_in_their_units():
    """The members' variances were squared into target units: 1e160 overflowed (FloatingPointError
    where predict(return_std=True) works) and 1e-160 underflowed to subnormals (densities and
    quantiles off in the fourth digit)."""
    X, y = _heavy(200)
    make = lambda: QuasiNetRegressor(hidden_layer_sizes=(2,), committee=1, restarts=0, random_state=0)  # noqa: E731
    ref = make().fit(X, y).predict_distribution(X[:5])
    for c in (1e-160, 1e160):
        d = make().fit(X, c * y).predict_distribution(X[:5])
        np.testing.assert_allclose(d.std / c, ref.std, rtol=1e-9)
        np.testing.assert_allclose(d.logpdf(c * y[:5]) + np.log(c), ref.logpdf(y[:5]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(d.cdf(c * y[:5]), ref.cdf(y[:5]), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d.interval(0.9)[1] / c, ref.interval(0.9)[1], rtol=1e-9)


def test_mixture_quantiles_at_a_large_offset_are_right_to_the_last_digits():
    """1e6 +- 1e-3: the bisection's 1e-12 of the members' spread is finer than the doubles there
    (it ran all 200 steps, ten times the work); it stops at a few units in the last place."""
    rng = np.random.default_rng(5)
    means = [1e6 + 1e-3 * rng.normal(size=(4, 1)) for _ in range(3)]
    variances = [np.full((4, 1), 1e-6) for _ in range(3)]
    d = predictive.Predictive(means, _sd(variances), [3.0])
    members = _scipy_members(means, variances, [3.0])
    for q in (0.05, 0.5, 0.99):
        got = d.ppf(q)
        for i in range(4):
            want = optimize.brentq(lambda v: np.mean([m.cdf(v) for m in members(i, 0)]) - q, 1e6 - 1, 1e6 + 1,
                                   xtol=1e-16, rtol=1e-15)
            assert abs(got[i, 0] - want) <= 8 * np.spacing(want), (q, i, got[i, 0] - want)


def test_cli_info_names_each_targets_shape(tmp_path, capsys):
    X, Y = _two_noises(600, 0)
    reg = QuasiNetRegressor(hidden_layer_sizes=(3,), committee=1, random_state=0).fit(X, Y)
    assert np.isinf(reg.noise_dof_[0]) and np.isfinite(reg.noise_dof_[1])
    reg.save(tmp_path / "m.qnet")
    capsys.readouterr()
    assert cli.main(["info", str(tmp_path / "m.qnet")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("noise shape"))
    assert line.split(None, 2)[2] == f"y0 Gaussian; y1 Student-t, {reg.noise_dof_[1]:.3g} degrees of freedom"


@pytest.mark.slow
def test_the_noise_fit_on_dask_rows_is_numpys():
    """The Dask path (quasinet.fitting computes the rows the noise fit needs) gives the NumPy fit's
    noise shape, per target, with sample weights; on Dask's local scheduler (tests/test_dask.py
    runs the cluster)."""
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X, Y = _two_noises(400, 2)
    w = np.random.default_rng(2).uniform(0.5, 2.0, 400)
    make = lambda: QuasiNetRegressor(hidden_layer_sizes=(2,), committee=1, restarts=0, random_state=0)  # noqa: E731
    a = make().fit(X, Y, w)
    with dask.config.set(scheduler="synchronous"):
        b = make().fit(da.from_array(X, chunks=(100, 2)), da.from_array(Y, chunks=(100, 2)), da.from_array(w, chunks=100))
    assert np.isinf(a.noise_dof_[0]) and np.isfinite(a.noise_dof_[1])
    np.testing.assert_allclose(b.noise_dof_, a.noise_dof_, rtol=1e-3)
    np.testing.assert_allclose(b.predict_distribution(X[:5]).interval(0.9), a.predict_distribution(X[:5]).interval(0.9),
                               rtol=1e-3)


def _fd_member_moments(net, cov, beta, Xs, h=1e-6):
    """A member's predictive mean and variance from a central-difference Jacobian of its outputs."""
    n_out = net.layer_sizes[-1]
    G = np.empty((Xs.shape[0], n_out, net.n_params))
    for j in range(net.n_params):
        up, down = net.copy(), net.copy()
        up.params[j] += h
        down.params[j] -= h
        G[:, :, j] = (up.forward(Xs) - down.forward(Xs)) / (2 * h)
    return net.forward(Xs), np.einsum("nkp,pq,nkq->nk", G, cov, G) + 1.0 / np.broadcast_to(beta, (n_out,))


def test_a_committees_distribution_in_far_target_units_agrees_with_scipy():
    """End to end: a committee, two targets (one Student-t) in units far from 1 with large
    offsets; each member's moments from a finite-difference Jacobian, scipy's distributions."""
    rng = np.random.default_rng(1)
    X, Y = _two_noises(300, 4)
    Y = np.column_stack([-5 + 1e-3 * Y[:, 0], 1e6 + 1e4 * Y[:, 1]])
    reg = QuasiNetRegressor(hidden_layer_sizes=(2,), committee=3, restarts=2, random_state=0).fit(X, Y)
    assert len(reg.members_) > 1 and np.isinf(reg.noise_dof_[0]) and np.isfinite(reg.noise_dof_[1])
    Xt = rng.uniform(-2, 2, (4, 2))
    d = reg.predict_distribution(Xt)
    moments = [_fd_member_moments(net, cov, beta, (Xt - reg.x_mean_) / reg.x_scale_) for net, cov, beta in reg.members_]
    means = [m * reg.y_scale_ + reg.y_mean_ for m, _ in moments]
    variances = [v * reg.y_scale_ ** 2 for _, v in moments]
    members = _scipy_members(means, variances, reg.noise_dof_)
    Yt = d.mean + np.array([[1.0], [-2.0], [0.3], [4.0]]) * d.std
    logpdf, cdf, ppf = d.logpdf(Yt), d.cdf(Yt), d.ppf(0.05)
    for i in range(4):
        for k in range(2):
            ms = members(i, k)
            assert logpdf[i, k] == pytest.approx(np.log(np.mean([m.pdf(Yt[i, k]) for m in ms])), abs=1e-6)
            assert cdf[i, k] == pytest.approx(np.mean([m.cdf(Yt[i, k]) for m in ms]), abs=1e-8)
            lo, hi = min(m.ppf(0.05) for m in ms), max(m.ppf(0.05) for m in ms)
            want = optimize.brentq(lambda v: np.mean([m.cdf(v) for m in ms]) - 0.05, lo - 1e-9 * abs(lo),
                                   hi + 1e-9 * abs(hi), xtol=1e-14 * abs(hi), rtol=1e-15)
            assert ppf[i, k] == pytest.approx(want, abs=1e-7 * reg.y_scale_[k])
