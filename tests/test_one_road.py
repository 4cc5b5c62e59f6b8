"""One road from data to a model: the estimators and the command line fit through quasinet.fitting
and give the same model from the same data (the Dask side is in test_dask.py)."""

import csv
import re

import numpy as np
import pytest

from quasinet import cli, fitting
from quasinet import io as qio
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """80 rows: inputs a, b; a noisy target y; a text label; a positive weight column."""
    rng = np.random.default_rng(11)
    X = rng.uniform(-2, 2, (80, 2))
    y = np.sin(2 * X[:, 0]) + 0.3 * X[:, 1] + 0.1 * rng.standard_normal(80)
    labels = np.where(X[:, 0] * X[:, 1] + 0.3 * rng.standard_normal(80) > 0, "same", "other")
    w = rng.integers(1, 4, 80).astype(float)
    path = tmp_path_factory.mktemp("road") / "table.csv"
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["a", "b", "y", "label", "w"])
        for r, t, lab, wi in zip(X, y, labels, w):
            out.writerow([repr(float(r[0])), repr(float(r[1])), repr(float(t)), lab, repr(float(wi))])
    return path, X, y, labels, w


def _cli_model(tmp_path, path, *flags):
    out = tmp_path / "m.qnet"
    assert cli.main(["train", str(path), "--inputs", "a,b", "--out", str(out), "--progress", "never", *flags]) == 0
    return qio.load_model(out)


def test_cli_and_regressor_defaults_give_the_same_model(tmp_path, table, capsys):
    path, X, y, _, _ = table
    est = QuasiNetRegressor(random_state=5).fit(X, y)
    model = _cli_model(tmp_path, path, "--target", "y", "--seed", "5")
    assert est.method_ == "BR" and model.method == "BR" and model.posterior is not None
    p_cli, s_cli = model.predict(X, return_std=True)
    p_est, s_est = est.predict(X, return_std=True)
    np.testing.assert_allclose(p_cli[:, 0], p_est, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s_cli[:, 0], s_est, rtol=1e-12, atol=1e-12)
    assert tuple(model.net.layer_sizes[1:-1]) == est.hidden_layer_sizes_
    # ... and a different seed is a different fit (the test would notice a seed that is ignored)
    other = QuasiNetRegressor(random_state=6).fit(X, y)
    assert np.max(np.abs(other.predict(X) - p_est)) > 1e-9


def test_cli_and_classifier_defaults_give_the_same_model(tmp_path, table, capsys):
    path, X, _, labels, _ = table
    est = QuasiNetClassifier(random_state=1).fit(X, labels)
    model = _cli_model(tmp_path, path, "--target", "label", "--seed", "1")  # text labels: a classifier
    assert model.classes == list(est.classes_) == ["other", "same"]
    assert not model.moderated and not est.moderate and est.method_ == "BR"  # the default: the network's own
    np.testing.assert_allclose(model.predict_proba(X), est.predict_proba(X), rtol=1e-12, atol=1e-12)


def test_cli_and_estimator_with_early_stopping_and_sample_weights(tmp_path, table, capsys):
    path, X, y, _, w = table
    kw = dict(hidden_layer_sizes=(5,), early_stopping=True, validation_fraction=0.25, n_iter_no_change=4,
              max_iter=80, random_state=3)
    est = QuasiNetRegressor(**kw).fit(X, y)
    model = _cli_model(tmp_path, path, "--target", "y", "--hidden", "5", "--patience", "4", "--val-fraction",
                       "0.25", "--max-iter", "80", "--seed", "3")
    assert est.method_ == model.method == "L-BFGS-B" and est.stopped_early_ == model.info["stopped_early"]
    np.testing.assert_allclose(model.predict(X)[:, 0], est.predict(X), rtol=1e-12, atol=1e-12)
    assert model.info["validation_rows"] == 20

    est = QuasiNetRegressor(hidden_layer_sizes=(3,), restarts=0, max_iter=30, random_state=2).fit(X, y, w)
    model = _cli_model(tmp_path, path, "--target", "y", "--inputs", "a,b", "--weight", "w", "--hidden", "3",
                       "--restarts", "0", "--max-iter", "30", "--seed", "2")
    np.testing.assert_allclose(model.predict(X, return_std=True)[1][:, 0], est.predict(X, return_std=True)[1],
                               rtol=1e-12, atol=1e-12)
    # Integer weights are repeated rows: the same model from the table with its rows repeated.
    rep = np.repeat(np.arange(80), w.astype(int))
    again = QuasiNetRegressor(hidden_layer_sizes=(3,), restarts=0, max_iter=30, random_state=2).fit(X[rep], y[rep])
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


def test_cli_help_shows_the_estimators_defaults():
    defaults = QuasiNetRegressor().get_params()
    text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    args = cli.build_parser().parse_args(["train", "d.csv", "--target", "y"])
    settings = cli.settings_from_args(args, classifier=False)
    reference = fitting.Settings(hidden=defaults["hidden_layer_sizes"], method=defaults["method"],
                                 ard=defaults["ard"], l2=defaults["l2"], max_iter=defaults["max_iter"],
                                 restarts=defaults["restarts"], activation=defaults["activation"],
                                 loss=defaults["loss"], dtype=defaults["dtype"], tol=defaults["tol"])
    assert settings == reference
    for flag, value in (("method", "auto"), ("hidden", "auto"), ("ard", "auto"), ("l2", "1e-4"),
                        ("activation", "tanh"), ("max-iter", "500")):
        assert re.search(rf"--{flag}\b.*?default {re.escape(value)}", text), flag


def test_holdout_mask_is_stratified_and_sized():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    mask = fitting.holdout_mask(100, 0.2, rng, labels)
    assert mask.sum() == 20
    assert [int(mask[labels == c].sum()) for c in range(3)] == [10, 6, 4]
    plain = fitting.holdout_mask(100, 0.15, np.random.default_rng(0))
    assert plain.sum() == 15
    with pytest.raises(ValueError, match="leaves no validation or no training rows"):
        fitting.holdout_mask(1, 0.5, rng)


def test_many_rows_search_a_subset_and_refit_on_every_row(monkeypatch):
    """Above SEARCH_ROWS training rows the model search sees a random subset; the chosen model is
    refitted by BR on every row, so its posterior is the whole data's (narrower than the subset's)."""
    rng = np.random.default_rng(5)
    X = rng.uniform(-2, 2, (600, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(600)
    Xt = rng.uniform(-2, 2, (400, 2))
    yt = np.sin(2 * Xt[:, 0]) + 0.5 * Xt[:, 1]
    settings = fitting.Settings(restarts=0, max_iter=60)
    full = fitting.fit(X, y, settings=settings, random_state=0)
    monkeypatch.setattr(fitting, "SEARCH_ROWS", 150)
    sub = fitting.fit(X, y, settings=settings, random_state=0)
    only_subset = fitting.fit(X[:150], y[:150], settings=settings, random_state=0)
    assert sub.n_train == 600 and sub.method == "BR" and sub.members
    # the refit is an evidence fit on all 600 rows: its gamma and noise come from them
    assert sub.evidence_history and abs(np.log(sub.beta / full.beta)) < 0.3
    mse = lambda r: float(np.mean((r.to_model().predict(Xt)[:, 0] - yt) ** 2))  # noqa: E731
    assert mse(sub) < 1.5 * mse(full) + 1e-3

    def weights_variance(r):  # the predictive variance less the noise: what more rows narrow
        m = r.to_model()
        return float(np.mean(m.predict(Xt, return_std=True)[1] ** 2) - m.y_scale[0] ** 2 / m.posterior.beta)

    assert 0 < weights_variance(sub) < weights_variance(only_subset)


def test_subset_choice_and_its_wider_rival_are_decided_on_more_rows(monkeypatch):
    """After a subset search the chosen model and the best wider one both take DUEL_CYCLES
    evidence cycles on up to DUEL_ROWS rows; the higher log model evidence there wins, and is
    refitted on every row."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-2, 2, (700, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(700)
    monkeypatch.setattr(fitting, "SEARCH_ROWS", 150)
    monkeypatch.setattr(fitting, "DUEL_ROWS", 400)
    calls = []
    refit = fitting._refit

    def recording(fits, rows, settings, cycles=None):
        out = refit(fits, rows, settings, cycles)
        calls.append(([f[1].layer_sizes[1:-1] for f in fits], rows.n_rows,
                      [(f[1].layer_sizes[1:-1], f[0]) for f in out], max(len(f[2].history) for f in out)))
        return out

    monkeypatch.setattr(fitting, "_refit", recording)
    r = fitting.fit(X, y, settings=fitting.Settings(restarts=0, max_iter=60, committee=1), random_state=0)
    subset_best = r.evidence_candidates[0][0]
    assert len(calls) == 2  # the duel on 400 rows, then the winner on all 700
    (pair, duel_rows, ranked, duel_cycles), (final, all_rows, _, _) = calls
    assert duel_rows == 400 and all_rows == 700 and 0 < duel_cycles <= fitting.DUEL_CYCLES
    assert pair[0] == subset_best and sum(pair[1]) > sum(subset_best)
    assert ranked[0][1] >= ranked[1][1] and final == [ranked[0][0]]
    assert tuple(r.network.layer_sizes[1:-1]) == tuple(ranked[0][0])


def test_a_committee_after_a_subset_search_refits_only_members_within_the_scaled_window(monkeypatch):
    """A log evidence is a sum over the rows: a gap of g nats on the subset is about g * N / n on
    all N rows, so only the search's networks within COMMITTEE_WINDOW after that scaling are
    refitted, and the window applies again to the refitted evidence."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-2, 2, (700, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(700)
    monkeypatch.setattr(fitting, "SEARCH_ROWS", 150)
    monkeypatch.setattr(fitting, "COMMITTEE_WINDOW", 1e9)  # every one of the best three is close enough
    calls = []
    refit = fitting._refit

    def recording(fits, rows, settings, cycles=None):
        out = refit(fits, rows, settings, cycles)
        calls.append((len(fits), rows.n_rows, cycles))
        return out

    monkeypatch.setattr(fitting, "_refit", recording)
    r = fitting.fit(X, y, settings=fitting.Settings(restarts=0, max_iter=60), random_state=0)
    assert calls == [(3, 700, None)] and len(r.members) == 3  # no duel: the three refitted on all rows
    gaps = [r.evidence_candidates[0][2] - c[2] for c in r.evidence_candidates[:3]]
    # A window between the second's and the third's scaled gap keeps two, refitted, then judged again.
    monkeypatch.setattr(fitting, "COMMITTEE_WINDOW", (gaps[1] + gaps[2]) / 2 * 700 / 150)
    calls.clear()
    r = fitting.fit(X, y, settings=fitting.Settings(restarts=0, max_iter=60), random_state=0)
    assert calls[0] == (2, 700, None)
    assert 1 <= len(r.members) <= 2


def test_inner_maxiter_option_is_checked_and_bounds_the_first_cycle():
    import quasinet as qn
    from quasinet import evidence

    assert evidence.check_options({"inner_maxiter": [3, 2]})["inner_maxiter"] == (3, 2)
    for bad in ((0, 2), (1,), "10", (1.5, 2), (True, 2)):
        with pytest.raises(ValueError, match="option inner_maxiter must be two ints >= 1"):
            evidence.check_options({"inner_maxiter": bad})
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (80, 1))
    y = np.sin(2 * X) + 0.1 * rng.standard_normal((80, 1))
    net = qn.Network([1, 6, 1], output_activation="identity", seed=0)
    res = qn.Trainer(net, method="BR", maxiter=1, options={"inner_maxiter": (3, 3)}).train(X, y)
    assert res.history[0]["iterations"] <= 3  # one cycle of at most 3 Levenberg-Marquardt steps
