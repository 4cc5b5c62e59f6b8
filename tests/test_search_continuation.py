"""The BR model search's early-stopped fits and their continuation (fitting._fit_bayes): what the
kept model reports, and the cycle-limit warning, on the paths where the search's fit is kept."""

import numpy as np
import pytest

from quasinet import fitting


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
    return X, y


def _cycle_limit(result):
    return [m for k, m in result.warnings if k == "convergence" and "cycle limit" in m]


def _worse(refit):
    """_refit whose continuations all score far below the search's fits: the search's are kept."""

    def worse(fits, rows, settings, cycles=None):
        return [(e - 1e6, m, r) for e, m, r in refit(fits, rows, settings, cycles)]

    return worse


def test_a_search_fit_stopped_by_search_cycles_is_no_cycle_limit_warning(monkeypatch):
    # The search stops its fits after SEARCH_CYCLES on purpose (status 1, "the cycle limit was
    # reached"); when such a fit is the one kept (its continuation scored lower), max_iter was
    # never reached and the warning "BR stopped on its cycle limit (max_iter=500)" is untrue.
    monkeypatch.setattr(fitting, "SEARCH_CYCLES", 3)
    monkeypatch.setattr(fitting, "_refit", _worse(fitting._refit))
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1), random_state=0)
    assert r.evidence_cycles == 3 and r.log_model_evidence == r.evidence_candidates[0][2]  # the search's fit
    assert _cycle_limit(r) == []


def test_an_interrupted_continuation_is_no_cycle_limit_warning(monkeypatch):
    # Ctrl-C during the continuation: the search's fits stand, stopped by SEARCH_CYCLES, not max_iter.
    monkeypatch.setattr(fitting, "SEARCH_CYCLES", 3)

    def interrupted(fits, rows, settings, cycles=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "_refit", interrupted)
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1), random_state=0)
    assert r.interrupted and r.evidence_cycles == 3
    assert _cycle_limit(r) == []


@pytest.mark.parametrize("keep", ["search", "continuation"])
def test_max_iter_below_search_cycles_still_warns(monkeypatch, keep):
    # max_iter=2 < SEARCH_CYCLES: the search's fits and the continuation both stop on max_iter,
    # whichever is kept, and the warning names it.
    if keep == "search":
        monkeypatch.setattr(fitting, "_refit", _worse(fitting._refit))
    X, y = _data()
    r = fitting.fit(X, y, settings=fitting.Settings(hidden=(2,), committee=1, max_iter=2), random_state=0)
    assert r.evidence_cycles == 2
    assert _cycle_limit(r) == ["BR stopped on its cycle limit (max_iter=2) before the evidence settled; raise max_iter"]
