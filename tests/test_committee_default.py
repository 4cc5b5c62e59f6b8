"""The default committee: which of the search's networks a BR fit averages."""

import numpy as np
import pytest

from quasinet import fitting
from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor


def _fits(evidences):
    return [(e, f"net{k}", None) for k, e in enumerate(evidences)]


def test_committee_of_keeps_the_best_within_the_window():
    reg, clf = fitting.Settings(), fitting.Settings(classifier=True, loss="auto")
    w = fitting.COMMITTEE_WINDOW
    fits = _fits([0.0, -1.0, -w, -w - 1e-9, -300.0])
    assert [f[1] for f in fitting.committee_of(fits, reg)] == ["net0", "net1", "net2"]  # DEFAULT_COMMITTEE = 3
    assert fitting.DEFAULT_COMMITTEE == 3
    assert [f[1] for f in fitting.committee_of(_fits([0.0, -w - 1e-9, -w - 2]), reg)] == ["net0"]
    assert [f[1] for f in fitting.committee_of(fits, clf)] == ["net0"]  # a classifier: one network
    five = fitting.Settings(committee=5)
    assert [f[1] for f in fitting.committee_of(fits, five)] == ["net0", "net1", "net2"]  # the window still holds
    # Gaps on a subset scaled to all the rows: 1 nat on 2,000 rows is 50 on 100,000.
    assert [f[1] for f in fitting.committee_of(fits, reg, scale=50.0)] == ["net0"]
    assert [f[1] for f in fitting.committee_of(fits, reg, scale=w / 1.0)] == ["net0", "net1"]


def test_the_default_regressor_averages_close_rivals_and_drops_far_ones():
    rng = np.random.default_rng(0)
    # A smooth 1-D curve on few rows: the widths' evidences lie close together.
    X = rng.uniform(-3, 3, (40, 1))
    y = np.sin(2 * X[:, 0]) + 0.3 * rng.normal(size=40)
    reg = QuasiNetRegressor(random_state=0).fit(X, y)
    ev = [c[2] for c in reg.evidence_candidates_]
    kept = [e for e in ev[:3] if ev[0] - e <= fitting.COMMITTEE_WINDOW]
    assert len(reg.members_) == len(kept) >= 2
    Xs = (X - reg.x_mean_) / reg.x_scale_
    mean = np.mean([m.forward(Xs) for m, _, _ in reg.members_], axis=0).ravel() * reg.y_scale_ + reg.y_mean_
    np.testing.assert_allclose(reg.predict(X), mean, rtol=1e-13)
    one = QuasiNetRegressor(committee=1, random_state=0).fit(X, y)
    assert len(one.members_) == 1 and one.network_.layer_sizes == reg.network_.layer_sizes
    # Friedman #1 on 300 rows: the best width's evidence is far ahead of the narrow ones.
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(300, noise=1.0, random_state=0)
    reg = QuasiNetRegressor(random_state=0).fit(X, y)
    ev = [c[2] for c in reg.evidence_candidates_]
    assert all(ev[0] - e <= fitting.COMMITTEE_WINDOW for e in ev[: len(reg.members_)])
    assert len(reg.members_) == 3 or ev[len(reg.members_)] < ev[0] - fitting.COMMITTEE_WINDOW


def test_classifier_defaults_are_one_network_and_its_own_probabilities():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 2))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=120) > 0, "a", "b")
    clf = QuasiNetClassifier(random_state=0).fit(X, y)
    assert clf.method_ == "BR" and not clf.moderate and len(clf.members_) == 1
    own = clf.network_.forward((X - clf.x_mean_) / clf.x_scale_)[:, 0]
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], own, rtol=1e-14)


@pytest.mark.parametrize("committee", [0, -1, 1.5, "3"])
def test_committee_is_checked(committee):
    with pytest.raises((TypeError, ValueError), match="committee"):
        fitting.Settings(committee=committee)
