"""Review of the committee default: behaviour a committee must share with one network."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")


def test_a_committee_predicts_a_dask_array_lazily_as_one_network_does():
    # docs/guide/dask.md: "predict returns lazy dask arrays". One network's predict maps its
    # forward pass over the blocks; the default regressor averages a committee, whose predict
    # must stay lazy too (an out-of-core X would otherwise be read whole into memory).
    from quasinet.sklearn import QuasiNetRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.standard_normal(300)
    reg = QuasiNetRegressor(random_state=0, max_iter=30).fit(X, y)
    assert len(reg.members_) > 1  # the default committee
    Xd = da.from_array(X, chunks=(100, 3))
    pred = reg.predict(Xd)
    assert isinstance(pred, da.Array) and pred.shape == (300,)
    np.testing.assert_allclose(pred.compute(), reg.predict(X), rtol=1e-12, atol=1e-12)


def _held_out(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, (60, 1))
    y = np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=60)
    return X, y


def _scaled(r, X, y, rows):
    return (X[rows] - r.x_mean) / r.x_scale, ((y[rows] - r.y_mean) / r.y_scale)[:, None]


def test_the_validation_loss_is_the_fitted_networks_cost_on_the_held_out_rows():
    # FitResult.validation_loss (the CLI's "validation cost", the model file's info) is the data
    # term of the fitted model on the held-out rows: 0.5 mean squared error for "mse". One
    # network (committee=1) so that there is no question which prediction it scores.
    from quasinet import fitting

    X, y = _held_out()
    r = fitting.fit(X, y, settings=fitting.Settings(holdout=0.3, committee=1), random_state=0)
    Xs, Ys = _scaled(r, X, y, r.validation_mask)
    want = 0.5 * np.mean((r.network.forward(Xs) - Ys) ** 2)
    assert r.validation_loss == pytest.approx(want, rel=1e-12)


def test_a_committees_validation_loss_scores_the_committees_prediction():
    # The CLI reports R^2 on the held-out part from the committee's mean (io.Model.predict);
    # the validation cost beside it should score the same prediction, not the first member's.
    from quasinet import fitting

    X, y = _held_out()
    r = fitting.fit(X, y, settings=fitting.Settings(holdout=0.3), random_state=0)
    assert len(r.members) > 1
    Xs, Ys = _scaled(r, X, y, r.validation_mask)
    mean = np.mean([m.forward(Xs) for m, _, _ in r.members], axis=0)
    assert r.validation_loss == pytest.approx(0.5 * np.mean((mean - Ys) ** 2), rel=1e-12)


def test_an_interrupted_refit_keeps_the_committee_that_the_scaled_window_chose(monkeypatch):
    # After a subset search the committee is chosen with the evidence gaps scaled to all rows
    # (fitting._refit_all_rows). When Ctrl-C stops the refit the subset's models stand; their
    # committee should still be the one the scaled window chose, not one re-chosen with the
    # subset's unscaled gaps (which can average networks the uninterrupted fit would never keep).
    from quasinet import fitting

    rng = np.random.default_rng(7)
    X = rng.uniform(-2, 2, (700, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(700)
    monkeypatch.setattr(fitting, "SEARCH_ROWS", 150)
    settings = fitting.Settings(restarts=0, max_iter=60)
    monkeypatch.setattr(fitting, "COMMITTEE_WINDOW", 1e9)
    gaps = [c[2] for c in fitting.fit(X, y, settings=settings, random_state=0).evidence_candidates[:3]]
    gaps = [gaps[0] - g for g in gaps]
    assert 0 < gaps[1]
    # A window the second network's subset gap fits in, and its gap scaled to 700 rows does not.
    monkeypatch.setattr(fitting, "COMMITTEE_WINDOW", gaps[1] * 2)
    assert gaps[1] * 700 / 150 > gaps[1] * 2

    def interrupted(fits, rows, settings, cycles=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "_refit", interrupted)
    r = fitting.fit(X, y, settings=settings, random_state=0)
    assert r.interrupted
    assert len(r.members) == 1
